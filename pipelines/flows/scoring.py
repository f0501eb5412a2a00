"""Tasks of ``herald_scoring``: start → extract → validate → prepare → shards → budget → segments → publish → audit."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from pipelines.config import load_config
from pipelines.flows import common

DAG_ID = "herald_scoring"


def start(dag_run_id: str, as_of: str) -> dict[str, str]:
    """Open the MLflow run and record the run as ``running`` in the ledger; the small run record."""
    from pipelines.scoring.publish import begin_run

    mlflow_run_id = common.start(DAG_ID, dag_run_id, as_of)
    return {"as_of": as_of, "mlflow_run_id": mlflow_run_id, **begin_run(load_config(), dag_run_id, as_of)}


extract = partial(common.extract, "scoring")
validate = partial(common.validate, "scoring")


def load_champion() -> dict[str, str]:
    """The registered model behind the champion alias (fails clearly before the first promotion)."""
    from pipelines.training.registry import load_champion

    return load_champion(load_config()).to_dict()


def prepare(dag_run_id: str, validated: dict[str, Any], as_of: str, logical_date: str | None = None) -> dict[str, Any]:
    """Customer features per shard and the active catalogue, for the run's as-of instant and logical date."""
    from pipelines.scoring.prepare import prepare

    plan = prepare(load_config(), dag_run_id, validated["paths"], datetime.fromisoformat(as_of), logical_date)
    return plan.to_dict()


def check_inputs(plan: dict[str, Any], champion: dict[str, str]) -> dict[str, Any]:
    """Stop before scoring if today's rows are not what the champion was trained on."""
    from pipelines.scoring.prepare import ScoringPlan
    from pipelines.scoring.serving_check import check_inputs
    from pipelines.training.registry import RegisteredModel

    return check_inputs(load_config(), ScoringPlan(**plan), RegisteredModel(**champion))


def score_shard(dag_run_id: str, shard: int, plan: dict[str, Any], champion: dict[str, str]) -> dict[str, int]:
    """Score one shard and stage its decisions (a retry replaces the shard's staged rows)."""
    from pipelines.scoring.prepare import ScoringPlan
    from pipelines.scoring.shard import score_shard as run_shard
    from pipelines.training.registry import RegisteredModel

    return run_shard(load_config(), dag_run_id, shard, ScoringPlan(**plan), RegisteredModel(**champion))


def allocate_budget(
    dag_run_id: str, plan: dict[str, Any], champion: dict[str, str], shard_results: list[dict[str, Any]]
) -> dict[str, Any]:
    """The per-campaign budget across all shards (a no-op without a budget); runs after every shard."""
    from pipelines.scoring.budget import allocate_budget
    from pipelines.scoring.prepare import ScoringPlan
    from pipelines.training.registry import RegisteredModel

    del shard_results  # only orders this task after the shards
    return allocate_budget(load_config(), dag_run_id, ScoringPlan(**plan), RegisteredModel(**champion))


def segments(dag_run_id: str, plan: dict[str, Any], champion: dict[str, str], mlflow_run_id: str) -> dict[str, Any]:
    """k-means customer segments over the champion's customer representation, into customer_segments."""
    from pipelines.scoring.prepare import ScoringPlan
    from pipelines.scoring.segments import segments
    from pipelines.training.registry import RegisteredModel

    return segments(
        load_config(), dag_run_id, ScoringPlan(**plan), RegisteredModel(**champion), mlflow_run_id=mlflow_run_id
    )


def publish(
    dag_run_id: str, plan: dict[str, Any], champion: dict[str, str], budget: Any = None, segmented: Any = None
) -> dict[str, Any]:
    """Publish the whole run (decisions + segments) as its logical date's only one; runs after every writer."""
    from pipelines.scoring.prepare import ScoringPlan
    from pipelines.scoring.publish import publish
    from pipelines.training.registry import RegisteredModel

    del budget, segmented  # only order this task after the writers
    return publish(load_config(), dag_run_id, ScoringPlan(**plan), RegisteredModel(**champion))


def mark_failed(dag_run_id: str, note: str) -> None:
    """Ledger: the run stopped before publishing (called by the DAG's failure callback)."""
    from pipelines.scoring.publish import mark_failed as record

    record(load_config(), dag_run_id, note)


def consent_audit(dag_run_id: str, validated: dict[str, Any], as_of: str, mlflow_run_id: str) -> dict[str, Any]:
    """Check the written decisions against consent, unsubscribes, suppression and caps; raise on a breach."""
    from pipelines.scoring import consent_audit as step

    return step.consent_audit(
        load_config(), dag_run_id, validated["paths"], datetime.fromisoformat(as_of), mlflow_run_id
    )


def summarize(
    dag_run_id: str,
    shard_results: list[dict[str, int]],
    mlflow_run_id: str,
    budget: dict[str, Any] | None = None,
    segmented: dict[str, Any] | None = None,
    published: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Summarise the published run, write its decisions report, log both to MLflow and close the run."""
    from pipelines.scoring.summary import summarize

    return summarize(load_config(), DAG_ID, dag_run_id, shard_results, mlflow_run_id, budget, segmented, published)
