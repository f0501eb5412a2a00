"""Defaults shared by the Herald DAGs: owner, retries, failure alerts, and the run's as-of time.

Kept free of heavy imports: the DAG processor imports this on every parse.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

START_DATE = datetime(2026, 1, 1)


def on_failure(context: dict[str, Any]) -> None:
    """Tell the on-call channel that a Herald task failed, through the e-mail and webhook notifiers.

    Never raises: an alert that cannot be sent must not mask the task's own failure.
    """
    try:
        from herald_notifiers import deliver

        from pipelines.monitoring.alerts import failure_alert

        ti = context.get("task_instance") or context.get("ti")
        alert = failure_alert(
            getattr(ti, "dag_id", "?"),
            getattr(ti, "task_id", "?"),
            str(context.get("run_id", getattr(ti, "run_id", "?"))),
            context.get("exception"),
        )
        deliver(alert.to_dict(), context)
    except Exception as exc:
        import logging

        logging.getLogger(__name__).warning("could not send failure alert: %s", exc)


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "herald",
    "retries": 1,
    "retry_delay": timedelta(minutes=2),
    "on_failure_callback": on_failure,
}


def airflow_gcp_credentials(conn_id: str) -> tuple[Any, str | None]:
    """Credentials and project of an Airflow Google connection; (None, None) means use ADC."""
    try:
        from airflow.exceptions import AirflowNotFoundException
        from airflow.providers.google.common.hooks.base_google import GoogleBaseHook
    except ImportError:  # the Google provider is only needed where the warehouse is BigQuery
        return None, None
    try:
        credentials, project = GoogleBaseHook(gcp_conn_id=conn_id).get_credentials_and_project_id()
    except AirflowNotFoundException:
        return None, None
    return credentials, project or None


def herald_step(fn: F) -> F:
    """Fail the task at once, without retries, when the error is one a person must fix.

    Bad data, bad config or a missing model will not heal by retrying; anything else (a flaky
    network, a busy warehouse) keeps the normal retries.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from airflow.sdk.exceptions import AirflowFailException

        from pipelines.errors import HeraldError
        from pipelines.warehouse.credentials import set_credentials_provider

        # BigQuery credentials come from the Airflow connection named in config (google_cloud_default).
        set_credentials_provider(airflow_gcp_credentials)
        try:
            return fn(*args, **kwargs)
        except HeraldError as exc:
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    return wrapper  # type: ignore[return-value]


def run_as_of(context: dict[str, Any]) -> str:
    """The instant the run stands for: the run conf's ``as_of`` when given (the demo's week later, a replay),
    else the end of its data interval, or when a manual run was asked."""
    conf = getattr(context["dag_run"], "conf", None) or {}
    if conf.get("as_of"):
        from datetime import datetime

        return datetime.fromisoformat(str(conf["as_of"])).isoformat()
    when = context.get("data_interval_end") or context["dag_run"].run_after
    return when.isoformat()
