"""Starting and stopping the UIs: the environment they get and stopping every process they started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pipelines.config import load_config
from pipelines.flows.runner import PLUGINS_FOLDER, airflow_env
from pipelines.flows.ui import _group_members, _pid_state, airflow_password, read_ui, state_file, stop_ui


def test_airflow_gets_the_virtualenv_on_path_and_the_herald_plugin(tmp_path: Path) -> None:
    cfg = load_config(home=tmp_path)
    env = airflow_env(cfg)
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert (Path(env["PATH"].split(os.pathsep)[0]) / "airflow").exists()
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(PLUGINS_FOLDER)
    assert (PLUGINS_FOLDER / "herald_view.py").is_file()
    assert env["HERALD_HOME"] == str(tmp_path)


def test_the_login_is_created_once_and_kept(tmp_path: Path) -> None:
    cfg = load_config(home=tmp_path)
    first = airflow_password(cfg)
    assert len(first) >= 12 and airflow_password(cfg) == first
    stored = json.loads((cfg.airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
    assert stored == {"admin": first}


def test_stopping_a_ui_ends_every_process_of_its_group(tmp_path: Path) -> None:
    cfg = load_config(home=tmp_path)
    # A leader with a child, as `airflow api-server` has its workers.
    leader = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300; wait"], start_new_session=True)
    time.sleep(0.3)
    children = subprocess.run(["pgrep", "-g", str(leader.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) >= 2
    record = {
        "name": "mlflow",
        "pgid": leader.pid,
        "pids": [leader.pid],
        "url": "http://127.0.0.1:1",
        "login": "",
        "log": "",
    }
    state_file(cfg, "mlflow").parent.mkdir(parents=True)
    state_file(cfg, "mlflow").write_text(json.dumps(record))
    assert read_ui(cfg, "mlflow") is not None
    stopped = stop_ui(cfg, "mlflow", grace_s=5)
    leader.wait(timeout=5)
    assert stopped is not None and stopped.pgid == leader.pid
    # Zombies (exited, waiting for a parent that never reaps in a container) are not running processes.
    running = [p for p in _group_members(leader.pid) if _pid_state(p) not in ("Z", None)]
    assert running == []
    assert not state_file(cfg, "mlflow").exists() and read_ui(cfg, "mlflow") is None
