"""Tasks of ``herald_monitoring``: extract → validate → drift, performance, fairness → alert → retrain? → summary."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from pipelines.config import load_config
from pipelines.flows import common

DAG_ID = "herald_monitoring"

start = partial(common.start, DAG_ID)
extract = partial(common.extract, "monitoring")
validate = partial(common.validate, "monitoring")


def drift(dag_run_id: str, validated: dict[str, Any], as_of: str, mlflow_run_id: str) -> dict[str, Any]:
    """Feature and prediction drift of this run against the champion's reference."""
    from pipelines.monitoring.drift import drift

    return drift(load_config(), dag_run_id, validated["paths"], datetime.fromisoformat(as_of), mlflow_run_id).to_dict()


def performance(dag_run_id: str, as_of: str) -> dict[str, Any]:
    """Realised performance of past decisions whose outcomes are final by ``as_of``."""
    from pipelines.monitoring.outcomes import performance

    return performance(load_config(), dag_run_id, datetime.fromisoformat(as_of)).to_dict()


def fairness(dag_run_id: str, validated: dict[str, Any], as_of: str, mlflow_run_id: str) -> dict[str, Any]:
    """Targeting parity and outcome gaps between protected groups."""
    from pipelines.monitoring.fairness import fairness

    return fairness(
        load_config(), dag_run_id, validated["paths"], datetime.fromisoformat(as_of), mlflow_run_id
    ).to_dict()


def alert(
    dag_run_id: str, drift_result: dict[str, Any], performance_result: dict[str, Any], fairness_result: dict[str, Any]
) -> dict[str, str] | None:
    """The alert to send (subject, body), or None when no threshold broke."""
    from pipelines.monitoring.alerts import alert

    message = alert(dag_run_id, drift_result, performance_result, fairness_result)
    return message.to_dict() if message else None


def should_retrain(dag_run_id: str) -> dict[str, Any]:
    """Whether persistent breaches call for retraining (outside the cooldown)."""
    from pipelines.monitoring.retrain import should_retrain

    return should_retrain(load_config(), dag_run_id).to_dict()


def finish(
    dag_run_id: str,
    mlflow_run_id: str,
    drift_result: dict[str, Any],
    performance_result: dict[str, Any],
    fairness_result: dict[str, Any],
    alerted: list[str],
    as_of: str | None = None,
) -> dict[str, Any]:
    """Leave the run's summary; rewrite the latest decisions report with its outcomes and the overview."""
    from pipelines.monitoring.summary import finish

    results = (drift_result, performance_result, fairness_result)
    return finish(load_config(), DAG_ID, dag_run_id, mlflow_run_id, *results, alerted, as_of)


def apply_retention(as_of: str) -> dict[str, Any]:
    """Delete run hand-offs and reports older than privacy.retention_days (README "Privacy")."""
    from pipelines.monitoring.retention import apply_retention as cleanup

    return cleanup(load_config(), datetime.fromisoformat(as_of)).to_dict()
