"""Build the training set from validated extracts and train the response models on one time split."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from models.baselines import LightGBMResponse, LogisticResponse
from models.preprocessing import TabularPreprocessor
from models.pyfunc import save_estimator
from pipelines.config import HeraldConfig
from pipelines.tracking import connect
from pipelines.training import features
from pipelines.training.evaluate import response_metrics
from pipelines.warehouse.extract import load_extract


@dataclass
class TrainingSet:
    """Paths and facts of one training set; small enough for XCom."""

    rows_path: str
    customers_path: str
    reference_path: str
    messages_path: str
    feature_cutoff: str
    split_counts: dict[str, int]
    positive_rate: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def build_training_set(
    cfg: HeraldConfig, run_id: str, extract_paths: dict[str, str], feature_cutoff: datetime, as_of: datetime
) -> TrainingSet:
    """Join sends (labels) with customer features as of the cutoff and message attributes.

    The split is by time: oldest sends train, the next validate, the newest test, so the test
    figures say how the model does on sends it could not have seen.
    """
    tables = load_extract(extract_paths)
    customers = features.customer_features(
        tables["customers"],
        tables.get("events"),
        tables.get("reviews"),
        feature_cutoff,
        cfg.region_timezones,
        cfg.event_history_days,
    )
    # Today's features, computed exactly as scoring will: the reference that drift is measured from.
    reference = features.customer_features(
        tables["customers"],
        tables.get("events"),
        tables.get("reviews"),
        as_of,
        cfg.region_timezones,
        cfg.event_history_days,
    )
    messages = features.message_features(tables["messages"], cfg.assets_dir)
    actions = features.send_actions(
        tables["sends"], tables["customers"], cfg.region_timezones, since=feature_cutoff, target=cfg.target
    )
    rows = features.model_rows(actions, customers, messages)
    rows["split"] = time_split(rows["sent_at"], cfg.validation_share, cfg.test_share)
    out = cfg.run_dir(run_id) / "features"
    out.mkdir(parents=True, exist_ok=True)
    rows.to_parquet(out / "training_rows.parquet", index=False)
    customers.to_parquet(out / "customer_features.parquet", index=False)
    reference.to_parquet(out / "customer_features_reference.parquet", index=False)
    messages.to_parquet(out / "message_features.parquet", index=False)
    return TrainingSet(
        rows_path=str(out / "training_rows.parquet"),
        customers_path=str(out / "customer_features.parquet"),
        reference_path=str(out / "customer_features_reference.parquet"),
        messages_path=str(out / "message_features.parquet"),
        feature_cutoff=pd.Timestamp(feature_cutoff).isoformat(),
        split_counts={k: int(v) for k, v in rows["split"].value_counts().items()},
        positive_rate=float(rows["label"].mean()) if len(rows) else float("nan"),
    )


def time_split(sent_at: pd.Series, validation_share: float, test_share: float) -> np.ndarray:
    """Label rows train/valid/test by send time quantiles (ties stay together)."""
    ts = pd.to_datetime(sent_at, utc=True)
    valid_from = ts.quantile(1 - test_share - validation_share)
    test_from = ts.quantile(1 - test_share)
    return np.where(ts >= test_from, "test", np.where(ts >= valid_from, "valid", "train"))


def model_exclusions(cfg: HeraldConfig) -> list[str]:
    """Protected attributes and configured columns are never model inputs.

    A protected attribute becomes an input only when ``privacy.allow_protected_inputs`` names it;
    the registered version then records it (tag ``privacy.protected_inputs``).
    """
    allowed = set(cfg.privacy.allow_protected_inputs)
    protected = [a for a in cfg.protected_attributes if a not in allowed]
    return [*protected, *cfg.excluded_customer_columns, "split", "is_holdout"]


@dataclass
class TrainedModel:
    name: str
    estimator_path: str
    metrics: dict[str, float]
    mlflow_run_id: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _splits(training: TrainingSet) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows = pd.read_parquet(training.rows_path)
    train, valid, test = (rows[rows["split"] == s] for s in ("train", "valid", "test"))
    return train, valid, test


def fit_and_log(
    estimator: Any,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    out_dir: Path,
    parent_run_id: str,
) -> TrainedModel:
    """Fit one estimator as a nested MLflow child run: params, valid/test metrics, learning curve, file."""
    with mlflow.start_run(run_id=parent_run_id):
        with mlflow.start_run(run_name=estimator.name, nested=True) as child:
            estimator.fit(train, valid)
            metrics = {
                f"{split}_{k}": v
                for split, frame in (("valid", valid), ("test", test))
                for k, v in response_metrics(frame["label"].to_numpy(), estimator.predict_proba(frame)).items()
            }
            prep = estimator.preprocessor
            # LightGBMResponse.params is its booster settings (a dict), not a method: only call a callable.
            extra = estimator.params() if callable(getattr(estimator, "params", None)) else {}
            mlflow.log_params(
                {
                    "model": estimator.name,
                    "n_train": len(train),
                    "n_categorical": len(prep.categorical),
                    "n_numeric": len(prep.numeric),
                    **extra,
                }
            )
            mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
            if np.isfinite(getattr(estimator, "fit_seconds", float("nan"))):
                mlflow.log_metric("fit_seconds", estimator.fit_seconds)
            for point in getattr(estimator, "history", []):  # the loss curve, one step per epoch
                mlflow.log_metrics(
                    {k: v for k, v in point.items() if k != "epoch" and np.isfinite(v)}, step=int(point["epoch"])
                )
            path = save_estimator(estimator, out_dir / f"{estimator.name}.joblib")
    return TrainedModel(estimator.name, str(path), metrics, child.info.run_id)


def train_baselines(cfg: HeraldConfig, run_id: str, training: TrainingSet, parent_run_id: str) -> list[TrainedModel]:
    """Fit logistic regression and LightGBM on the same split; each is a child run in MLflow."""
    train, valid, test = _splits(training)
    preprocessor = TabularPreprocessor.fit(train, exclude=model_exclusions(cfg))
    out_dir = cfg.run_dir(run_id) / "models"
    connect(cfg)
    trained = [
        fit_and_log(estimator, train, valid, test, out_dir, parent_run_id)
        for estimator in (LogisticResponse(preprocessor), LightGBMResponse(preprocessor))
    ]
    (out_dir / "baselines.json").write_text(json.dumps([t.to_dict() for t in trained], indent=2))
    return trained


def deep_config(cfg: HeraldConfig):  # noqa: ANN201 - models.deep is imported lazily (torch)
    """The deep model's settings from Herald's config; the text cache lives under HERALD_HOME."""
    from models.deep import DeepConfig

    d = cfg.deep
    return DeepConfig(
        max_epochs=d.max_epochs,
        batch_size=d.batch_size,
        hidden=d.hidden,
        head_hidden=d.head_hidden,
        seq_hidden=d.seq_hidden,
        sequence_encoder=d.sequence_encoder,
        wide=d.wide,
        ensemble=d.ensemble,
        auxiliary_weight=d.auxiliary_weight,
        sequence=d.sequence,
        reviews=d.reviews,
        text=d.text,
        images=d.images,
        seed=d.seed,
        text_cache_dir=str(cfg.home / "cache" / "text"),
    )


def train_deep(cfg: HeraldConfig, run_id: str, training: TrainingSet, parent_run_id: str) -> TrainedModel:
    """Fit the deep response model on the same split as the baselines, as the MLflow child run "deep"."""
    from models.deep import DeepResponse  # torch is heavy; only this task needs it

    train, valid, test = _splits(training)
    preprocessor = TabularPreprocessor.fit(train, exclude=model_exclusions(cfg))
    connect(cfg)
    return fit_and_log(
        DeepResponse(preprocessor, deep_config(cfg)), train, valid, test, cfg.run_dir(run_id) / "models", parent_run_id
    )


def load_rows(path: str | Path, split: str | None = None) -> pd.DataFrame:
    rows = pd.read_parquet(path)
    return rows if split is None else rows[rows["split"] == split].reset_index(drop=True)
