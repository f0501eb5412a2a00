"""Run Herald's DAGs through a local Airflow (SQLite metadata under HERALD_HOME) from the CLI and tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from pipelines.config import REPO_ROOT, HeraldConfig
from pipelines.errors import HeraldError

DAG_IDS = ("herald_training", "herald_scoring", "herald_monitoring")  # the synthetic world's flow, in order
HILLSTROM_DAG_ID = "herald_hillstrom"  # on demand, real data
FORGET_DAG_ID = "herald_forget"  # on request: customers to forget in the run's conf
ON_DEMAND_DAG_IDS = (HILLSTROM_DAG_ID, FORGET_DAG_ID)
# Days between the ends of two data intervals, as each DAG's schedule says (@weekly ends on Sundays);
# tests/dags checks this against the DAG files.
SCHEDULE_DAYS = {"herald_training": 7, "herald_scoring": 1, "herald_monitoring": 1}
PURPOSES = {"herald_training": "training", "herald_scoring": "scoring", "herald_monitoring": "monitoring"}
MAX_FAILURE_LINES = 25
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
    """The airflow executable beside this Python, else the one on PATH."""
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else (shutil.which("airflow") or "airflow")


def migrate(cfg: HeraldConfig) -> None:
    """Create or upgrade the Airflow metadata database (idempotent)."""
    cfg.airflow_home.mkdir(parents=True, exist_ok=True)
    _run([airflow_bin(), "db", "migrate"], cfg, "airflow db migrate")


def dag_test_command(dag_id: str, logical_date: str | date | None = None, conf: dict | None = None) -> list[str]:
    """``airflow dags test <dag> [<logical date>] [--conf JSON]`` through ``infra/airflow/dags_test.py``, which
    leaves each task's log where the Airflow UI reads it; without a date Airflow takes now."""
    if dag_id not in (*DAG_IDS, *ON_DEMAND_DAG_IDS):
        raise HeraldError(f"unknown DAG {dag_id!r}; Herald has {', '.join((*DAG_IDS, *ON_DEMAND_DAG_IDS))}")
    when = logical_date.isoformat() if isinstance(logical_date, date) else logical_date
    return [
        sys.executable,
        str(DAGS_TEST),
        dag_id,
        *([when] if when else []),
        *(["--conf", json.dumps(conf)] if conf else []),
    ]


def run_dag(
    cfg: HeraldConfig,
    dag_id: str,
    log_path: Path | None = None,
    logical_date: str | date | None = None,
    conf: dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Run one DAG end to end with ``airflow dags test`` and fail loudly if any task failed.

    ``logical_date`` (ISO date or instant) runs the DAG for that date, as a scheduled run or a
    backfill would; scoring publishes its decisions under it, replacing that date's earlier run.
    ``conf`` is the run's configuration (params), e.g. ``{"customer_ids": [...]}`` for herald_forget or
    ``{"as_of": "…"}`` to stand the run at another instant; ``progress`` is called with "task X started" /
    "task X finished: success in N s" as they happen. Each task's log lands where the Airflow UI reads it.
    """
    command = dag_test_command(dag_id, logical_date, conf)
    when = logical_date.isoformat() if isinstance(logical_date, date) else logical_date
    suffix = f"-{when}" if when else ""
    log_path = log_path or cfg.reports_dir / "airflow" / f"{dag_id}{suffix}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = airflow_env(cfg)
    # Task logs in the UI should say what the task did, not only its warnings.
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        try:
            _follow(log_path, proc, progress)
        except BaseException:  # Ctrl-C or a failing callback: never leave the DAG run going on its own
            proc.terminate()
            proc.wait(timeout=30)
            raise
    text = log_path.read_text(errors="replace")
    failed = proc.returncode != 0 or "state=failed" in text or "DagRunState.FAILED" in text
    if failed:
        raise DagRunFailed(
            f"{dag_id}{' for ' + when if when else ''} failed — {_failure_lines(text)}\n(full log: {log_path})"
        )
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


def task_result(cfg: HeraldConfig, dag_id: str, task_id: str) -> object:
    """What one task of the latest run of ``dag_id`` returned (its XCom), read from the local Airflow metadata.

    Lets benchmarks and tests that ran a DAG with :func:`run_dag` pick up its hand-offs (paths,
    trained models) without repeating any step. Raises HeraldError when no such result exists.
    """
    db = cfg.airflow_home / "airflow.db"
    if not db.is_file():
        raise HeraldError(f"no Airflow metadata at {db}; run the DAG with run_dag first")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        row = con.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value' AND map_index = -1 "
            "ORDER BY timestamp DESC LIMIT 1",
            (dag_id, task_id),
        ).fetchone()
    if row is None:
        raise HeraldError(f"no result of task {dag_id}.{task_id} in {db}; did the DAG run that task?")
    value = row[0]
    return json.loads(value) if isinstance(value, str | bytes) else value


def backfill_dates(dag_id: str, start: date, end: date) -> list[date]:
    """The logical dates a backfill of ``dag_id`` runs: each end of a data interval in [start, end].

    A weekly DAG's intervals end on Sundays (Airflow's @weekly), a daily DAG's every midnight.
    """
    if dag_id not in SCHEDULE_DAYS:
        raise HeraldError(f"{dag_id} has no schedule to backfill; backfill one of {', '.join(SCHEDULE_DAYS)}")
    if end < start:
        raise HeraldError(f"--end {end} is before --start {start}")
    step = SCHEDULE_DAYS[dag_id]
    first = start if step == 1 else start + timedelta(days=(6 - start.weekday()) % 7)
    dates = []
    while first <= end:
        dates.append(first)
        first += timedelta(days=step)
    if not dates:
        raise HeraldError(f"no {dag_id} interval ends between {start} and {end} (weekly runs end on Sundays)")
    return dates


def _failure_lines(text: str) -> str:
    """What failed, from an Airflow log: the most specific error and the lines its message goes on with.

    Herald's errors list every broken rule on indented lines after the first; all of them are
    shown (up to MAX_FAILURE_LINES), not only the count on the first line.
    """
    keys = (
        "ContractError",
        "DataValidationError",
        "WarehouseError",
        "MappingError",
        "ConfigError",
        "RegistryError",
        "ModelInputError",
        "AirflowFailException",
        "Error:",
        "Traceback",
    )
    lines = text.splitlines()
    for key in keys:
        hits = [i for i, line in enumerate(lines) if key in line]
        if not hits:
            continue
        first = hits[-1]
        # Airflow logs the exception twice (the task's error, then the run's); the earliest full copy wins.
        for i in hits:
            if lines[i].strip() == lines[first].strip():
                first = i
                break
        block = [lines[first].strip()[:600]]
        for line in lines[first + 1 :]:
            if not line.startswith(("  ", "\t")) or line.lstrip().startswith(("File ", "Traceback")):
                if line.startswith("report:"):
                    block.append(line.strip())
                break
            block.append(line.strip()[:600])
            if len(block) > MAX_FAILURE_LINES:
                block.append("… (more in the log)")
                break
        return "\n  ".join(block)
    return "see the log"


def _run(cmd: list[str], cfg: HeraldConfig, what: str) -> None:
    proc = subprocess.run(cmd, env=airflow_env(cfg), capture_output=True, text=True, cwd=REPO_ROOT)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise HeraldError(f"{what} failed: {' | '.join(tail)}")
