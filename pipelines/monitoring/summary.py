"""The monitoring run's last step: its summary, the decisions report with realised outcomes, the overview page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipelines import tracking
from pipelines.config import HeraldConfig
from pipelines.monitoring.overview import write_overview
from pipelines.scoring.report import write_decisions_report


def finish(
    cfg: HeraldConfig,
    dag_id: str,
    dag_run_id: str,
    mlflow_run_id: str,
    drift_result: dict[str, Any],
    performance_result: dict[str, Any],
    fairness_result: dict[str, Any],
    alerted: list[str],
    as_of: str | None = None,
) -> dict[str, Any]:
    """Leave the run's summary; rewrite the latest decisions report with its outcomes and the overview."""
    summary = {
        "dag_run_id": dag_run_id,
        **{k: v for k, v in drift_result.items() if k != "details"},
        "performance": performance_result,
        "fairness": fairness_result,
        "alerts_sent": alerted,
    }
    scoring = tracking.read_run_summary(cfg, "herald_scoring")
    if scoring and as_of:
        _, figures = write_decisions_report(
            cfg, scoring["dag_run_id"], as_of=datetime.fromisoformat(as_of), mlflow_run_id=mlflow_run_id
        )
        summary["realised_lift"] = figures["realised"]
    summary["overview_path"] = str(write_overview(cfg, drift_result.get("report_path"), mlflow_run_id))
    tracking.write_run_summary(cfg, dag_id, summary)
    tracking.finish(cfg, mlflow_run_id)
    breached = bool(drift_result["breached"] or performance_result["breached"] or fairness_result["breached"])
    return {"breached": breached, "alerts_sent": alerted}
