"""Herald's production stack as local processes: Airflow with Celery workers on PostgreSQL and Redis, an MLflow server.

Each process starts with ``setsid`` in its own process group and stops by signalling that group, so
nothing it forked (Celery pool children, task supervisors, gunicorn/uvicorn workers) outlives it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from pipelines.config import REPO_ROOT

PG_HOST = os.environ.get("HERALD_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HERALD_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("HERALD_TEST_PG_USER", "postgres")
REDIS_HOST = os.environ.get("HERALD_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("HERALD_TEST_REDIS_PORT", "6379"))

# The tests' worker identities: Airflow records ``hostname_callable()`` on every task instance; on
# one host both workers would report the same name, so each worker process names itself.
HOSTNAME_MODULE = """
import os


def hostname() -> str:
    return os.environ["HERALD_TEST_WORKER_NAME"]
"""


def listening(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@dataclass
class Service:
    """One started process group: its command, environment and log file."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        # start_new_session=True is setsid(): the child leads a new session and process group.
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True
        )
        handle.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the group, then SIGKILL whatever of it is left after ``timeout`` seconds."""
        if self.proc is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self.signal(signal.SIGKILL)  # pool children and task processes of the group too
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the whole group at once, as an OOM kill or a lost node would."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)
        self.proc = None

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def create_database(name: str) -> str:
    import psycopg2

    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return f"{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def drop_database(name: str) -> None:
    import psycopg2

    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@dataclass
class Stack:
    """Airflow (api-server, scheduler, dag-processor, triggerer, two Celery workers) and an MLflow server."""

    root: Path
    herald_env: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)
    token: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.tag = tag
        self.api_port = free_port()
        self.mlflow_port = free_port()
        self.logs = self.root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.artifacts = self.root / "mlartifacts"
        self.password = uuid.uuid4().hex
        # A queue of our own on the shared Redis: other users of the broker never see these tasks.
        self.queue = f"herald_test_{tag}"

    # ---- configuration ---------------------------------------------------------------
    @property
    def mlflow_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _airflow_env(self, airflow_db: str) -> dict[str, str]:
        home = self.root / "airflow"
        home.mkdir(exist_ok=True)
        (home / "herald_test_hostname.py").write_text(HOSTNAME_MODULE)
        passwords = home / "passwords.json"
        passwords.write_text(json.dumps({"admin": self.password}))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW_"))}
        env.update(self.herald_env)
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__DEFAULT_QUEUE": self.queue,
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "herald_test_hostname.hostname",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{airflow_db}",
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{airflow_db}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
                "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
                "AIRFLOW__API__SECRET_KEY": uuid.uuid4().hex,
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__WORKERS": "1",
                # Manual runs only: the schedules (@weekly, @daily) must not start runs of their own.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                # A SIGKILLed worker's task is declared lost after this long without a heartbeat (default 300 s).
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "45",
                # Tasks call the api-server's execution API; on a loaded machine it answers slowly (default 5 s).
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "HERALD_MLFLOW_TRACKING_URI": self.mlflow_uri,
                "PYTHONPATH": os.pathsep.join([str(home), str(REPO_ROOT / "dags"), str(REPO_ROOT)]),
            }
        )
        return env

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Create fresh databases, migrate, start every process and wait until each answers."""
        airflow_db = create_database(f"herald_af_{self.tag}")
        self.databases.append(f"herald_af_{self.tag}")
        mlflow_db = create_database(f"herald_mlf_{self.tag}")
        self.databases.append(f"herald_mlf_{self.tag}")
        self.env = self._airflow_env(airflow_db)

        mlflow_env = {k: v for k, v in self.env.items() if not k.startswith("AIRFLOW")}
        # The server's job runner (huey consumers for GenAI evaluation jobs) is not used by Herald and
        # costs more start-up time than the server itself.
        mlflow_env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        self.services["mlflow"] = Service(
            "mlflow",
            [
                _bin("mlflow"),
                "server",
                "--backend-store-uri",
                f"postgresql+psycopg2://{mlflow_db}",
                "--artifacts-destination",
                self.artifacts.as_uri(),
                "--serve-artifacts",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.mlflow_port),
                "--workers",
                "1",
            ],
            mlflow_env,
            self.logs / "mlflow.log",
        )
        self.services["mlflow"].start()

        migrate = subprocess.run(
            [_bin("airflow"), "db", "migrate"], env=self.env, capture_output=True, text=True, timeout=600
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed: {migrate.stderr[-2000:]}")

        airflow = _bin("airflow")
        commands = {
            "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.api_port)],
            "scheduler": [airflow, "scheduler"],
            "dag-processor": [airflow, "dag-processor"],
            "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
        }
        for worker in ("worker-a", "worker-b"):
            commands[worker] = [
                airflow,
                "celery",
                "worker",
                "--queues",
                self.queue,
                "--concurrency",
                "1",
                "--celery-hostname",
                f"{worker}-{self.tag}@%h",
                "--skip-serve-logs",
            ]
        for name, cmd in commands.items():
            env = {**self.env, "HERALD_TEST_WORKER_NAME": name}
            self.services[name] = Service(name, cmd, env, self.logs / f"{name}.log")
            self.services[name].start()
        self.wait_for_http(f"{self.mlflow_uri}/health", "mlflow", timeout=240)
        self.wait_for_http(f"{self.api}/api/v2/monitor/health", "api-server", timeout=240)
        self.token = self._token()
        self.wait_for_dags(("herald_training", "herald_scoring"), timeout=240)

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()
        for name in self.databases:
            try:
                drop_database(name)
            except Exception:  # a leftover test database must not hide the test's own result
                pass

    def restart(self, name: str) -> None:
        service = self.services[name]
        service.stop()
        service.start()

    # ---- waiting ---------------------------------------------------------------------
    def _check_alive(self) -> None:
        for service in self.services.values():
            if service.proc is not None and not service.alive():
                raise RuntimeError(f"{service.name} exited early:\n{service.tail()}")

    def wait_for_http(self, url: str, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        raise TimeoutError(f"{what} did not answer {url} within {timeout:.0f} s:\n{self.services[what].tail()}")

    def wait_for_dags(self, dag_ids: tuple[str, ...], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            found = {d["dag_id"] for d in self.get("/api/v2/dags", params={"limit": 100})["dags"]}
            if set(dag_ids) <= found:
                return
            time.sleep(2)
        raise TimeoutError(f"the dag-processor did not parse {dag_ids} within {timeout:.0f} s")

    # ---- the REST API v2 -------------------------------------------------------------
    def _token(self) -> str:
        reply = requests.post(
            f"{self.api}/auth/token", json={"username": "admin", "password": self.password}, timeout=30
        )
        reply.raise_for_status()
        return reply.json()["access_token"]

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        # A busy api-server (one worker, tasks calling its execution API) may answer late: ask again.
        for attempt in range(4):
            try:
                reply = requests.get(f"{self.api}{path}", headers=self._headers(), timeout=60, **kwargs)
                break
            except (requests.ConnectionError, requests.Timeout):
                if attempt == 3:
                    raise
                time.sleep(2)
        reply.raise_for_status()
        return reply.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        reply = requests.post(f"{self.api}{path}", headers=self._headers(), json=body, timeout=30)
        reply.raise_for_status()
        return reply.json()

    def set_paused(self, dag_id: str, paused: bool) -> None:
        reply = requests.patch(
            f"{self.api}/api/v2/dags/{dag_id}", headers=self._headers(), json={"is_paused": paused}, timeout=60
        )
        reply.raise_for_status()

    def trigger(self, dag_id: str) -> str:
        """Start a manual run of ``dag_id``; returns its run id."""
        return self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})[
            "task_instances"
        ]

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        path += f"/{map_index}/tries" if map_index >= 0 else "/tries"
        return self.get(path)["task_instances"]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        reply = requests.get(
            f"{self.api}{path}",
            headers={**self._headers(), "Accept": "application/json"},
            params={"map_index": map_index, "full_content": "true"},
            timeout=60,
        )
        reply.raise_for_status()
        content = reply.json().get("content", [])
        return "\n".join(json.dumps(c) if not isinstance(c, str) else c for c in content)

    def wait_for_task(self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float) -> dict:
        """Poll until some instance of ``task_id`` is in one of ``states``; returns that record."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            for ti in self.task_instances(dag_id, run_id):
                if ti["task_id"] == task_id and ti["state"] in states:
                    return ti
            time.sleep(1)
        raise TimeoutError(f"{dag_id}.{task_id} of {run_id} reached none of {states} within {timeout:.0f} s")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """Poll until the run ends; returns its final state (``success`` or ``failed``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        states = {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}
        raise TimeoutError(f"{dag_id} run {run_id} still {state} after {timeout:.0f} s: {states}")
