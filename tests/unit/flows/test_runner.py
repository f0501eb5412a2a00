"""The local runner: dated runs, backfill dates, failure messages that show every broken rule, and the
hand-off reader (a task's XCom result read back from the local Airflow metadata)."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from pipelines.config import HeraldConfig
from pipelines.errors import HeraldError
from pipelines.flows.runner import _failure_lines, backfill_dates, task_result


def test_backfill_dates_are_the_ends_of_each_interval() -> None:
    assert backfill_dates("herald_scoring", date(2006, 8, 18), date(2006, 8, 21)) == [
        date(2006, 8, 18),
        date(2006, 8, 19),
        date(2006, 8, 20),
        date(2006, 8, 21),
    ]
    # @weekly intervals end on Sundays: 6, 13 and 20 August 2006.
    assert backfill_dates("herald_training", date(2006, 8, 1), date(2006, 8, 20)) == [
        date(2006, 8, 6),
        date(2006, 8, 13),
        date(2006, 8, 20),
    ]
    with pytest.raises(HeraldError, match="before --start"):
        backfill_dates("herald_scoring", date(2006, 8, 2), date(2006, 8, 1))
    with pytest.raises(HeraldError, match="no herald_training interval ends"):
        backfill_dates("herald_training", date(2006, 8, 1), date(2006, 8, 4))
    with pytest.raises(HeraldError, match="has no schedule"):
        backfill_dates("herald_hillstrom", date(2006, 8, 1), date(2006, 8, 4))


def test_failure_lines_show_every_broken_rule() -> None:
    log = "\n".join(
        [
            "[2026-12-01] INFO something",
            "Traceback (most recent call last):",
            '  File "x.py", line 1, in f',
            "pipelines.errors.DataValidationError: data validation failed for run r (2 broken rules):",
            "  sends: expect_table_row_count_to_be_between (not_empty), observed 0",
            "  events.event_ts: expect_column_max_to_be_recent (fresh) — the extract is stale",
            "report: /tmp/report.html",
            "[2026-12-01] ERROR Task failed",
        ]
    )
    text = _failure_lines(log)
    assert text.startswith("pipelines.errors.DataValidationError: data validation failed")
    assert "sends: expect_table_row_count_to_be_between (not_empty), observed 0" in text
    assert "events.event_ts" in text and "report: /tmp/report.html" in text
    assert "Task failed" not in text


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
