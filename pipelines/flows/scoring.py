"""Tasks of ``herald_scoring``: extract → validate → prepare shards → score shards → budget → segments → summarize."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from pipelines.config import load_config
from pipelines.flows import common

DAG_ID = "herald_scoring"

start = partial(common.start, DAG_ID)
extract = partial(common.extract, "scoring")
validate = partial(common.validate, "scoring")


def load_champion() -> dict[str, str]:
    """The registered model behind the champion alias (fails clearly before the first promotion)."""
    from pipelines.training.registry import require_champion

    return require_champion(load_config()).to_dict()


def prepare(dag_run_id: str, validated: dict[str, Any], as_of: str) -> dict[str, Any]:
    """Plan the run: customers, candidates and shards at ``as_of``."""
    from pipelines.scoring.prepare import prepare_scoring

    return prepare_scoring(load_config(), dag_run_id, validated["paths"], datetime.fromisoformat(as_of)).to_dict()


def check_inputs(plan: dict[str, Any], champion: dict[str, str]) -> dict[str, Any]:
    """Stop before scoring if today's rows are not what the champion was trained on."""
    from pipelines.scoring.prepare import ScoringPlan
    from pipelines.scoring.serving_check import check_serving_inputs
    from pipelines.training.registry import RegisteredModel

    return check_serving_inputs(load_config(), ScoringPlan(**plan), RegisteredModel(**champion))


def score_shard(dag_run_id: str, shard: int, plan: dict[str, Any], champion: dict[str, str]) -> dict[str, int]:
    """Score one shard and write its decisions (dynamic task mapping: one task per shard)."""
    from pipelines.scoring.prepare import ScoringPlan
    from pipelines.scoring.shard import score_shard as run_shard
    from pipelines.training.registry import RegisteredModel

    return run_shard(load_config(), dag_run_id, shard, ScoringPlan(**plan), RegisteredModel(**champion))


def allocate_budget(
    dag_run_id: str, plan: dict[str, Any], champion: dict[str, str], shard_results: list[dict[str, Any]]
) -> dict[str, Any]:
    """The per-campaign budget across all shards (a no-op without a budget); runs after every shard."""
    from pipelines.scoring.budget import allocate_campaign_budget
    from pipelines.scoring.prepare import ScoringPlan
    from pipelines.training.registry import RegisteredModel

    del shard_results  # only orders this task after the shards
    return allocate_campaign_budget(load_config(), dag_run_id, ScoringPlan(**plan), RegisteredModel(**champion))


def segments(dag_run_id: str, plan: dict[str, Any], champion: dict[str, str], mlflow_run_id: str) -> dict[str, Any]:
    """k-means customer segments over the champion's customer representation, into customer_segments."""
    from pipelines.scoring.prepare import ScoringPlan
    from pipelines.scoring.segments import segment_customers
    from pipelines.training.registry import RegisteredModel

    return segment_customers(
        load_config(), dag_run_id, ScoringPlan(**plan), RegisteredModel(**champion), mlflow_run_id=mlflow_run_id
    )


def summarize(
    dag_run_id: str,
    shard_results: list[dict[str, int]],
    mlflow_run_id: str,
    budget: dict[str, Any] | None = None,
    segmented: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Summarise the run, write its decisions report, log both to MLflow and close the run."""
    import mlflow

    from pipelines.flows.summary import write_run_summary
    from pipelines.scoring.decisions import decision_summary
    from pipelines.tracking import connect, finish_dag_run

    cfg = load_config()
    summary = decision_summary(cfg, dag_run_id)
    summary["candidates_scored"] = sum(int(r["candidates_scored"]) for r in shard_results)
    if budget and budget.get("applied"):
        summary["campaign_budget"] = budget
    if segmented:
        summary["segments"] = segmented
    connect(cfg)
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
    from pipelines.scoring.report import write_decisions_report

    report, figures = write_decisions_report(cfg, dag_run_id, mlflow_run_id=mlflow_run_id)
    summary |= {"report_path": str(report), "in_plain_words": figures["plain"], "no_message": figures["summary"]}
    write_run_summary(cfg, DAG_ID, {"dag_run_id": dag_run_id, **summary})
    finish_dag_run(cfg, mlflow_run_id)
    return summary
