"""The DAG-side glue: Airflow connection credentials for BigQuery, and user errors fail without retries."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest


def _fake_google_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    class NotFound(Exception):
        pass

    class Hook:
        def __init__(self, gcp_conn_id: str) -> None:
            self.conn_id = gcp_conn_id

        def get_credentials_and_project_id(self) -> tuple[Any, str]:
            if self.conn_id == "missing":
                raise NotFound(self.conn_id)
            return f"creds-of-{self.conn_id}", "conn-project"

    import airflow.exceptions

    monkeypatch.setattr(airflow.exceptions, "AirflowNotFoundException", NotFound, raising=False)
    for name in (
        "airflow.providers.google",
        "airflow.providers.google.common",
        "airflow.providers.google.common.hooks",
    ):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(
        sys.modules, "airflow.providers.google.common.hooks.base_google", types.SimpleNamespace(GoogleBaseHook=Hook)
    )


def test_airflow_connection_supplies_bigquery_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from herald_defaults import airflow_gcp_credentials

    _fake_google_provider(monkeypatch)
    assert airflow_gcp_credentials("gcp") == ("creds-of-gcp", "conn-project")
    assert airflow_gcp_credentials("missing") == (None, None)  # no such connection: Application Default Credentials


def test_herald_step_registers_the_provider_and_fails_user_errors_fast() -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from herald_defaults import airflow_gcp_credentials, herald_step

    from pipelines.errors import DataValidationError
    from pipelines.warehouse import credentials

    @herald_step
    def bad_data() -> None:
        raise DataValidationError("sends.channel: value 'fax' not in the allowed set")

    with pytest.raises(AirflowFailException, match="sends.channel"):
        bad_data()
    assert credentials._provider is airflow_gcp_credentials
    credentials.set_credentials_provider(None)


def test_run_as_of_follows_the_logical_date_or_the_data_interval() -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from herald_defaults import run_as_of

    asked = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    day = datetime(2006, 8, 20, tzinfo=UTC)
    interval_end = datetime(2006, 8, 13, tzinfo=UTC)  # @weekly: the Sunday at or before the date
    manual = SimpleNamespace(run_type="manual", run_after=asked)
    # `herald run DAG --date 2006-08-20` = `airflow dags test DAG 2006-08-20`: the date itself.
    assert run_as_of({"dag_run": manual, "logical_date": day, "data_interval_end": interval_end}) == day.isoformat()
    # A manual run without a logical date stands for when it was asked.
    assert run_as_of({"dag_run": manual, "logical_date": None, "data_interval_end": None}) == asked.isoformat()
    # Scheduled and backfilled runs stand for the end of their data interval.
    for run_type in ("scheduled", "backfill"):
        run = SimpleNamespace(run_type=run_type, run_after=asked)
        ctx = {"dag_run": run, "logical_date": day, "data_interval_end": interval_end}
        assert run_as_of(ctx) == interval_end.isoformat()


def test_backfill_schedule_matches_the_dags() -> None:
    import ast
    from pathlib import Path

    from pipelines.flows.runner import SCHEDULE_DAYS

    days = {"@daily": 1, "@weekly": 7}
    for dag_id, step in SCHEDULE_DAYS.items():
        tree = ast.parse((Path(__file__).resolve().parents[2] / "dags" / f"{dag_id}.py").read_text())
        schedules = [
            kw.value.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            for kw in node.keywords
            if kw.arg == "schedule" and isinstance(kw.value, ast.Constant)
        ]
        assert schedules and days[schedules[0]] == step, (dag_id, schedules)


def test_an_unavailable_registry_keeps_the_retries_with_its_message() -> None:
    """MLflow going away is transient: the task raises the RegistryError itself, so Airflow retries it."""
    from herald_defaults import herald_step

    from pipelines.errors import RegistryUnavailable
    from pipelines.warehouse import credentials

    @herald_step
    def register() -> None:
        raise RegistryUnavailable("MLflow tracking at http://mlflow:5000 stopped answering while registering")

    with pytest.raises(RegistryUnavailable, match="stopped answering"):
        register()
    credentials.set_credentials_provider(None)


def test_retry_delay_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    from datetime import timedelta

    import herald_defaults

    monkeypatch.setenv("HERALD_RETRY_DELAY_S", "7")
    assert importlib.reload(herald_defaults).DEFAULT_ARGS["retry_delay"] == timedelta(seconds=7)
    monkeypatch.delenv("HERALD_RETRY_DELAY_S")
    assert importlib.reload(herald_defaults).DEFAULT_ARGS["retry_delay"] == timedelta(minutes=2)
