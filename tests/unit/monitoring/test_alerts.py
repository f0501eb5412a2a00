"""Alerts through Airflow notifiers (connections smtp_default, herald_webhook) to real local receivers."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from pipelines.config import REPO_ROOT


@pytest.fixture
def airflow_connections(monkeypatch: pytest.MonkeyPatch, smtp_inbox, webhook_inbox):
    """Receivers configured the production way: Airflow connections (here from environment variables)."""
    monkeypatch.syspath_prepend(str(REPO_ROOT / "dags"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT", f"smtp://127.0.0.1:{smtp_inbox.port}?disable_ssl=true&disable_tls=true"
    )
    monkeypatch.setenv("AIRFLOW_CONN_HERALD_WEBHOOK", f"http://127.0.0.1:{webhook_inbox.port}/hooks/herald")
    monkeypatch.setenv("HERALD_ALERTS__EMAIL_TO", '["oncall@example.com"]')
    return smtp_inbox, webhook_inbox


def test_task_failure_callback_reaches_both_receivers(cfg, airflow_connections) -> None:
    smtp_inbox, webhook_inbox = airflow_connections
    sys.modules.pop("herald_defaults", None)
    from herald_defaults import on_failure

    ti = SimpleNamespace(dag_id="herald_scoring", task_id="score_shard", run_id="manual__1")
    on_failure({"task_instance": ti, "run_id": "manual__1", "exception": ValueError("warehouse unreachable")})
    assert len(smtp_inbox) == 1 and len(webhook_inbox) == 1
    subject, body = smtp_inbox[0]
    assert subject == "[herald] herald_scoring.score_shard failed"
    assert "ValueError: warehouse unreachable" in body
    path, text = webhook_inbox[0]
    assert path == "/hooks/herald" and "herald_scoring.score_shard failed" in text


def test_config_fallback_without_connections(cfg, smtp_inbox, webhook_inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT / "dags"))
    monkeypatch.setenv("HERALD_ALERTS__SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("HERALD_ALERTS__SMTP_PORT", str(smtp_inbox.port))
    monkeypatch.setenv("HERALD_ALERTS__EMAIL_TO", '["oncall@example.com"]')
    monkeypatch.setenv("HERALD_ALERTS__WEBHOOK_URL", f"http://127.0.0.1:{webhook_inbox.port}/fallback")
    monkeypatch.setenv("HERALD_ALERTS__SMTP_CONN_ID", "herald_no_such_smtp")
    monkeypatch.setenv("HERALD_ALERTS__WEBHOOK_CONN_ID", "herald_no_such_webhook")
    from herald_notifiers import deliver

    sent = deliver({"subject": "[herald] test", "body": "drifted: evt_spend"}, {})
    assert len(sent) == 2 and len(smtp_inbox) == 1 and webhook_inbox[0][0] == "/fallback"


def test_nothing_breached_means_no_alert() -> None:
    from pipelines.monitoring.alerts import alert

    assert alert("r", {"breached": False}, {"breached": False}, {"breached": False}) is None
