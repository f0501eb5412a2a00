"""Tasks of ``herald_training``: extract → validate → features → baselines ∥ deep → register → gate → fallback.

Each task calls the step of the same name in ``pipelines/training``. From ``register`` on, the
tasks pass one run record along: the run's ids, training set, candidates, selection and the
registered version.
"""

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
    """Labelled rows with their rolling-origin folds, customer and message features (paths)."""
    from pipelines.training.dataset import build_features as build

    cutoff = datetime.fromisoformat(extracted["windows"]["feature_cutoff"])
    as_of = datetime.fromisoformat(extracted["windows"]["as_of"])
    return build(load_config(), dag_run_id, validated["paths"], cutoff, as_of).to_dict()


def train_baselines(dag_run_id: str, training: dict[str, Any], mlflow_run_id: str) -> list[dict[str, Any]]:
    """Logistic regression, LightGBM and fixed-action rates through the training protocol."""
    from pipelines.training import fit
    from pipelines.training.dataset import TrainingSet

    return [m.to_dict() for m in fit.train_baselines(load_config(), dag_run_id, TrainingSet(**training), mlflow_run_id)]


def train_deep(dag_run_id: str, training: dict[str, Any], mlflow_run_id: str) -> list[dict[str, Any]]:
    """The deep model through the protocol, as a list (empty when switched off)."""
    from pipelines.training import fit
    from pipelines.training.dataset import TrainingSet

    return [m.to_dict() for m in fit.train_deep(load_config(), dag_run_id, TrainingSet(**training), mlflow_run_id)]


def register(
    dag_run_id: str,
    mlflow_run_id: str,
    training: dict[str, Any],
    trained: list[dict[str, Any]],
    validated: dict[str, Any],
) -> dict[str, Any]:
    """Choose the challenger on intervals and register it; returns the run record later tasks take."""
    from pipelines.tracking import server_calls
    from pipelines.training import release

    cfg = load_config()
    validation = {k: v for k, v in validated.items() if k != "paths"}
    # A retry after the server came back reuses the version this run registered (register_challenger).
    with server_calls(cfg, "registering the challenger"):
        released = release.register(cfg, dag_run_id, training, trained, validation, mlflow_run_id)
    return {
        "dag_run_id": dag_run_id,
        "mlflow_run_id": mlflow_run_id,
        "training": training,
        "validation": validation,
        **released,
    }


def gate(record: dict[str, Any]) -> dict[str, Any]:
    """Judge the registered challenger and move the champion alias when it passes."""
    from pipelines.training import release

    return release.gate(
        load_config(),
        record["dag_run_id"],
        record["training"],
        record["trained"],
        record["registered"],
        record["selection"],
    ).to_dict()


def gate_fallback(record: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    """When the challenger is refused: the next eligible candidate, or the fixed action on a first run."""
    from pipelines.training import release

    return release.gate_fallback(
        load_config(),
        record["dag_run_id"],
        record["training"],
        record["trained"],
        record["selection"],
        record["registered"],
        decision,
        record["validation"],
    )


def finish(record: dict[str, Any], rows: dict[str, Any], decision: dict[str, Any], fallback: dict[str, Any]) -> dict:
    """Close the MLflow run and leave the run's summary (what serves now, and why) for people and the demo."""
    from pipelines.training.summary import finish

    return finish(load_config(), DAG_ID, record, rows, decision, fallback)
