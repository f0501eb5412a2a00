"""The scoring run's last step: the decision summary, logged to MLflow with the decisions report, and the run closed."""

from __future__ import annotations

from typing import Any

import mlflow

from pipelines import tracking
from pipelines.config import HeraldConfig
from pipelines.scoring.decisions import decision_summary
from pipelines.scoring.report import write_decisions_report
from pipelines.training.registry import current_champion


def summarize(
    cfg: HeraldConfig,
    dag_id: str,
    dag_run_id: str,
    shard_results: list[dict[str, int]],
    mlflow_run_id: str,
    budget: dict[str, Any] | None = None,
    segmented: dict[str, Any] | None = None,
    published: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Summarise the published run, write its decisions report, log both to MLflow and close the run."""
    summary = decision_summary(cfg, dag_run_id)
    champion = current_champion(cfg)
    if champion is not None:
        summary["model"] = {"version": champion.version, "estimator": champion.estimator}
        if champion.estimator == "fixed_action":
            # Training found no learned model that beats the prior-rate predictor with confidence.
            summary["serving"] = "the best fixed action by logged outcome (no learned model beat the prior rate)"
    summary["candidates_scored"] = sum(int(r["candidates_scored"]) for r in shard_results)
    if budget and budget.get("applied"):
        summary["campaign_budget"] = budget
    if segmented:
        summary["segments"] = segmented
    if published:
        summary["published"] = published
    tracking.connect(cfg)
    with mlflow.start_run(run_id=mlflow_run_id):
        mlflow.log_dict(summary, "decision_summary.json")
        values = {
            k: summary[k] for k in ("estimated_policy_value", "estimated_holdout_value") if summary[k] == summary[k]
        }  # NaN when nobody was scored
        mlflow.log_metrics(
            {
                "decisions": summary["decisions"],
                "messages_sent": summary["messages_sent"],
                "holdout_share": summary["holdout_share"],
                "explored_share": summary["explored_share"],
                **values,
            }
        )
    report, figures = write_decisions_report(cfg, dag_run_id, mlflow_run_id=mlflow_run_id)
    summary |= {"report_path": str(report), "in_plain_words": figures["plain"], "no_message": figures["summary"]}
    tracking.write_run_summary(cfg, dag_id, {"dag_run_id": dag_run_id, **summary})
    tracking.finish(cfg, mlflow_run_id)
    return summary
