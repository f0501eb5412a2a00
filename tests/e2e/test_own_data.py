"""End to end through Airflow on imported data: Gerber (sample) and a CRM-like export, each run for its own dates."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

pytestmark = [pytest.mark.slow]

GERBER_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "gerber_sample.csv"
CRM_EXPORT = Path(__file__).resolve().parents[1] / "unit" / "warehouse" / "imports" / "crm_export.py"


def _home(monkeypatch: pytest.MonkeyPatch, home: Path):
    monkeypatch.setenv("HERALD_HOME", str(home))
    # The deep path is covered on the synthetic world; here the point is the data's way in and the dates.
    monkeypatch.setenv("HERALD_DEEP__ENABLED", "false")
    from pipelines.config import load_config

    return load_config()


def _rows(cfg, sql: str) -> list[tuple]:
    with duckdb.connect(str(cfg.duckdb_path), read_only=True) as con:
        return con.sql(sql).fetchall()


def test_gerber_trains_and_scores_as_of_the_experiments_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.config import load_config
    from pipelines.flows.runner import migrate, run_dag
    from pipelines.tracking import read_run_summary
    from pipelines.warehouse.check import check_warehouse
    from pipelines.warehouse.imports import import_mapping

    cfg = _home(monkeypatch, tmp_path)
    import_mapping(cfg, "gerber", sources={"people": GERBER_SAMPLE})
    cfg = load_config()  # now with the mapping's settings: channel mail, consent implied
    assert cfg.channels == ["mail"]
    day = date(2006, 8, 20)
    assert check_warehouse(cfg, datetime(2006, 8, 20, tzinfo=UTC)) == []
    migrate(cfg)
    run_dag(cfg, "herald_training", logical_date=day)
    training = read_run_summary(cfg, "herald_training")
    assert training["rows"]["sends"] == 4000 and training["validation"]["passed"]
    assert any(r["gate"]["promoted"] for r in training["releases"]), training["releases"]

    run_dag(cfg, "herald_scoring", logical_date=date(2006, 8, 21))  # a Monday: the letters went out on weekdays
    decided = _rows(
        cfg, "SELECT count(DISTINCT customer_id), count(*) FILTER (WHERE channel = 'mail') FROM herald.decisions"
    )
    assert decided[0][0] == 4000  # a decision (a letter or none) for every person
    channels = {c for (c,) in _rows(cfg, "SELECT DISTINCT channel FROM herald.decisions WHERE message_id IS NOT NULL")}
    assert channels <= {"mail"}
    # The run stood for its date, not the wall clock.
    logical = _rows(cfg, "SELECT DISTINCT CAST(decided_at AS DATE) FROM herald.decisions")
    assert logical and all(d.year == 2006 for (d,) in logical), logical


def test_a_crm_export_imports_and_trains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.config import load_config
    from pipelines.flows.runner import migrate, run_dag
    from pipelines.tracking import read_run_summary
    from pipelines.warehouse.imports import import_mapping

    spec = importlib.util.spec_from_file_location("crm_export", CRM_EXPORT)
    assert spec and spec.loader
    crm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(crm)
    cfg = _home(monkeypatch, tmp_path / "home")
    report = import_mapping(cfg, crm.write_crm_export(tmp_path / "export"))
    assert report.tables["sends"]["rejected"] == 3
    cfg = load_config()
    migrate(cfg)
    run_dag(cfg, "herald_training", logical_date=date(2026, 4, 21))
    training = read_run_summary(cfg, "herald_training")
    assert training["validation"]["passed"] and {"logreg", "lightgbm"} <= set(training["models"])
    assert any(r["gate"]["promoted"] for r in training["releases"])
