"""Human-readable alerts to e-mail (SMTP) and chat (webhook) when a threshold breaks or a task fails."""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from pipelines.config import HeraldConfig, load_config

log = logging.getLogger(__name__)


@dataclass
class Alert:
    subject: str
    body: str

    def as_webhook_payload(self) -> dict[str, str]:
        # Slack's incoming-webhook shape; plain HTTP receivers read the same JSON.
        return {"text": f"*{self.subject}*\n{self.body}"}


def send_alert(cfg: HeraldConfig, alert: Alert) -> list[str]:
    """Send to every configured receiver; returns where it went (empty when none is configured)."""
    sent: list[str] = []
    alerts = cfg.alerts
    if alerts.smtp_host and alerts.email_to:
        message = EmailMessage()
        message["Subject"] = alert.subject
        message["From"] = alerts.email_from
        message["To"] = ", ".join(alerts.email_to)
        message.set_content(alert.body)
        with smtplib.SMTP(alerts.smtp_host, alerts.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)
        sent.append(f"smtp://{alerts.smtp_host}:{alerts.smtp_port}")
    if alerts.webhook_url:
        request = urllib.request.Request(
            alerts.webhook_url, data=json.dumps(alert.as_webhook_payload()).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - configured URL
            response.read()
        sent.append(alerts.webhook_url)
    if not sent:
        log.info("no alert receiver configured; alert was: %s", alert.subject)
    return sent


def notify_task_failure(context: dict[str, Any]) -> None:
    """Airflow failure callback: say which DAG, task and run failed, and why, in two lines."""
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    error = context.get("exception")
    alert = Alert(
        subject=f"[herald] {dag_id}.{task_id} failed",
        body=f"Run {context.get('run_id', '?')}: {type(error).__name__ if error else 'error'}: {error}",
    )
    try:
        send_alert(load_config(), alert)
    except Exception as exc:  # an alert that cannot be sent must not mask the task's own failure
        log.warning("could not send failure alert: %s", exc)
