"""The DAG runner's hand-off reader: a task's XCom result read back from the local Airflow metadata."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pipelines.config import HeraldConfig
from pipelines.errors import HeraldError
from pipelines.flows.runner import task_result


def _metadata(cfg: HeraldConfig, rows: list[tuple[str, str, int, str, str, str]]) -> None:
    cfg.airflow_home.mkdir(parents=True)
    with sqlite3.connect(cfg.airflow_home / "airflow.db") as con:
        con.execute(
            "CREATE TABLE xcom (dag_id TEXT, task_id TEXT, map_index INTEGER, key TEXT, value JSON, timestamp TEXT)"
        )
        con.executemany("INSERT INTO xcom VALUES (?, ?, ?, ?, ?, ?)", rows)


def test_task_result_reads_the_latest_return_value(tmp_path: Path) -> None:
    cfg = HeraldConfig(home=tmp_path)
    _metadata(
        cfg,
        [
            ("herald_training", "build_features", -1, "return_value", json.dumps({"rows_path": "old"}), "2026-01-01"),
            ("herald_training", "build_features", -1, "return_value", json.dumps({"rows_path": "new"}), "2026-01-02"),
            ("herald_training", "build_features", -1, "rows_path", json.dumps("ignored"), "2026-01-03"),
            ("herald_scoring", "build_features", -1, "return_value", json.dumps({"rows_path": "other"}), "2026-01-04"),
        ],
    )
    assert task_result(cfg, "herald_training", "build_features") == {"rows_path": "new"}


def test_task_result_says_what_is_missing(tmp_path: Path) -> None:
    cfg = HeraldConfig(home=tmp_path)
    with pytest.raises(HeraldError, match="no Airflow metadata"):
        task_result(cfg, "herald_training", "gate")
    _metadata(cfg, [])
    with pytest.raises(HeraldError, match="no result of task herald_training.gate"):
        task_result(cfg, "herald_training", "gate")
