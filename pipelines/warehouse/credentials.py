"""Where BigQuery credentials come from when none are passed: a provider the orchestrator registers.

pipelines/ never imports Airflow. The DAG side registers a provider that reads the Airflow
connection (dags/herald_defaults.py); without one, the client uses Application Default Credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CredentialsProvider = Callable[[str], tuple[Any, "str | None"]]

_provider: CredentialsProvider | None = None


def set_credentials_provider(provider: CredentialsProvider | None) -> None:
    """Register (or with None, remove) the function that maps a connection id to (credentials, project)."""
    global _provider
    _provider = provider


def connection_credentials(conn_id: str | None) -> tuple[Any, str | None]:
    """Credentials and project for ``conn_id`` from the registered provider, or (None, None) for ADC."""
    if not conn_id or _provider is None:
        return None, None
    return _provider(conn_id)
