"""The first three tasks every Herald DAG shares: open the MLflow run, extract, validate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipelines.config import load_config


def start(dag_id: str, dag_run_id: str, as_of: str) -> str:
    """Open (or find) the MLflow run that follows this DAG run; returns its id."""
    from pipelines.tracking import start

    return start(load_config(), dag_id, dag_run_id, tags={"as_of": as_of})


def extract(purpose: str, dag_run_id: str, as_of: str) -> dict[str, Any]:
    """Pull the contract tables for the purpose's time windows into the run's Parquet files."""
    from pipelines.warehouse.check import enforce_contract
    from pipelines.warehouse.extract import extract

    cfg = load_config()
    # The contract check of `herald check` first: every fault at once, in its words, before any extract.
    enforce_contract(cfg, datetime.fromisoformat(as_of), purpose)
    return extract(cfg, dag_run_id, purpose, datetime.fromisoformat(as_of)).to_dict()  # type: ignore[arg-type]


def validate(purpose: str, dag_run_id: str, extracted: dict[str, Any], mlflow_run_id: str) -> dict[str, Any]:
    """The Great Expectations gate: raises DataValidationError, or returns the rows downstream may use."""
    from pipelines.validation.gate import validate

    return validate(load_config(), dag_run_id, extracted, mlflow_run_id=mlflow_run_id, purpose=purpose)
