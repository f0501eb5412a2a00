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
    # An AUC gain over the prior rate no model can show: no candidate is eligible, so the first
    # run serves the best fixed action by logged outcome (the no-dead-end path). The deep model is
    # off: it could not be chosen either, and the path under test needs no tower embeddings.
    monkeypatch.setenv("HERALD_PROMOTION_MIN_AUC_GAIN", "1.0")
    monkeypatch.setenv("HERALD_DEEP__ENABLED", "false")
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


def _assert_the_fixed_action_serves_when_no_model_beats_the_prior(cfg, promotions: pd.DataFrame) -> None:
    from mlflow.tracking import MlflowClient

    from pipelines.tracking import read_run_summary

    client = MlflowClient(cfg.tracking_uri, cfg.tracking_uri)
    challenger = client.get_model_version_by_alias(cfg.model_name, "challenger")
    champion = client.get_model_version_by_alias(cfg.model_name, "champion")
    assert champion.version == challenger.version
    assert champion.tags["estimator"] == "fixed_action" and champion.tags["gate.promoted"] == "True"
    assert "model_card.md" in {a.path for a in client.list_artifacts(champion.run_id)}
    assert "Serving the best fixed action" in champion.description
    first_run = promotions[promotions["run_id"] == promotions["run_id"].iloc[0]]
    assert first_run["promoted"].tolist() == [True]
    reason = first_run["reason"].iloc[0]
    assert "no champion yet" in reason and "no candidate beats the prior-rate predictor" in reason
    assert "fixed action" in read_run_summary(cfg, "herald_training")["serving"]
    scoring = read_run_summary(cfg, "herald_scoring")
    assert "fixed action" in scoring["serving"] and scoring["decisions"] > 0
    # Everyone gets the same best fixed action, unless consent, caps or cost leave them nothing.
    sent = scoring.get("messages_sent", 0)
    assert sent > 0


def test_a_first_run_without_a_model_serves_the_fixed_action_and_injected_drift_alerts_once(monitored) -> None:
    import duckdb

    from pipelines.monitoring.drift_stats import features_of
    from pipelines.synthetic import DRIFTED_FEATURES

    cfg, smtp_inbox, webhook_inbox, _ = monitored
    with duckdb.connect(str(cfg.duckdb_path), read_only=True) as con:
        metrics = con.sql(f"SELECT * FROM {cfg.dataset}.monitoring_metrics").df()
        promotions = con.sql(f"SELECT * FROM {cfg.dataset}.model_promotions ORDER BY decided_at").df()
    _assert_the_fixed_action_serves_when_no_model_beats_the_prior(cfg, promotions)
    drift = metrics[metrics["kind"] == "data_drift"]
    features = sorted(set(drift["subject"]) - {"all_features"})
    expected = {f for t, cols in DRIFTED_FEATURES.items() for c in cols for f in features_of(f"{t}.{c}", features)}
    drifted = set(drift.loc[drift["breached"], "subject"])
    assert drifted and drifted <= expected, drifted
    assert {"data_drift", "fairness", "retrain"} <= set(metrics["kind"])
    # One scoring run so far: its predictions are never compared with themselves.
    assert "prediction_drift" not in set(metrics["kind"])
    (report,) = (cfg.reports_dir / "drift").glob("*.html")
    assert report.read_text().count("not compared") == 1  # one note, with the reason
    assert "made one scoring run so far" in report.read_text()
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
