"""Tasks of ``herald_training``: extract → validate → features → train → register → gate → fallback."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from pipelines.config import load_config
from pipelines.flows import common

DAG_ID = "herald_training"

start = partial(common.start, DAG_ID)
extract = partial(common.extract, "training")
validate = partial(common.validate, "training")


def build_features(dag_run_id: str, validated: dict[str, Any], extracted: dict[str, Any]) -> dict[str, Any]:
    from pipelines.training.fit import build_training_set

    cutoff = datetime.fromisoformat(extracted["windows"]["feature_cutoff"])
    as_of = datetime.fromisoformat(extracted["windows"]["as_of"])
    return build_training_set(load_config(), dag_run_id, validated["paths"], cutoff, as_of).to_dict()


def train_baselines(dag_run_id: str, training: dict[str, Any], mlflow_run_id: str) -> list[dict[str, Any]]:
    from pipelines.training.fit import TrainingSet
    from pipelines.training.fit import train_baselines as fit

    return [m.to_dict() for m in fit(load_config(), dag_run_id, TrainingSet(**training), mlflow_run_id)]


def train_deep(dag_run_id: str, training: dict[str, Any], mlflow_run_id: str) -> list[dict[str, Any]]:
    """The deep model as a list (empty when switched off), so register/gate take baselines + deep."""
    from pipelines.training.fit import TrainingSet
    from pipelines.training.fit import train_deep as fit

    cfg = load_config()
    if not cfg.deep.enabled:
        return []
    return [fit(cfg, dag_run_id, TrainingSet(**training), mlflow_run_id).to_dict()]


def register(
    dag_run_id: str,
    training: dict[str, Any],
    trained: list[dict[str, Any]],
    mlflow_run_id: str,
    validation: dict[str, Any],
) -> dict[str, Any]:
    """Register the deep model (or, when it is switched off, the best baseline) as challenger."""
    from pipelines.tracking import server_calls
    from pipelines.training.release import log_comparison, pick_challenger, register_candidate

    cfg = load_config()
    # A retry after the server came back reuses the version this run registered (register_challenger).
    with server_calls(cfg, "registering the challenger"):
        log_comparison(cfg, trained, mlflow_run_id)
        return register_candidate(
            cfg, dag_run_id, training, trained, pick_challenger(trained)["name"], validation
        ).to_dict()


def gate(
    dag_run_id: str, training: dict[str, Any], registered: dict[str, Any], trained: list[dict[str, Any]]
) -> dict[str, Any]:
    from pipelines.training.release import gate_candidate

    return gate_candidate(load_config(), dag_run_id, training, registered, trained).to_dict()


def gate_fallback(
    dag_run_id: str,
    training: dict[str, Any],
    trained: list[dict[str, Any]],
    registered: dict[str, Any],
    decision: dict[str, Any],
    validation: dict[str, Any],
) -> dict[str, Any]:
    from pipelines.training.release import gate_fallback as gate_best_baseline

    return gate_best_baseline(load_config(), dag_run_id, training, trained, registered, decision, validation)


def finish(
    dag_run_id: str,
    mlflow_run_id: str,
    extracted: dict[str, Any],
    validated: dict[str, Any],
    trained: list[dict[str, Any]],
    registered: dict[str, Any],
    decision: dict[str, Any],
    fallback: dict[str, Any],
) -> dict[str, Any]:
    """Close the MLflow run and leave the run's summary for people and the demo."""
    from pipelines.flows.summary import write_run_summary
    from pipelines.tracking import finish_dag_run

    cfg = load_config()
    summary = {
        "dag_run_id": dag_run_id,
        "rows": extracted["rows"],
        "validation": {k: v for k, v in validated.items() if k != "paths"},
        "models": {m["name"]: {k: v for k, v in m["metrics"].items() if k.startswith("test_")} for m in trained},
        "releases": [
            {"registered": registered, "gate": decision},
            *([{"registered": fallback["registered"], "gate": fallback["decision"]}] if fallback["gated"] else []),
        ],
    }
    write_run_summary(cfg, DAG_ID, summary)
    finish_dag_run(cfg, mlflow_run_id)
    served = fallback["decision"] if fallback["gated"] and fallback["decision"]["promoted"] else decision
    return {"promoted": served["promoted"], "version": served["version"]}
