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
    from pipelines.monitoring.drift import drift_against_champion

    return drift_against_champion(
        load_config(), dag_run_id, validated["paths"], datetime.fromisoformat(as_of), mlflow_run_id
    ).to_dict()


def performance(dag_run_id: str, as_of: str) -> dict[str, Any]:
    """Realised performance of past decisions whose outcomes are final by ``as_of``."""
    from pipelines.monitoring.outcomes import realised_performance

    return realised_performance(load_config(), dag_run_id, datetime.fromisoformat(as_of)).to_dict()


def fairness(dag_run_id: str, validated: dict[str, Any], as_of: str, mlflow_run_id: str) -> dict[str, Any]:
    """Targeting parity and outcome gaps between protected groups."""
    from pipelines.monitoring.fairness import fairness_check

    return fairness_check(
        load_config(), dag_run_id, validated["paths"], datetime.fromisoformat(as_of), mlflow_run_id
    ).to_dict()


def alert(
    dag_run_id: str, drift_result: dict[str, Any], performance_result: dict[str, Any], fairness_result: dict[str, Any]
) -> dict[str, str] | None:
    """The alert to send (subject, body), or None when no threshold broke."""
    from pipelines.monitoring.alerts import monitoring_alert

    message = monitoring_alert(dag_run_id, drift_result, performance_result, fairness_result)
    return message.to_dict() if message else None


def should_retrain(dag_run_id: str) -> dict[str, Any]:
    """Whether persistent breaches call for retraining (outside the cooldown)."""
    from pipelines.monitoring.retrain import decide_retrain

    return decide_retrain(load_config(), dag_run_id).to_dict()


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
    from pipelines.flows.summary import read_run_summary, write_run_summary
    from pipelines.monitoring.overview import write_overview
    from pipelines.scoring.report import write_decisions_report
    from pipelines.tracking import finish_dag_run

    cfg = load_config()
    summary = {
        "dag_run_id": dag_run_id,
        **{k: v for k, v in drift_result.items() if k != "details"},
        "performance": performance_result,
        "fairness": fairness_result,
        "alerts_sent": alerted,
    }
    scoring = read_run_summary(cfg, "herald_scoring")
    if scoring and as_of:
        _, figures = write_decisions_report(
            cfg, scoring["dag_run_id"], as_of=datetime.fromisoformat(as_of), mlflow_run_id=mlflow_run_id
        )
        summary["realised_lift"] = figures["realised"]
    summary["overview_path"] = str(write_overview(cfg, drift_result.get("report_path"), mlflow_run_id))
    write_run_summary(cfg, DAG_ID, summary)
    finish_dag_run(cfg, mlflow_run_id)
    breached = bool(drift_result["breached"] or performance_result["breached"] or fairness_result["breached"])
    return {"breached": breached, "alerts_sent": alerted}


def apply_retention(as_of: str) -> dict[str, Any]:
    """Delete run hand-offs and reports older than privacy.retention_days (README "Privacy")."""
    from pipelines.privacy.retention import apply_retention as cleanup

    return cleanup(load_config(), datetime.fromisoformat(as_of)).to_dict()
