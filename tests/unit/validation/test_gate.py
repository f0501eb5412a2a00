"""Gate behaviour beyond single bad inputs: idempotent reruns, reports, MLflow, per-purpose baselines."""

from __future__ import annotations

import json

import duckdb
import mlflow
import pandas as pd
import pytest

from pipelines.errors import DataValidationError
from pipelines.validation.gate import last_counts_path, validate


def _unknown_type(frames: dict[str, pd.DataFrame]) -> None:
    frames["events"].loc[[0, 1], "event_type"] = "teleport"


def test_rerun_replaces_its_own_rejected_rows(clean_world, case_cfg) -> None:
    extracted = clean_world.extract(case_cfg, "rerun", _unknown_type)
    for _ in range(2):
        result = validate(case_cfg, "rerun", extracted, purpose="scoring")
    assert result["tables"]["events"]["rejected"] == 2
    with duckdb.connect(str(clean_world.db), read_only=True) as con:
        n = con.execute("SELECT count(*) FROM herald.rejected_rows WHERE run_id = 'rerun'").fetchone()[0]
    assert n == 2


def test_report_is_offline_and_complete(clean_world, case_cfg) -> None:
    extracted = clean_world.extract(case_cfg, "run:2025-06-01T00:00+00:00", _unknown_type)
    result = validate(case_cfg, "run:2025-06-01T00:00+00:00", extracted, purpose="scoring")
    html = open(result["report"]["html"]).read()
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert "event_type_known" in html and "quarantined" in html
    report = json.loads(open(result["report"]["json"]).read())
    assert report["tables"]["events"]["rejected"] == 2
    assert "run_2025-06-01T00_00_00_00" in result["report"]["json"]


def test_logs_report_and_counts_to_mlflow(clean_world, case_cfg) -> None:
    from pipelines.tracking import connect

    client = connect(case_cfg)
    experiment = client.get_experiment_by_name(case_cfg.mlflow_experiment)
    run_id = client.create_run(experiment.experiment_id).info.run_id

    def blank_title(frames: dict[str, pd.DataFrame]) -> None:
        frames["messages"].loc[0, "title"] = ""

    extracted = clean_world.extract(case_cfg, "tracked", blank_title)
    with pytest.raises(DataValidationError):
        validate(case_cfg, "tracked", extracted, mlflow_run_id=run_id, purpose="scoring")
    run = client.get_run(run_id)
    assert run.data.metrics["validation.passed"] == 0.0
    assert run.data.metrics["validation.events.rows_in"] == len(clean_world.frames["events"])
    artifacts = {a.path for a in client.list_artifacts(run_id, "validation")}
    assert artifacts == {"validation/validation.json", "validation/validation.html"}
    mlflow.end_run()


def test_freshness_and_baselines_are_per_purpose(clean_world, case_cfg) -> None:
    def stale(frames: dict[str, pd.DataFrame]) -> None:
        ev = frames["events"]
        frames["events"] = ev[ev["event_ts"] < pd.Timestamp("2025-05-25", tz="UTC")]

    # Training reads events up to the feature cutoff, so old events are not stale for it.
    assert validate(case_cfg, "train", clean_world.extract(case_cfg, "train", stale))["passed"]
    with pytest.raises(DataValidationError, match="stale"):
        validate(case_cfg, "score", clean_world.extract(case_cfg, "score", stale), purpose="scoring")
    baselines = json.loads(last_counts_path(case_cfg).read_text())
    assert set(baselines) == {"training"} and baselines["training"]["run_id"] == "train"
