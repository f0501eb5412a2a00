"""Model quality on the synthetic world: each model's test AUC against the true probabilities' AUC."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from pipelines.config import HeraldConfig
from pipelines.training.evaluate import normalised_auc


def train_through_dag(cfg: HeraldConfig) -> None:
    """Build the world (if absent) and run ``herald_training`` through the runner the CLI uses.

    The flows read their config from the environment, so ``cfg`` must be the environment's config.
    """
    from pipelines.flows.runner import migrate, run_dag
    from pipelines.synthetic import build_world

    if not cfg.duckdb_path.exists() or not (cfg.home / "world" / "params.parquet").exists():
        build_world(cfg)
    migrate(cfg)
    run_dag(cfg, "herald_training")


def prepare_training_set(cfg: HeraldConfig) -> tuple[dict[str, Any], str]:
    """The training set of one real ``herald_training`` run and that run's MLflow run id."""
    from pipelines.flows.runner import task_result

    train_through_dag(cfg)
    started = task_result(cfg, "herald_training", "start")
    return task_result(cfg, "herald_training", "build_features"), started["mlflow_run_id"]  # type: ignore[index,return-value]


def prepare_training(cfg: HeraldConfig) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The training set plus every model the training DAG fitted on it (its tasks' own results)."""
    from pipelines.flows.runner import task_result

    training_set, _ = prepare_training_set(cfg)
    trained = [
        *task_result(cfg, "herald_training", "train_baselines"),  # type: ignore[misc]
        *task_result(cfg, "herald_training", "train_deep"),  # type: ignore[misc]
    ]
    return training_set, trained


def run(cfg: HeraldConfig) -> dict[str, Any]:
    from models.pyfunc import load_estimator
    from pipelines.training.dataset import load_rows

    training_set, trained = prepare_training(cfg)
    test = load_rows(training_set["rows_path"], "test")
    y = test["label"].to_numpy()
    oracle = oracle_auc(cfg, test)
    models: dict[str, dict[str, float]] = {}
    for model in trained:
        # The newest fold's fit never saw the test block; the served file was refitted on it.
        p = load_estimator(model.get("review_path") or model["estimator_path"]).predict_proba(test)
        auc = float(roc_auc_score(y, p))
        models[model["name"]] = {"auc": auc, "norm_auc": normalised_auc(auc, oracle)}
    bound = latent_bound_auc(cfg, training_set["rows_path"])
    return {
        "oracle_auc": oracle,
        "models": models,
        "test_rows": int(len(test)),
        "test_positive_rate": float(np.mean(y)),
        "note": "AUCs on the newest 20% of logged sends (time split); oracle = AUC of the world's true P(convert).",
        "split_counts": training_set["split_counts"],
        "diagnostics": {
            "lightgbm_on_true_latents_auc": bound,
            "latent_auc_lost_without_trait": trait_importance(cfg, training_set["rows_path"], bound),
        },
    }


def oracle_auc(cfg: HeraldConfig, test: pd.DataFrame) -> float:
    """AUC of the world's true P(convert) on the logged test sends: the ceiling for any model."""
    from pipelines.synthetic import load_oracle

    truth = load_oracle(cfg.home / "world").send_truth.set_index("send_id")["p_true"]
    return float(roc_auc_score(test["label"].to_numpy(), truth.reindex(test["send_id"]).to_numpy()))


def latent_bound_auc(cfg: HeraldConfig, rows_path: str) -> float:
    """Test AUC of LightGBM fed the world's hidden customer traits instead of observed behaviour.

    A diagnostic, not a model: it says how much of the gap to the oracle comes from traits the
    data only hints at, versus what a model fails to extract from the data it has.
    """
    from pipelines.training.dataset import load_rows

    scorer = fit_latent_scorer(cfg, rows_path)
    test = load_rows(rows_path, "test")
    return float(roc_auc_score(test["label"], scorer(test)))


def trait_importance(cfg: HeraldConfig, rows_path: str, full: float) -> dict[str, float]:
    """Test AUC the latent-trait LightGBM (``full`` with every trait) loses when one trait is withheld, largest first.

    Traits with a large loss that no observed column reveals are what keeps every model of the
    observed data from the oracle.
    """
    from pipelines.synthetic import load_oracle
    from pipelines.training.dataset import load_rows

    test = load_rows(rows_path, "test")
    columns = load_oracle(cfg.home / "world").customer_truth.columns
    traits = {
        "affinity": [c for c in columns if c.startswith("aff_")],
        "channel_preference": [c for c in columns if c.startswith("pref_") and c != "pref_hour"],
    }
    traits.update({c: [c] for c in columns if c != "customer_id" and not any(c in v for v in traits.values())})
    lost = {
        name: full - float(roc_auc_score(test["label"], fit_latent_scorer(cfg, rows_path, withheld=cols)(test)))
        for name, cols in traits.items()
    }
    return dict(sorted(lost.items(), key=lambda kv: -kv[1]))


LATENT_ROW_COLUMNS = ["customer_id", "message_id", "channel", "send_hour", "recent_sends_7d"]


def fit_latent_scorer(
    cfg: HeraldConfig, rows_path: str, withheld: list[str] | None = None
) -> Callable[[pd.DataFrame], np.ndarray]:
    """LightGBM trained on the training split with the hidden traits (less ``withheld``); scores model rows."""
    import lightgbm as lgb

    from pipelines.synthetic import load_oracle
    from pipelines.training.dataset import load_rows

    oracle = load_oracle(cfg.home / "world")
    truth = oracle.customer_truth.set_index("customer_id").drop(columns=withheld or [])
    messages = oracle.message_truth.set_index("message_id")[["category", "tone", "offer_type", "discount_pct"]]

    def traits(rows: pd.DataFrame) -> pd.DataFrame:
        frame = rows[LATENT_ROW_COLUMNS].join(truth, on="customer_id").join(messages.add_prefix("m_"), on="message_id")
        for col in ("channel", "m_category", "m_tone", "m_offer_type"):
            frame[col] = frame[col].astype("category")
        return frame.drop(columns=["customer_id", "message_id"])

    rows = load_rows(rows_path)
    train, valid = (rows[rows["split"] == s] for s in ("train", "valid"))
    booster = lgb.train(
        {
            "objective": "binary",
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_data_in_leaf": 100,
            "verbose": -1,
            "num_threads": 2,
            "seed": 7,
        },
        lgb.Dataset(traits(train), train["label"]),
        800,
        valid_sets=[lgb.Dataset(traits(valid), valid["label"])],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    return lambda frame: np.asarray(booster.predict(traits(frame.reset_index(drop=True))), dtype=np.float64)
