"""Deliver Herald alerts through Airflow notifiers: SmtpNotifier and a Slack-compatible webhook notifier.

Receivers come from Airflow connections (AlertSettings.smtp_conn_id, .webhook_conn_id); when a
connection is absent the plain senders of pipelines/alerts.py use AlertSettings instead.
Imports stay light: the DAG processor may import this module while parsing.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)


class HeraldWebhookNotifier(BaseNotifier):
    """POST ``{"text": ...}`` (Slack's incoming-webhook shape) to the URL of an Airflow HTTP connection."""

    template_fields = ("subject", "body")

    def __init__(self, subject: str, body: str, webhook_conn_id: str = "herald_webhook", timeout: float = 10.0) -> None:
        super().__init__()
        self.subject = subject
        self.body = body
        self.webhook_conn_id = webhook_conn_id
        self.timeout = timeout

    @property
    def url(self) -> str:
        from airflow.sdk import BaseHook

        from pipelines.monitoring.alerts import webhook_url

        conn = BaseHook.get_connection(self.webhook_conn_id)
        return webhook_url(conn.conn_type, conn.host, conn.port, conn.schema)

    def notify(self, context: Any) -> None:
        from pipelines.monitoring.alerts import Alert, post_webhook

        post_webhook(self.url, Alert(self.subject, self.body), self.timeout)


def _has_connection(conn_id: str) -> bool:
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except Exception:  # not found (or no secrets backend reachable): fall back to config
        return False
    return True


def deliver(alert: dict[str, str], context: Any) -> list[str]:
    """Send one alert to e-mail and webhook; returns the receivers reached. Failures are logged, not raised."""
    from pipelines.config import load_config
    from pipelines.monitoring.alerts import Alert, post_webhook, send_email

    cfg = load_config()
    settings = cfg.alerts
    message = Alert(alert["subject"], alert["body"])
    sent: list[str] = []
    try:
        if _has_connection(settings.smtp_conn_id):
            import html

            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            from_email = settings.email_from
            to = settings.email_to or [from_email]
            SmtpNotifier(
                to=to,
                from_email=from_email,
                subject=message.subject,
                html_content=f"<pre>{html.escape(message.body)}</pre>",
                smtp_conn_id=settings.smtp_conn_id,
            ).notify(context)
            sent.append(f"airflow:{settings.smtp_conn_id}")
        elif settings.smtp_host and settings.email_to:
            sent.append(send_email(cfg, message))
    except Exception as exc:  # one broken receiver must not stop the other
        log.error("e-mail alert failed: %s", exc)
    try:
        if _has_connection(settings.webhook_conn_id):
            HeraldWebhookNotifier(message.subject, message.body, settings.webhook_conn_id, settings.timeout_s).notify(
                context
            )
            sent.append(f"airflow:{settings.webhook_conn_id}")
        elif settings.webhook_url:
            sent.append(post_webhook(settings.webhook_url, message, settings.timeout_s))
    except Exception as exc:  # as above
        log.error("webhook alert failed: %s", exc)
    if not sent:
        log.info("no alert receiver configured or reachable; alert was: %s", message.subject)
    return sent
