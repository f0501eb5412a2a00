"""Faults through the real scoring DAG: a killed Airflow process, the same date twice, a backfill twice.

One scenario, five DAG runs (the machine is shared and a run takes minutes): after each, exactly one
complete decision set per logical date — every customer once, one ``complete`` run in
``scoring_runs``, nothing of a killed attempt visible. Logical dates are driven with ``airflow dags
test herald_scoring <date>`` through pipelines/flows/runner.py. A failed shard retried is covered
without Airflow in tests/unit/scoring/test_publish.py.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest

pytestmark = [pytest.mark.slow]

WORLD_NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TRAIN_DATE = "2026-06-01"


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HERALD_HOME", str(tmp_path_factory.mktemp("herald_faults")))
    mp.setenv("HERALD_WORLD__SIZE", "tiny")
    # Baselines only, margins waived: a champion in a minute; these tests are about publication.
    mp.setenv("HERALD_DEEP__ENABLED", "false")
    mp.setenv("HERALD_PROMOTION_MARGIN", "-1.0")
    mp.setenv("HERALD_SCORING_SHARDS", "2")  # enough to kill between shards, few tasks per run
    from pipelines.config import load_config
    from pipelines.flows.runner import migrate, run_dag
    from pipelines.synthetic import build_world

    config = load_config()
    build_world(config, now=WORLD_NOW)
    migrate(config)
    run_dag(config, "herald_training", logical_date=TRAIN_DATE)
    yield config
    mp.undo()


def _read(cfg, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(cfg.duckdb_path), read_only=True) as con:
        return con.sql(sql).df()


def _customers(cfg) -> int:
    return int(_read(cfg, f"SELECT count(*) AS n FROM {cfg.dataset}.customers")["n"].iloc[0])


def _assert_one_complete_set(cfg, day: str) -> str:
    """Exactly one complete run for ``day``, whose decisions cover every customer once; returns its run id."""
    ds = cfg.dataset
    decisions = _read(cfg, f"SELECT * FROM {ds}.decisions WHERE logical_date = DATE '{day}'")
    published = _read(cfg, f"SELECT * FROM {ds}.published_decisions WHERE logical_date = DATE '{day}'")
    runs = _read(cfg, f"SELECT * FROM {ds}.scoring_runs WHERE logical_date = DATE '{day}' AND status = 'complete'")
    n = _customers(cfg)
    assert len(runs) == 1, runs
    assert len(decisions) == len(published) == n and decisions["customer_id"].is_unique
    assert set(decisions["run_id"]) == set(runs["run_id"])
    assert int(runs["decisions"].iloc[0]) == n
    segments = _read(cfg, f"SELECT * FROM {ds}.customer_segments WHERE logical_date = DATE '{day}'")
    assert len(segments) == n and set(segments["run_id"]) == set(runs["run_id"])
    return str(runs["run_id"].iloc[0])


def _shards_done(cfg) -> int:
    db = cfg.airflow_home / "airflow.db"
    if not db.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            row = con.execute(
                "SELECT count(*) FROM task_instance WHERE dag_id = 'herald_scoring'"
                " AND task_id = 'score_shard' AND state = 'success'"
            ).fetchone()
    except sqlite3.Error:
        return 0  # busy or not migrated yet: ask again
    return int(row[0])


def _kill_once_a_shard_is_staged(cfg, day: str) -> None:
    """Start ``airflow dags test herald_scoring <day>`` and SIGKILL its process group after the first shard."""
    from pipelines.config import REPO_ROOT
    from pipelines.flows.runner import airflow_env, dag_test_command

    with (cfg.reports_dir / "airflow" / "killed.log").open("w") as log:
        # Its own process group, so SIGKILL takes the Airflow process and every task process it started.
        proc = subprocess.Popen(
            dag_test_command("herald_scoring", day),
            env=airflow_env(cfg),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 900
        try:
            while _shards_done(cfg) < 1:
                assert proc.poll() is None, "the scoring run ended before it could be killed"
                assert time.monotonic() < deadline, "no shard was scored within 15 minutes"
                time.sleep(0.1)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait()


def test_a_killed_run_then_a_backfill_twice_leave_one_complete_set_per_date(cfg) -> None:
    """Kill mid-scoring of D2; backfill D1..D2 (re-running D2); backfill D1..D2 again (each date twice)."""
    from pipelines.flows.runner import run_dag

    days = ["2026-05-31", "2026-06-01"]
    killed = days[-1]
    _kill_once_a_shard_is_staged(cfg, killed)
    staged = _read(cfg, f"SELECT * FROM {cfg.dataset}.decisions_staging WHERE logical_date = DATE '{killed}'")
    # The kill lands after the first shard; on a loaded machine later shards may be staged before the
    # signal arrives. What matters is that it lands before publication: the ledger still says running.
    assert 0 < len(staged) <= _customers(cfg), "the kill should land after a shard was staged"
    tables = set(_read(cfg, "SELECT table_name FROM information_schema.tables")["table_name"])
    if "decisions" in tables:  # nothing of the killed run is visible
        assert _read(cfg, f"SELECT * FROM {cfg.dataset}.decisions WHERE logical_date = DATE '{killed}'").empty
    ledger = _read(cfg, f"SELECT * FROM {cfg.dataset}.scoring_runs WHERE logical_date = DATE '{killed}'")
    assert ledger["status"].tolist() == ["running"]  # incomplete, and the ledger says so

    first: dict[str, str] = {}
    for _attempt in range(2):
        for day in days:
            run_dag(cfg, "herald_scoring", logical_date=day)
            run_id = _assert_one_complete_set(cfg, day)
            first.setdefault(day, run_id)
    for day in days:
        assert _assert_one_complete_set(cfg, day) != first[day]  # the second backfill replaced the first
        assert _read(cfg, f"SELECT * FROM {cfg.dataset}.decisions_staging WHERE logical_date = DATE '{day}'").empty
    runs = _read(cfg, f"SELECT logical_date, status FROM {cfg.dataset}.scoring_runs")
    assert runs.groupby("logical_date")["status"].apply(lambda s: (s == "complete").sum()).eq(1).all()
    assert sorted(runs["status"]) == ["complete", "complete", "replaced", "replaced", "running"]
