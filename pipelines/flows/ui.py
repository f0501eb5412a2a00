"""Start and stop the Airflow and MLflow UIs on the demo's local state, and nothing else.

Every UI runs in its own session (``setsid``), so it and every process it spawns (Airflow's
api-server workers, scheduler, dag-processor, triggerer; MLflow's gunicorn/uvicorn workers) form
one process group. The group id, the command and the URL are recorded under
``HERALD_HOME/run/<ui>.json``; stopping signals the whole group (SIGTERM, then SIGKILL after a
grace period), so nothing is left serving after ``herald down`` or Ctrl-C.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from pipelines.config import REPO_ROOT, HeraldConfig
from pipelines.errors import HeraldError

UIS = ("airflow", "mlflow")
DEFAULT_PORTS = {"airflow": 8080, "mlflow": 5000}
# Airflow's components as `airflow standalone` runs them; the api-server alone serves the UI.
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
AIRFLOW_USER = "admin"


@dataclass
class UiProcess:
    """A started UI: its process group, the processes in it, where it answers and how to log in."""

    name: str
    pgid: int
    pids: list[int]
    url: str
    login: str
    log: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def state_file(cfg: HeraldConfig, name: str) -> Path:
    """Where a started UI's process group, URL and login are recorded."""
    return cfg.home / "run" / f"{name}.json"


def airflow_password(cfg: HeraldConfig) -> str:
    """The admin password of Airflow's simple auth manager, created once per HERALD_HOME.

    Airflow reads (and otherwise generates) ``simple_auth_manager_passwords.json.generated`` in
    AIRFLOW_HOME; writing it first lets Herald print the login before the UI is up.
    """
    path = cfg.airflow_home / "simple_auth_manager_passwords.json.generated"
    known = json.loads(path.read_text()) if path.is_file() else {}
    if AIRFLOW_USER not in known:
        known[AIRFLOW_USER] = secrets.token_urlsafe(12)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known))
        path.chmod(0o600)
    return str(known[AIRFLOW_USER])


def _commands(cfg: HeraldConfig, name: str, host: str, port: int, api_only: bool) -> tuple[list[list[str]], dict]:
    from pipelines.flows.runner import airflow_bin, airflow_env

    url = f"http://{host}:{port}"
    if name == "mlflow":
        mlflow = str(Path(sys.executable).with_name("mlflow"))
        cmd = [mlflow, "server", "--backend-store-uri", cfg.tracking_uri, "--default-artifact-root", cfg.artifact_root]
        cmd += ["--host", host, "--port", str(port), "--workers", "1"]
        env = dict(os.environ, PATH=os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", ""))))
        return [cmd], env
    if name != "airflow":
        raise HeraldError(f"unknown UI {name!r}: use {' or '.join(UIS)}")
    env = airflow_env(cfg)
    env.update(
        {
            "AIRFLOW__API__HOST": host,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{AIRFLOW_USER}:admin",
            # The Herald view links MLflow; it lives beside Airflow on the same host.
            "HERALD_MLFLOW_UI_URL": os.environ.get("HERALD_MLFLOW_UI_URL", f"http://{host}:{DEFAULT_PORTS['mlflow']}"),
        }
    )
    components = AIRFLOW_COMPONENTS[:1] if api_only else AIRFLOW_COMPONENTS
    return [
        [airflow_bin(), c, *(["--host", host, "--port", str(port)] if c == "api-server" else [])] for c in components
    ], env


def start_ui(
    cfg: HeraldConfig, name: str, host: str = "127.0.0.1", port: int | None = None, api_only: bool = False
) -> UiProcess:
    """Start one UI in the background in a new process group and record it; returns what was started.

    Raises HeraldError when that UI is already running from this HERALD_HOME (stop it first).
    """
    running = read_ui(cfg, name)
    if running is not None:
        raise HeraldError(f"the {name} UI already runs at {running.url} (pgid {running.pgid}); stop it: herald down")
    port = port or DEFAULT_PORTS[name]
    if name == "airflow":
        from pipelines.flows.runner import migrate

        migrate(cfg)
    commands, env = _commands(cfg, name, host, port, api_only)
    log = cfg.reports_dir / "ui" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    login = f"user {AIRFLOW_USER}, password {airflow_password(cfg)}" if name == "airflow" else "no login (local)"
    with log.open("ab") as out:
        first = subprocess.Popen(
            commands[0], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True
        )
        pids = [first.pid]
        for cmd in commands[1:]:  # same group as the first: one killpg stops them all
            proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT, process_group=first.pid
            )
            pids.append(proc.pid)
    started = UiProcess(name, first.pid, pids, f"http://{host}:{port}", login, str(log))
    path = state_file(cfg, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(started.to_dict(), indent=2))
    return started


def read_ui(cfg: HeraldConfig, name: str) -> UiProcess | None:
    """The recorded UI if its process group is still alive; a stale record is removed."""
    path = state_file(cfg, name)
    if not path.is_file():
        return None
    found = UiProcess(**json.loads(path.read_text()))
    if not _group_alive(found.pgid):
        path.unlink(missing_ok=True)
        return None
    return found


def stop_ui(cfg: HeraldConfig, name: str, grace_s: float = 15.0) -> UiProcess | None:
    """Stop every process of a recorded UI (SIGTERM to the group, SIGKILL after ``grace_s``)."""
    found = read_ui(cfg, name)
    if found is None:
        return None
    _signal_group(found.pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _group_alive(found.pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _group_alive(found.pgid):
        _signal_group(found.pgid, signal.SIGKILL)
    state_file(cfg, name).unlink(missing_ok=True)
    return found


def wait_ready(url: str, timeout_s: float = 120.0, path: str = "/") -> bool:
    """Poll ``url + path`` until it answers HTTP (any status below 500) or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + path, timeout=5) as response:
                if response.status < 500:
                    return True
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1.0)
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc").is_dir():  # no procfs (macOS): killpg's answer is all there is
        return True
    # A zombie leader (exited, not yet reaped) still counts for killpg; check the members' states.
    return any(_pid_state(pid) not in ("Z", None) for pid in _group_members(pgid))


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def _pid_state(pid: int) -> str | None:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
