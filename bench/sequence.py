"""The event-sequence encoder choice: the deep model with a GRU, a small transformer, or no sequence."""

from __future__ import annotations

import time
from typing import Any

from pipelines.config import HeraldConfig
from pipelines.training.evaluate import normalised_auc

VARIANTS: dict[str, dict[str, Any]] = {
    "gru": {"sequence": True, "sequence_encoder": "gru"},
    "transformer": {"sequence": True, "sequence_encoder": "transformer"},
    "no_sequence": {"sequence": False},
}


def run(cfg: HeraldConfig) -> dict[str, Any]:
    """Train the deep model once per variant on one training set (same seed) and compare."""
    from bench.quality import oracle_auc, prepare_training_set
    from pipelines.training.dataset import TrainingSet, load_rows
    from pipelines.training.fit import train_deep

    run_id = "bench-sequence"
    training_set, mlflow_run = prepare_training_set(cfg)
    ts = TrainingSet(**training_set)
    oracle = oracle_auc(cfg, load_rows(ts.rows_path, "test"))
    variants: dict[str, dict[str, float]] = {}
    for name, settings in VARIANTS.items():
        variant_cfg = cfg.model_copy(update={"deep": cfg.deep.model_copy(update=settings)})
        started = time.perf_counter()
        trained = train_deep(variant_cfg, run_id, ts, mlflow_run)
        seconds = time.perf_counter() - started
        m = trained[0].metrics
        variants[name] = {
            "valid_auc": m["valid_auc"],
            "test_auc": m["test_auc"],
            "norm_auc": normalised_auc(m["test_auc"], oracle),
            "train_seconds": seconds,
        }
    return {
        "oracle_auc": oracle,
        "variants": variants,
        "note": "one fit per variant, same seed and split; train_seconds include encoding and early stopping",
        "split_counts": training_set["split_counts"],
    }
