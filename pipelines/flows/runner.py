"""Run Herald's DAGs through a local Airflow (SQLite metadata under HERALD_HOME) from the CLI and tests."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from pipelines.config import REPO_ROOT, HeraldConfig
from pipelines.errors import HeraldError

DAG_IDS = ("herald_training", "herald_scoring", "herald_monitoring")  # the synthetic world's flow, in order
HILLSTROM_DAG_ID = "herald_hillstrom"  # on demand, real data
FORGET_DAG_ID = "herald_forget"  # on request: customers to forget in the run's conf
ON_DEMAND_DAG_IDS = (HILLSTROM_DAG_ID, FORGET_DAG_ID)


class DagRunFailed(HeraldError):
    """A DAG run ended in a state other than success; the log tail says which task and why."""


def airflow_env(cfg: HeraldConfig) -> dict[str, str]:
    """Environment for the ``airflow`` CLI: Herald's DAG folder, SQLite metadata, no examples."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(cfg.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
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


def dag_test_command(dag_id: str, logical_date: str | datetime | None = None, conf: dict | None = None) -> list[str]:
    """``airflow dags test <dag> [<logical date>] [--conf JSON]``: without a date Airflow takes now."""
    if dag_id not in (*DAG_IDS, *ON_DEMAND_DAG_IDS):
        raise HeraldError(f"unknown DAG {dag_id!r}; Herald has {', '.join((*DAG_IDS, *ON_DEMAND_DAG_IDS))}")
    when = logical_date.isoformat() if isinstance(logical_date, datetime) else logical_date
    return [
        airflow_bin(),
        "dags",
        "test",
        dag_id,
        *([when] if when else []),
        *(["--conf", json.dumps(conf)] if conf else []),
    ]


def run_dag(
    cfg: HeraldConfig,
    dag_id: str,
    log_path: Path | None = None,
    logical_date: str | datetime | None = None,
    conf: dict | None = None,
) -> Path:
    """Run one DAG end to end with ``airflow dags test`` and fail loudly if any task failed.

    ``logical_date`` (ISO date or instant) runs the DAG for that date, as a scheduled run or a
    backfill would; scoring publishes its decisions under it, replacing that date's earlier run.
    ``conf`` is the run's configuration (params), e.g. ``{"customer_ids": [...]}`` for herald_forget.
    """
    command = dag_test_command(dag_id, logical_date, conf)
    log_path = log_path or cfg.reports_dir / "airflow" / f"{dag_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        proc = subprocess.run(
            command,
            env=airflow_env(cfg),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    text = log_path.read_text(errors="replace")
    failed = proc.returncode != 0 or "state=failed" in text or "DagRunState.FAILED" in text
    if failed:
        raise DagRunFailed(f"{dag_id} failed — {_failure_lines(text)} (full log: {log_path})")
    return log_path


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
