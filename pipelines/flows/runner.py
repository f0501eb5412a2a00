"""Run Herald's DAGs through a local Airflow (SQLite metadata under HERALD_HOME) from the CLI and tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pipelines.config import REPO_ROOT, HeraldConfig
from pipelines.errors import HeraldError

DAG_IDS = ("herald_training", "herald_scoring", "herald_monitoring")  # the synthetic world's flow, in order
HILLSTROM_DAG_ID = "herald_hillstrom"  # on demand, real data
# ``airflow dags test`` wrapped so each task's log lands where the Airflow UI reads it (see the file).
DAGS_TEST = REPO_ROOT / "infra" / "airflow" / "dags_test.py"
# The Herald view inside the Airflow UI (an Airflow 3 plugin).
PLUGINS_FOLDER = REPO_ROOT / "infra" / "airflow" / "plugins"
_MARKER = re.compile(r"^\[herald\] task (\S+) (started|finished: .*)$")


class DagRunFailed(HeraldError):
    """A DAG run ended in a state other than success; the log tail says which task and why."""


def airflow_env(cfg: HeraldConfig) -> dict[str, str]:
    """Environment for the ``airflow`` CLI: Herald's DAG and plugin folders, SQLite metadata, no examples.

    The virtualenv's ``bin/`` goes first on PATH: ``airflow standalone`` and the executors start
    further ``airflow`` processes by name, which die with FileNotFoundError when it is missing.
    """
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        {
            "PATH": os.pathsep.join(p for p in (venv_bin, env.get("PATH", "")) if p),
            "AIRFLOW_HOME": str(cfg.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": env.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
            "HERALD_HOME": str(cfg.home),
            # DAG files import their shared defaults from the DAG folder; Airflow's processors put it on
            # sys.path, but not every CLI command does, so put it there explicitly.
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT / "dags"), str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
            ),
        }
    )
    return env


def airflow_bin() -> str:
    """The ``airflow`` executable beside this interpreter (the virtualenv's), else the one on PATH."""
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else (shutil.which("airflow") or "airflow")


def migrate(cfg: HeraldConfig) -> None:
    """Create or upgrade the Airflow metadata database (idempotent)."""
    cfg.airflow_home.mkdir(parents=True, exist_ok=True)
    _run([airflow_bin(), "db", "migrate"], cfg, "airflow db migrate")


def run_dag(
    cfg: HeraldConfig,
    dag_id: str,
    log_path: Path | None = None,
    *,
    conf: dict[str, object] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Run one DAG end to end with ``airflow dags test`` and fail loudly if any task failed.

    Each task's log is written where the Airflow UI reads it (``infra/airflow/dags_test.py``); the
    whole run's output goes to ``log_path`` (default ``reports/airflow/<dag_id>.log``). ``conf``
    becomes the DAG run's conf (e.g. ``{"as_of": "…"}`` to stand the run at another instant);
    ``progress`` is called with "task X started" / "task X finished: success in N s" as they happen.
    """
    if dag_id not in (*DAG_IDS, HILLSTROM_DAG_ID):
        raise HeraldError(f"unknown DAG {dag_id!r}; Herald has {', '.join((*DAG_IDS, HILLSTROM_DAG_ID))}")
    log_path = log_path or cfg.reports_dir / "airflow" / f"{dag_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(DAGS_TEST), dag_id, *(["--conf", json.dumps(conf)] if conf else [])]
    env = airflow_env(cfg)
    # Task logs in the UI should say what the task did, not only its warnings.
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        try:
            _follow(log_path, proc, progress)
        except BaseException:  # Ctrl-C or a failing callback: never leave the DAG run going on its own
            proc.terminate()
            proc.wait(timeout=30)
            raise
    text = log_path.read_text(errors="replace")
    failed = proc.returncode != 0 or "state=failed" in text or "DagRunState.FAILED" in text
    if failed:
        raise DagRunFailed(f"{dag_id} failed — {_failure_lines(text)} (full log: {log_path})")
    return log_path


def _follow(log_path: Path, proc: subprocess.Popen, progress: Callable[[str], None] | None) -> None:
    """Wait for the run, passing each task start/end marker of its log to ``progress``."""
    position = 0
    while True:
        done = proc.poll() is not None
        if progress is not None:
            with log_path.open("rb") as log:
                log.seek(position)
                chunk = log.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            position += len(complete)
            for line in complete.decode(errors="replace").splitlines():
                if match := _MARKER.match(line.strip()):
                    progress(f"task {match.group(1)} {match.group(2)}")
        if done:
            return
        time.sleep(0.5)


def _failure_lines(text: str) -> str:
    """The lines of an Airflow log that say what failed, most specific first."""
    keys = (
        "DataValidationError",
        "WarehouseError",
        "ConfigError",
        "RegistryError",
        "ModelInputError",
        "AirflowFailException",
        "Error:",
        "Traceback",
    )
    for key in keys:
        hits = [line.strip() for line in text.splitlines() if key in line]
        if hits:
            return hits[-1][:600]
    return "see the log"


def _run(cmd: list[str], cfg: HeraldConfig, what: str) -> None:
    proc = subprocess.run(cmd, env=airflow_env(cfg), capture_output=True, text=True, cwd=REPO_ROOT)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise HeraldError(f"{what} failed: {' | '.join(tail)}")
