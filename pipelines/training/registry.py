"""MLflow registry I/O: log and register a version, apply a gate decision, find the champion."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

import models
from models.pyfunc import (
    ESTIMATOR_ARTIFACT,
    HeraldResponsePyfunc,
    load_estimator,
    pip_requirements,
    schema_metadata,
    signature_for,
    synthetic_input_example,
    to_model_input,
)
from pipelines.config import REPO_ROOT, HeraldConfig
from pipelines.errors import RegistryError
from pipelines.tracking import connect
from pipelines.training.promotion import GateDecision
from pipelines.warehouse import get_warehouse

CHAMPION = "champion"
CHALLENGER = "challenger"
PROMOTIONS_TABLE = "model_promotions"


def input_example(estimator: Any, schema: dict[str, str]) -> pd.DataFrame:
    """The input example logged with the model, synthesised from its schema: never real training rows.

    The registry is widely shared, so no customer row or free text goes into it. Its first row is a
    hold-out (message columns empty), as in serving.
    """
    return to_model_input(synthetic_input_example(schema, getattr(estimator, "preprocessor", None)), schema)


@dataclass
class RegisteredModel:
    """One registered model version and which estimator it holds."""

    name: str
    version: str
    model_uri: str
    estimator: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def predict_served(model: mlflow.pyfunc.PyFuncModel, rows: pd.DataFrame) -> np.ndarray:
    """Predict with a loaded pyfunc from raw rows: its input columns, cast by the pyfunc itself."""
    names = [spec.name for spec in model.metadata.get_input_schema().inputs]
    return np.asarray(model.predict(rows[names]), dtype=np.float64)


def register_challenger(
    cfg: HeraldConfig,
    mlflow_run_id: str,
    estimator_path: str,
    estimator_name: str,
    example_rows: pd.DataFrame,
    tags: dict[str, str] | None = None,
    alias: str | None = CHALLENGER,
) -> RegisteredModel:
    """Log the pyfunc (preprocessing + model) in the given MLflow run, register it and set ``alias``.

    A retried task finds the version already registered from this run and reuses it, so Airflow
    retries never leave duplicate versions behind. A re-run of the same DAG run (``tags`` carry
    its ``dag_run_id``) trains in a new MLflow child run; it too reuses the version that DAG run
    registered for this estimator, so one DAG run never holds two versions of one estimator.
    """
    client = connect(cfg)
    done = client.search_model_versions(f"name = '{cfg.model_name}' AND run_id = '{mlflow_run_id}'")
    dag_run_id = (tags or {}).get("dag_run_id")
    if not done and dag_run_id:
        done = client.search_model_versions(
            f"name = '{cfg.model_name}' AND tags.dag_run_id = '{dag_run_id}' AND tags.estimator = '{estimator_name}'"
        )
    version = (
        max((str(v.version) for v in done), key=int)
        if done
        else _log_and_register(cfg, mlflow_run_id, estimator_path, example_rows)
    )
    if alias:
        client.set_registered_model_alias(cfg.model_name, alias, version)
    all_tags = {"estimator": estimator_name, "git_commit": git_commit(), **(tags or {})}
    for key, value in all_tags.items():
        client.set_model_version_tag(cfg.model_name, version, key, str(value))
    return RegisteredModel(cfg.model_name, version, f"models:/{cfg.model_name}/{version}", estimator_name)


def _log_and_register(cfg: HeraldConfig, mlflow_run_id: str, estimator_path: str, example_rows: pd.DataFrame) -> str:
    estimator = load_estimator(Path(estimator_path))
    schema = estimator.input_schema()
    example = input_example(estimator, schema)  # example_rows is unused: no real rows reach the registry
    signature = signature_for(schema)
    with mlflow.start_run(run_id=mlflow_run_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=HeraldResponsePyfunc(),
            artifacts={ESTIMATOR_ARTIFACT: estimator_path},
            code_paths=[str(Path(models.__file__).parent)],
            signature=signature,
            input_example=example,
            metadata=schema_metadata(schema),
            pip_requirements=pip_requirements(),
            registered_model_name=cfg.model_name,
        )
    return str(info.registered_model_version)


def apply_decision(
    cfg: HeraldConfig, run_id: str, decision: GateDecision, tags: dict[str, str] | None = None
) -> GateDecision:
    """Move the champion alias when promoted, tag the version with the verdict (and ``tags``, e.g. a
    fairness waiver), record it.

    Every decision, promoted or not, is written to ``model_promotions`` and tagged on the model
    version, so "which model served on date D" is answerable.
    """
    client = connect(cfg)
    if decision.promoted:
        client.set_registered_model_alias(cfg.model_name, CHAMPION, decision.version)
    client.set_model_version_tag(cfg.model_name, decision.version, "gate.promoted", str(decision.promoted))
    client.set_model_version_tag(cfg.model_name, decision.version, "gate.reasons", "; ".join(decision.reasons))
    for key, value in (tags or {}).items():
        client.set_model_version_tag(cfg.model_name, decision.version, key, value)
    aliases = client.get_model_version(cfg.model_name, decision.version).aliases
    record_promotion(cfg, run_id, decision, ",".join(sorted(aliases)) or None)
    return decision


def record_promotion(cfg: HeraldConfig, run_id: str, decision: GateDecision, aliases: str | None) -> None:
    """Append the gate's decision (who, what, when, why) to the promotions table, one row per version."""
    row = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "decided_at": pd.Timestamp(datetime.now(UTC)),
                "model_name": cfg.model_name,
                "version": decision.version,
                "alias": aliases,
                "previous_champion_version": decision.champion_version,
                "promoted": decision.promoted,
                "actor": "herald_training gate",
                "reason": "; ".join(decision.reasons),
                "metrics": json.dumps(
                    {"challenger_auc": decision.challenger_auc, "champion_auc": decision.champion_auc}
                ),
            }
        ]
    )
    with get_warehouse(cfg) as warehouse:
        warehouse.write(
            PROMOTIONS_TABLE, row, mode="replace_run", run_filter={"run_id": run_id, "version": decision.version}
        )


def champion_at(cfg: HeraldConfig, at: datetime) -> dict[str, Any] | None:
    """Which version was champion at ``at``, from the promotions table (MLflow keeps no alias history)."""
    with get_warehouse(cfg) as warehouse:
        if not warehouse.has_table(PROMOTIONS_TABLE):
            return None
        found = warehouse.query("champion_at", {"at": at})
    return None if found.empty else found.iloc[0].to_dict()


def current_champion(cfg: HeraldConfig) -> RegisteredModel | None:
    """The version behind the champion alias, or None before the first promotion."""
    client = connect(cfg)
    try:
        version = client.get_model_version_by_alias(cfg.model_name, CHAMPION)
    except MlflowException:
        return None
    return RegisteredModel(
        cfg.model_name,
        str(version.version),
        f"models:/{cfg.model_name}@{CHAMPION}",
        version.tags.get("estimator", "unknown"),
    )


def served_estimator(cfg: HeraldConfig, model: RegisteredModel) -> Any:
    """The estimator inside a registered version's pyfunc (preprocessing included), as scoring serves it."""
    connect(cfg)
    return mlflow.pyfunc.load_model(model.model_uri).unwrap_python_model().estimator


def load_champion(cfg: HeraldConfig) -> RegisteredModel:
    """The champion version; RegistryError naming the fix before the first promotion."""
    champion = current_champion(cfg)
    if champion is None:
        raise RegistryError(
            f"no '{CHAMPION}' alias on registered model {cfg.model_name} at {cfg.tracking_uri}; "
            "run the herald_training DAG first"
        )
    return champion


def git_commit() -> str:
    """The checkout's commit, recorded on every version ("unknown" outside git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
