"""Model quality on the synthetic world: each model's test AUC against the true probabilities' AUC."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from pipelines.config import HeraldConfig
from pipelines.evaluate import normalised_auc


def prepare_training(cfg: HeraldConfig, run_id: str = "bench-quality") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Build the world (if absent), extract, validate, build the training set and train every model."""
    from pipelines.cli import build_world
    from pipelines.flows import training

    if not cfg.duckdb_path.exists():
        build_world(cfg)
    as_of = datetime.now(timezone.utc).isoformat()
    mlflow_run = training.start(run_id, as_of)
    extracted = training.extract(run_id, as_of)
    validated = training.validate(run_id, extracted, mlflow_run)
    training_set = training.build_features(run_id, validated, extracted)
    trained = training.train_baselines(run_id, training_set, mlflow_run)
    if hasattr(training, "train_deep"):
        trained += [training.train_deep(run_id, training_set, mlflow_run)]
    return training_set, trained


def run(cfg: HeraldConfig) -> dict[str, Any]:
    from models.pyfunc import load_estimator
    from pipelines.synthetic import load_oracle
    from pipelines.train import load_rows

    training_set, trained = prepare_training(cfg)
    test = load_rows(training_set["rows_path"], "test")
    oracle = load_oracle(cfg.home / "world")
    truth = oracle.send_truth.set_index("send_id")["p_true"]
    y = test["label"].to_numpy()
    oracle_auc = float(roc_auc_score(y, truth.reindex(test["send_id"]).to_numpy()))
    models: dict[str, dict[str, float]] = {}
    for model in trained:
        p = load_estimator(model["estimator_path"]).predict_proba(test)
        auc = float(roc_auc_score(y, p))
        models[model["name"]] = {"auc": auc, "norm_auc": normalised_auc(auc, oracle_auc)}
    return {
        "oracle_auc": oracle_auc,
        "models": models,
        "test_rows": int(len(test)),
        "test_positive_rate": float(np.mean(y)),
        "note": "AUCs on the newest 20% of logged sends (time split); oracle = AUC of the world's true P(convert).",
        "split_counts": training_set["split_counts"],
    }


