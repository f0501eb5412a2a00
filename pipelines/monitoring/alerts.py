"""Human-readable alerts to e-mail (SMTP) and chat (webhook) when a threshold breaks or a task fails.

Plain Python, no Airflow: the DAGs deliver through Airflow notifiers (dags/herald_notifiers.py)
and fall back to the senders here when no Airflow connection is configured.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any

from pipelines.config import HeraldConfig

log = logging.getLogger(__name__)


@dataclass
class Alert:
    """One alert: a subject line and a plain-text body, for e-mail and webhook alike."""

    subject: str
    body: str

    def as_webhook_payload(self) -> dict[str, str]:
        # Slack's incoming-webhook shape; plain HTTP receivers read the same JSON.
        return {"text": f"*{self.subject}*\n{self.body}"}

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def webhook_url(conn_type: str | None, host: str | None, port: int | None, schema: str | None) -> str:
    """URL of a webhook given as an Airflow connection: host, port, and the path in ``schema``."""
    scheme = "https" if (conn_type or "").lower() == "https" else "http"
    if host and "://" in host:  # a full URL pasted into the host field
        return host
    netloc = f"{host}:{port}" if port else str(host)
    return f"{scheme}://{netloc}/{(schema or '').lstrip('/')}"


def post_webhook(url: str, alert: Alert, timeout: float = 10.0) -> str:
    """POST the alert as a Slack-compatible JSON payload; returns a one-line delivery note (timeout in s)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(alert.as_webhook_payload()).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
        response.read()
    return url


def send_email(cfg: HeraldConfig, alert: Alert) -> str:
    """Plain SMTP from AlertSettings (no TLS, no login): the fallback when Airflow has no SMTP connection."""
    settings = cfg.alerts
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.email_to)
    message.set_content(alert.body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_s) as smtp:
        smtp.send_message(message)
    return f"smtp://{settings.smtp_host}:{settings.smtp_port}"


def send_alert(cfg: HeraldConfig, alert: Alert) -> list[str]:
    """Send to every receiver configured in AlertSettings; returns where it went (empty when none)."""
    sent: list[str] = []
    if cfg.alerts.smtp_host and cfg.alerts.email_to:
        sent.append(send_email(cfg, alert))
    if cfg.alerts.webhook_url:
        sent.append(post_webhook(cfg.alerts.webhook_url, alert, cfg.alerts.timeout_s))
    if not sent:
        log.info("no alert receiver configured; alert was: %s", alert.subject)
    return sent


def alert(run_id: str, drift: dict[str, Any], performance: dict[str, Any], fairness: dict[str, Any]) -> Alert | None:
    """The one message of a monitoring run: what breached, by how much, where the reports are; None if nothing did."""
    lines: list[str] = []
    if drift.get("breached"):
        share = float(drift.get("drifted_share", 0.0))
        lines.append(
            f"Data drift: {len(drift.get('drifted_features', []))} feature(s) drifted ({share:.0%} of inputs)."
        )
        for name, values in drift.get("evidence", {}).items():
            source = drift.get("sources", {}).get(name.removeprefix("prediction:"), "")
            figures = ", ".join(f"{m} {v:.3f}" for m, v in values.items())
            lines.append(f"  - {name}{f' ({source})' if source else ''}: {figures}")
        lines.append(f"  report: {drift.get('report_path')}")
        if drift.get("prediction_report_path") and drift.get("drifted_predictions"):
            lines.append(f"  prediction report: {drift['prediction_report_path']}")
    if performance.get("breached"):
        lines.append("Performance on realised outcomes:")
        lines += [f"  - {b}" for b in performance.get("breaches", [])]
    if fairness.get("breached"):
        lines.append("Fairness:")
        lines += [f"  - {b}" for b in fairness.get("breaches", [])]
        lines.append(f"  report: {fairness.get('report_path')}")
    if not lines:
        return None
    what = [k for k, r in (("drift", drift), ("performance", performance), ("fairness", fairness)) if r.get("breached")]
    return Alert(
        subject=f"[herald] monitoring breach: {', '.join(what)} (run {run_id})",
        body="\n".join([f"Herald monitoring run {run_id} breached a threshold.", *lines]),
    )


def failure_alert(dag_id: str, task_id: str, run_id: str, error: BaseException | str | None) -> Alert:
    """Two lines: which DAG, task and run failed, and why."""
    reason = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error or "error")
    return Alert(subject=f"[herald] {dag_id}.{task_id} failed", body=f"Run {run_id}: {reason}")
