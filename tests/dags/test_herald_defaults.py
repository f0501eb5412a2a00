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
