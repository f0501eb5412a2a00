"""Fit the response models through the training protocol and log each as an MLflow child run.

``train_baselines`` and ``train_deep`` are the DAG's steps: every model goes through rolling-origin
folds, a refit on all labelled rows and out-of-fold calibration (``protocol.py``). ``fit_blend``
adds the deep + LightGBM + logistic-regression blend from their saved fits. ``fit_on_split`` is the
single-split fit the randomized-experiment flow uses, where customers, not time, separate training
from evaluation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from models.baselines import FixedActionResponse, LightGBMResponse, LogisticResponse
from models.calibration import BlendResponse, CalibratedResponse, stacking_weights
from models.preprocessing import TabularPreprocessor
from models.pyfunc import load_estimator, save_estimator
from pipelines.config import HeraldConfig
from pipelines.tracking import connect
from pipelines.training.dataset import TrainingSet, model_exclusions
from pipelines.training.evaluate import response_metrics
from pipelines.training.promotion import json_safe
from pipelines.training.protocol import (
    EstimatorFactory,
    cross_fitted_blend,
    cross_fitted_calibration,
    fit_calibrator,
    run_protocol,
)

BASELINES = ("logreg", "lightgbm", "fixed_action")
# Deep first: it speaks for the blend's embeddings. Logistic regression joins because on some worlds it is
# the best baseline; stacking weighs it at zero where it adds nothing.
BLEND_MEMBERS = ("deep", "lightgbm", "logreg")


@dataclass
class TrainedModel:
    """One fitted candidate: the served (refitted, calibrated) file, its review fit and its evidence."""

    name: str
    estimator_path: str
    metrics: dict[str, float]
    mlflow_run_id: str
    review_path: str = ""  # newest fold's fit, for review material on the newest block
    oof_path: str = ""  # out-of-fold scores (raw and cross-fitted calibrated) per row
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return json_safe(asdict(self))


def deep_settings(cfg: HeraldConfig) -> Any:
    """The deep model's settings from Herald's config, the text cache under HERALD_HOME."""
    return cfg.deep.model_copy(update={"text_cache_dir": str(cfg.home / "cache" / "text")})


def factory(cfg: HeraldConfig, name: str) -> tuple[EstimatorFactory, bool]:
    """(rows, iterations) -> unfitted estimator for ``name``, and whether it stops early."""
    exclude = model_exclusions(cfg)

    def prep(rows: pd.DataFrame) -> TabularPreprocessor:
        return TabularPreprocessor.fit(rows, exclude=exclude)

    if name == "logreg":
        return (lambda rows, n: LogisticResponse(prep(rows))), False
    if name == "fixed_action":
        return (lambda rows, n: FixedActionResponse(prep(rows))), False
    if name == "lightgbm":
        return (lambda rows, n: LightGBMResponse(prep(rows), rounds=n or LightGBMResponse.rounds)), True
    if name == "deep":
        from models.deep import DeepResponse  # torch is heavy; only the deep task needs it

        settings = deep_settings(cfg)

        def make_deep(rows: pd.DataFrame, n: int | None) -> Any:
            return DeepResponse(prep(rows), settings if n is None else settings.model_copy(update={"max_epochs": n}))

        return make_deep, True
    raise ValueError(f"unknown model {name!r}; known: logreg, lightgbm, fixed_action, deep")


def oof_metrics(y: np.ndarray, calibrated: np.ndarray, fold: np.ndarray) -> dict[str, float]:
    """Figures on out-of-fold rows: per block, ``valid_``/``test_`` for the two newest, ``cv_`` pooled."""
    newest = int(fold.max())
    out: dict[str, float] = {}
    for k in range(1, newest + 1):
        m = fold == k
        prefix = "test" if k == newest else "valid" if k == newest - 1 else f"fold{k}"
        out.update({f"{prefix}_{key}": v for key, v in response_metrics(y[m], calibrated[m]).items()})
    m = fold > 0
    out.update({f"cv_{key}": v for key, v in response_metrics(y[m], calibrated[m]).items()})
    return out


def fit_candidate(cfg: HeraldConfig, name: str, rows: pd.DataFrame, out_dir: Path, parent_run_id: str) -> TrainedModel:
    """One model through the protocol, logged as the nested MLflow run ``name``."""
    make, stops = factory(cfg, name)
    fold = rows["fold"].to_numpy()
    result = run_protocol(
        make, rows, fold, early_stopping=stops, stop_share=cfg.cv_stop_share, calibration=cfg.calibration
    )
    y = rows["label"].to_numpy().astype(int)
    metrics = oof_metrics(y, result.calibrated, fold)
    oof = pd.DataFrame(
        {"row": np.arange(len(rows)), "fold": fold, "raw": result.cv.scores, "calibrated": result.calibrated}
    )
    params = {
        "protocol": f"rolling origin, {cfg.cv_folds} folds of {cfg.cv_fold_share:.0%}; refit on all rows",
        "refit_iterations": result.iterations,
        "fold_iterations": str(result.cv.best_iterations),
        "calibration": result.served.calibrator.chosen,
    }
    return log_candidate(name, result.served, result.reviewed, oof[fold > 0], metrics, params, out_dir, parent_run_id)


def log_candidate(
    name: str,
    served: CalibratedResponse,
    reviewed: CalibratedResponse,
    oof: pd.DataFrame,
    metrics: dict[str, float],
    params: dict[str, Any],
    out_dir: Path,
    parent_run_id: str,
) -> TrainedModel:
    """Save the served and reviewed fits and out-of-fold scores; log params, metrics, loss curve."""
    with mlflow.start_run(run_id=parent_run_id):
        with mlflow.start_run(run_name=name, nested=True) as child:
            base = served.base
            prep = getattr(base, "preprocessor", None)
            extra = base.params() if callable(getattr(base, "params", None)) else {}
            mlflow.log_params(
                {
                    "model": name,
                    **({"n_categorical": len(prep.categorical), "n_numeric": len(prep.numeric)} if prep else {}),
                    **params,
                    **extra,
                }
            )
            mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
            if np.isfinite(getattr(base, "fit_seconds", float("nan"))):
                mlflow.log_metric("fit_seconds", base.fit_seconds)
            for point in getattr(base, "history", []):  # the refit's loss curve, one step per epoch
                mlflow.log_metrics(
                    {k: v for k, v in point.items() if k != "epoch" and np.isfinite(v)}, step=int(point["epoch"])
                )
            path = save_estimator(served, out_dir / f"{name}.joblib")
            review_path = save_estimator(reviewed, out_dir / f"{name}_review.joblib")
            oof_path = out_dir / f"{name}_oof.parquet"
            oof.to_parquet(oof_path, index=False)
    return TrainedModel(name, str(path), metrics, child.info.run_id, str(review_path), str(oof_path), params)


def train_baselines(cfg: HeraldConfig, run_id: str, training: TrainingSet, parent_run_id: str) -> list[TrainedModel]:
    """Logistic regression, LightGBM and the fixed-action rates through the protocol, each a child run."""
    rows = pd.read_parquet(training.rows_path)
    connect(cfg)
    return [fit_candidate(cfg, name, rows, cfg.run_dir(run_id) / "models", parent_run_id) for name in BASELINES]


def train_deep(cfg: HeraldConfig, run_id: str, training: TrainingSet, parent_run_id: str) -> list[TrainedModel]:
    """The deep model through the protocol as the child run "deep"; empty when it is switched off."""
    if not cfg.deep.enabled:
        return []
    rows = pd.read_parquet(training.rows_path)
    connect(cfg)
    return [fit_candidate(cfg, "deep", rows, cfg.run_dir(run_id) / "models", parent_run_id)]


def fit_blend(
    cfg: HeraldConfig, run_id: str, training: TrainingSet, trained: list[dict[str, Any]], parent_run_id: str
) -> list[TrainedModel]:
    """Deep, LightGBM and logreg as one model (logits weighted by stacking), calibrated out of fold like the others.

    No member is trained again: their own fits and out-of-fold scores are combined, the weights
    stacked on those scores (``stacking_weights``) and cross-fitted for the blend's own evidence.
    The served blend weighs by all out-of-fold rows, the reviewed one by all but the newest block.
    Empty when the blend is switched off (``HERALD_TRAINING_BLEND``) or a member is missing.
    """
    by_name = {m["name"]: m for m in trained}
    if not cfg.training_blend or not all(n in by_name for n in BLEND_MEMBERS):
        return []
    rows = pd.read_parquet(training.rows_path)
    oofs = [pd.read_parquet(by_name[n]["oof_path"]) for n in BLEND_MEMBERS]
    fold, idx = oofs[0]["fold"].to_numpy(), oofs[0]["row"].to_numpy()
    y = rows["label"].to_numpy().astype(int)[idx]
    raws = [o["raw"].to_numpy() for o in oofs]
    calibrated = cross_fitted_calibration(cross_fitted_blend(raws, y, fold), y, fold, cfg.calibration)
    final_weights = stacking_weights(raws, y)
    raw = BlendResponse.combine(raws, final_weights)
    final_cal = fit_calibrator(raw, y, cfg.calibration)
    earlier = fold < fold.max()  # the reviewed blend never sees the newest block, as its members did not
    review_weights, review_cal = final_weights, final_cal
    if earlier.any():
        review_weights = stacking_weights([r[earlier] for r in raws], y[earlier])
        review_raw = BlendResponse.combine([r[earlier] for r in raws], review_weights)
        review_cal = fit_calibrator(review_raw, y[earlier], cfg.calibration)
    served_members = [load_estimator(Path(by_name[n]["estimator_path"])).base for n in BLEND_MEMBERS]
    reviewed_members = [load_estimator(Path(by_name[n]["review_path"])).base for n in BLEND_MEMBERS]
    served = CalibratedResponse(BlendResponse(served_members, final_weights), final_cal)
    reviewed = CalibratedResponse(BlendResponse(reviewed_members, review_weights), review_cal)
    oof = pd.DataFrame({"row": idx, "fold": fold, "raw": raw, "calibrated": calibrated})
    params = {
        "members": ",".join(BLEND_MEMBERS),
        "weights": ",".join(f"{w:.3f}" for w in final_weights),
        "weighting": "non-negative stacking on out-of-fold logits (Breiman 1996)",
        "calibration": final_cal.chosen,
    }
    connect(cfg)
    out_dir = cfg.run_dir(run_id) / "models"
    metrics = oof_metrics(y, calibrated, fold)
    return [log_candidate("blend", served, reviewed, oof, metrics, params, out_dir, parent_run_id)]


def fit_on_split(
    cfg: HeraldConfig, run_id: str, training: TrainingSet, parent_run_id: str, names: tuple[str, ...]
) -> list[TrainedModel]:
    """Fit on ``split == "train"``, stop early on "valid", report on "test": no refit, no calibration.

    For rows split by something other than time (the randomized experiments split customers at
    random, and their test customers must never train the model that is valued on them).
    """
    rows = pd.read_parquet(training.rows_path)
    train, valid, test = (rows[rows["split"] == s] for s in ("train", "valid", "test"))
    out_dir, trained = cfg.run_dir(run_id) / "models", []
    connect(cfg)
    for name in names:
        make, stops = factory(cfg, name)
        estimator = make(train, None).fit(train, valid if stops else None)
        metrics = {
            f"{split}_{k}": v
            for split, frame in (("valid", valid), ("test", test))
            for k, v in response_metrics(frame["label"].to_numpy(), estimator.predict_proba(frame)).items()
        }
        with mlflow.start_run(run_id=parent_run_id), mlflow.start_run(run_name=name, nested=True) as child:
            mlflow.log_params({"model": name, "n_train": len(train)})
            mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
            path = save_estimator(estimator, out_dir / f"{name}.joblib")
        trained.append(TrainedModel(name, str(path), metrics, child.info.run_id))
    return trained
