"""End to end through Airflow: train and score on the tiny world, inject drift, and monitoring alerts once."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def monitored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_inbox, webhook_inbox):
    monkeypatch.setenv("HERALD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HERALD_WORLD__SIZE", "tiny")
    # One breached run is enough to exercise the retraining trigger here.
    monkeypatch.setenv("HERALD_MONITORING__BREACHES_BEFORE_RETRAIN", "1")
    # An AUC margin no model can meet: the gate refuses the deep challenger, so the run's best
    # baseline is gated as fallback and, with no champion yet, serves (the bootstrap path).
    monkeypatch.setenv("HERALD_PROMOTION_MARGIN", "1.0")
    monkeypatch.setenv("HERALD_ALERTS__EMAIL_TO", '["oncall@example.com"]')
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT", f"smtp://127.0.0.1:{smtp_inbox.port}?disable_ssl=true&disable_tls=true"
    )
    monkeypatch.setenv("AIRFLOW_CONN_HERALD_WEBHOOK", f"http://127.0.0.1:{webhook_inbox.port}/hooks/herald")
    from pipelines.config import load_config
    from pipelines.flows.runner import migrate, run_dag
    from pipelines.synthetic import build_world

    cfg = load_config()
    now = datetime.now(UTC)
    build_world(cfg, now)
    migrate(cfg)
    run_dag(cfg, "herald_training")
    run_dag(cfg, "herald_scoring")
    # Same seed, same instant, drift on: only DRIFTED_FEATURES change, in the last 14 days.
    build_world(cfg.model_copy(update={"world": cfg.world.model_copy(update={"drift": 1.0})}), now)
    log = run_dag(cfg, "herald_monitoring")
    return cfg, smtp_inbox, webhook_inbox, log


def _assert_best_baseline_serves_after_the_deep_challenger_was_refused(cfg, promotions: pd.DataFrame) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(cfg.tracking_uri, cfg.tracking_uri)
    challenger = client.get_model_version_by_alias(cfg.model_name, "challenger")
    champion = client.get_model_version_by_alias(cfg.model_name, "champion")
    assert challenger.tags["estimator"] == "deep" and challenger.tags["gate.promoted"] == "False"
    assert champion.tags["estimator"] in {"logreg", "lightgbm"} and champion.tags["gate.promoted"] == "True"
    assert "model_card.md" in {a.path for a in client.list_artifacts(champion.run_id)}
    first_run = promotions[promotions["run_id"] == promotions["run_id"].iloc[0]].sort_values("version")
    assert first_run["promoted"].tolist() == [False, True]
    assert "baseline" in first_run["reason"].iloc[0] and "no champion yet" in first_run["reason"].iloc[1]


def test_baseline_serves_when_deep_is_refused_and_injected_drift_alerts_once(monitored) -> None:
    import duckdb

    from pipelines.monitoring.drift_stats import features_of
    from pipelines.synthetic import DRIFTED_FEATURES

    cfg, smtp_inbox, webhook_inbox, _ = monitored
    with duckdb.connect(str(cfg.duckdb_path), read_only=True) as con:
        metrics = con.sql(f"SELECT * FROM {cfg.dataset}.monitoring_metrics").df()
        promotions = con.sql(f"SELECT * FROM {cfg.dataset}.model_promotions ORDER BY decided_at").df()
    _assert_best_baseline_serves_after_the_deep_challenger_was_refused(cfg, promotions)
    drift = metrics[metrics["kind"] == "data_drift"]
    features = sorted(set(drift["subject"]) - {"all_features"})
    expected = {f for t, cols in DRIFTED_FEATURES.items() for c in cols for f in features_of(f"{t}.{c}", features)}
    drifted = set(drift.loc[drift["breached"], "subject"])
    assert drifted and drifted <= expected, drifted
    assert {"data_drift", "prediction_drift", "fairness", "retrain"} <= set(metrics["kind"])
    # Decisions were made just now: no outcomes can have arrived, so no performance rows.
    assert "performance" not in set(metrics["kind"])

    assert len(smtp_inbox) == 1 and len(webhook_inbox) == 1
    subject, body = smtp_inbox[0]
    assert "drift" in subject
    drift_section = body.split("\nPerformance")[0].split("\nFairness")[0]
    assert {f for f in features if f in drift_section} == drifted, body
    assert ".html" in body and "drift" in webhook_inbox[0][1]
    retrain = metrics[metrics["kind"] == "retrain"]
    assert len(retrain) == 1 and bool(pd.notna(retrain["computed_at"]).all())
    with sqlite3.connect(cfg.airflow_home / "airflow.db") as meta:
        states = dict(meta.execute("SELECT task_id, state FROM task_instance WHERE dag_id = 'herald_monitoring'"))
        training_runs = meta.execute("SELECT COUNT(*) FROM dag_run WHERE dag_id = 'herald_training'").fetchone()[0]
    assert states["should_retrain"] == "success" and states["trigger_training"] == "success", states
    assert training_runs == 2  # the weekly run we ran, plus the one monitoring triggered
