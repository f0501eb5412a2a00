"""End to end through Airflow: the on-demand Hillstrom DAG imports the real-data sample, trains and values policies."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "hillstrom_sample.csv"


def test_hillstrom_dag_imports_trains_and_values_every_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    from pipelines.config import load_config
    from pipelines.flows.runner import HILLSTROM_DAG_ID, migrate, run_dag
    from pipelines.policy.experiment import RUN_SUMMARY_ID
    from pipelines.tracking import read_run_summary
    from pipelines.warehouse.hillstrom.importer import hillstrom_config

    monkeypatch.setenv("HERALD_HOME", str(tmp_path))
    monkeypatch.setenv("HERALD_HILLSTROM__PATH", str(SAMPLE))
    monkeypatch.setenv("HERALD_HILLSTROM__BOOTSTRAP", "60")
    monkeypatch.setenv("HERALD_DEEP__ENABLED", "false")  # the deep path on Hillstrom: tests/unit/hillstrom
    cfg = load_config()
    migrate(cfg)
    run_dag(cfg, HILLSTROM_DAG_ID)

    hcfg = hillstrom_config(cfg)
    summary = read_run_summary(hcfg, RUN_SUMMARY_ID)
    assert summary is not None and summary["run_id"].startswith(f"{HILLSTROM_DAG_ID}-")
    assert summary["rows"]["customers"] == 1998 and summary["rows"]["sends"] == 1998
    assert {"nobody", "all_mens", "all_womens", "random", "personalized_lightgbm"} <= set(summary["policies"])
    run = MlflowClient(hcfg.tracking_uri).get_run(summary["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["herald.dataset"] == "hillstrom"
