"""Defaults shared by the Herald DAGs: owner, retries, failure alerts, and the run's as-of time.

Kept free of heavy imports: the DAG processor imports this on every parse.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# Early, so `herald run DAG --date D` and backfills reach the history a team imports (Airflow runs no
# task for a logical date before its start date); catchup=False keeps the scheduler from replaying it.
START_DATE = datetime(2000, 1, 1)


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
    # HERALD_RETRY_DELAY_S (pipelines/config.py); read here from the environment, as the DAG processor
    # parses this file on every loop and must not import the config's dependencies.
    "retry_delay": timedelta(seconds=float(os.environ.get("HERALD_RETRY_DELAY_S", "120"))),
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


def use_airflow_credentials() -> None:
    """Make BigQuery take its credentials from the Airflow connection named in config (google_cloud_default)."""
    from pipelines.warehouse.credentials import set_credentials_provider

    set_credentials_provider(airflow_gcp_credentials)


def fail_without_retry(fn: F) -> F:
    """Fail the task at once, without retries, when the error is one a person must fix.

    Bad data, bad config or a missing model will not heal by retrying; anything else (a flaky
    network, a busy warehouse, an MLflow server that is restarting) keeps the normal retries.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from airflow.sdk.exceptions import AirflowFailException

        from pipelines.errors import HeraldError, RegistryUnavailable

        try:
            return fn(*args, **kwargs)
        except RegistryUnavailable:
            raise  # the task's log keeps the RegistryError message; the retry runs once MLflow is back
        except HeraldError as exc:
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    return wrapper  # type: ignore[return-value]


def herald_step(fn: F) -> F:
    """Every Herald task: BigQuery credentials from Airflow (``use_airflow_credentials``), then
    ``fail_without_retry`` on errors a person must fix."""
    guarded = fail_without_retry(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        use_airflow_credentials()
        return guarded(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def run_as_of(context: dict[str, Any]) -> str:
    """The instant the run stands for (ISO 8601): its as-of for windows, labels and freshness.

    The run conf's ``as_of``, when given, wins (the demo's week later, a replay). A scheduled or
    backfilled run stands for the end of its data interval, when the data it covers is complete. A
    manual run given a logical date (``herald run DAG --date D``, ``airflow dags test DAG D``, a UI
    trigger with a logical date) stands for that date exactly; a manual run without one for the
    moment it was asked.
    """
    dag_run = context["dag_run"]
    conf = getattr(dag_run, "conf", None) or {}
    if conf.get("as_of"):
        from datetime import datetime

        return datetime.fromisoformat(str(conf["as_of"])).isoformat()
    logical = context.get("logical_date")
    if "manual" in str(getattr(dag_run, "run_type", "")).lower():
        when = logical or dag_run.run_after
    else:
        when = context.get("data_interval_end") or logical or dag_run.run_after
    return when.isoformat()
