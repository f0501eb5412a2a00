"""The training set: validated extracts joined into labelled rows, each with its rolling-origin fold."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.training import features
from pipelines.training.profiles import customer_features_as_of
from pipelines.training.protocol import split_names, time_folds
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
    # The newest labelled send: the served model is refitted on every row up to here.
    labelled_until: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def build_features(
    cfg: HeraldConfig, run_id: str, extract_paths: dict[str, str], feature_cutoff: datetime, as_of: datetime
) -> TrainingSet:
    """Join sends (labels) with customer features as of the cutoff and message attributes.

    Rows carry their rolling-origin fold by send time (``fold`` 0 = warm-up, 1..cv_folds =
    validation blocks, newest last; ``split`` names the newest block "test", the one before
    "valid"), so every reported figure is on sends the scoring model could not have seen.
    """
    tables = load_extract(extract_paths)
    customers = customer_features_as_of(cfg, tables, feature_cutoff)
    # Today's features, computed exactly as scoring will: the reference that drift is measured from.
    reference = customer_features_as_of(cfg, tables, as_of)
    messages = features.message_features(tables["messages"], cfg.assets_dir)
    actions = features.send_actions(
        tables["sends"], tables["customers"], cfg.region_timezones, since=feature_cutoff, target=cfg.target
    )
    rows = features.model_rows(actions, customers, messages)
    rows["fold"] = time_folds(rows["sent_at"], cfg.cv_folds, cfg.cv_fold_share)
    rows["split"] = split_names(rows["fold"].to_numpy(), cfg.cv_folds)
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
        labelled_until=pd.Timestamp(pd.to_datetime(rows["sent_at"], utc=True).max()).isoformat() if len(rows) else "",
    )


def model_exclusions(cfg: HeraldConfig) -> list[str]:
    """Protected attributes and configured columns are never model inputs.

    A protected attribute becomes an input only when ``privacy.allow_protected_inputs`` names it;
    the registered version then records it (tag ``privacy.protected_inputs``).
    """
    allowed = set(cfg.privacy.allow_protected_inputs)
    protected = [a for a in cfg.protected_attributes if a not in allowed]
    return [*protected, *cfg.excluded_customer_columns, "split", "fold", "is_holdout"]


def load_rows(path: str | Path, split: str | None = None) -> pd.DataFrame:
    """The training rows, or those of one split ("train", "valid", "test")."""
    rows = pd.read_parquet(path)
    return rows if split is None else rows[rows["split"] == split].reset_index(drop=True)
