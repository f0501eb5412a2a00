"""Fitted tabular preprocessing (vocabularies, scalers) that travels inside the MLflow model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# Outcomes of a send besides the label: targets the deep model may learn beside it (multi-task),
# never inputs, since they happen after the send.
AUXILIARY_OUTCOMES: tuple[str, ...] = ("opened", "clicked")
# Never model inputs: keys, labels, audit columns, raw text/image (their own towers read them).
ALWAYS_EXCLUDED = (
    "send_id",
    "customer_id",
    "message_id",
    "sent_at",
    "label",
    "revenue",
    "propensity",
    "is_holdout_true",
    "updated_at",
    "signup_date",
    "birth_year",
    "msg_title",
    "msg_body",
    "msg_image_uri",
    "rev_text",
    "evt_sequence",
    "msg_campaign_id",
    "msg_active_from",
    "msg_active_to",
    "converted",
    *AUXILIARY_OUTCOMES,
)
# Small integers that mean categories, not magnitudes.
INTEGER_CATEGORICALS = ("send_hour", "weekday")
UNKNOWN = "__unknown__"


@dataclass
class NumericStats:
    """Scaling of one numeric column; mean/std/median are taken after the optional log1p."""

    mean: float
    std: float
    median: float
    min: float
    max: float
    log1p: bool = False


# Counts and amounts are heavy-tailed; log1p keeps a few heavy users from dominating linear and neural models.
SKEW_FOR_LOG = 2.0


CATEGORY_SHARE_PREFIX = "evt_cat_share_"


def add_cross_features(rows: pd.DataFrame) -> pd.DataFrame:
    """Customer × action crosses a model would otherwise have to discover from raw columns.

    ``x_category_interest``: the customer's share of interest in the message's category;
    ``x_hour_gap``: circular distance between the send hour and the customer's typical active hour;
    ``x_channel_opens``: the customer's opens on the candidate's channel, per event. Each is only
    added when its source columns are present, so other datasets simply go without.
    """
    out = rows.copy()
    share_cols = [c for c in rows.columns if c.startswith(CATEGORY_SHARE_PREFIX)]
    if share_cols and "msg_product_category" in rows:
        categories = [c.removeprefix(CATEGORY_SHARE_PREFIX) for c in share_cols]
        lookup = {cat: j for j, cat in enumerate(categories)}
        idx = rows["msg_product_category"].map(lookup)
        shares = rows[share_cols].to_numpy(dtype=np.float64, na_value=np.nan)
        picked = np.full(len(rows), np.nan)
        known = idx.notna().to_numpy()
        picked[known] = shares[np.flatnonzero(known), idx[known].astype(int).to_numpy()]
        out["x_category_interest"] = picked
    if "send_hour" in rows and "evt_hour_mean" in rows:
        hour = pd.to_numeric(rows["send_hour"], errors="coerce").to_numpy(dtype=np.float64)
        mean = pd.to_numeric(rows["evt_hour_mean"], errors="coerce").to_numpy(dtype=np.float64)
        gap = np.abs(np.mod(hour - mean + 12.0, 24.0) - 12.0)
        out["x_hour_gap"] = np.where(
            rows.get("channel", pd.Series("", index=rows.index)).astype(str).eq("none").to_numpy(), np.nan, gap
        )
    if "channel" in rows and "evt_total" in rows:
        opens = np.full(len(rows), np.nan)
        channel = rows["channel"].astype(str).to_numpy()
        total = pd.to_numeric(rows["evt_total"], errors="coerce").to_numpy(dtype=np.float64)
        for name in np.unique(channel):
            column = f"evt_n_{name}_open"
            if column in rows:
                mask = channel == name
                opens[mask] = pd.to_numeric(rows.loc[mask, column], errors="coerce").to_numpy() / np.maximum(
                    total[mask], 1.0
                )
        out["x_channel_opens"] = opens
    return out


CROSS_FEATURES = ("x_category_interest", "x_hour_gap", "x_channel_opens")


@dataclass
class TabularPreprocessor:
    """Turns raw model rows into integer category codes and standardised numerics.

    Index 0 of every vocabulary is "unknown or missing", so unseen values at scoring time map
    to a learned embedding instead of failing; ``describe_drift`` reports how often that happens.
    """

    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    vocab: dict[str, list[str]] = field(default_factory=dict)
    stats: dict[str, NumericStats] = field(default_factory=dict)

    @classmethod
    def fit(cls, rows: pd.DataFrame, exclude: list[str] | tuple[str, ...] = ()) -> TabularPreprocessor:
        skip = set(ALWAYS_EXCLUDED) | set(exclude)
        prep = cls()
        rows = add_cross_features(rows)
        for col in rows.columns:
            if col in skip:
                continue
            series = rows[col]
            if (
                col in INTEGER_CATEGORICALS
                or not pd.api.types.is_numeric_dtype(series)
                or pd.api.types.is_bool_dtype(series)
            ):
                if pd.api.types.is_datetime64_any_dtype(series):
                    continue
                values = _as_category_strings(series)
                counts = values[values != UNKNOWN].value_counts()
                prep.categorical.append(col)
                prep.vocab[col] = [UNKNOWN, *sorted(counts.index.tolist())]
            else:
                values = pd.to_numeric(series, errors="coerce").astype("float64")
                finite = values[np.isfinite(values)]
                if finite.empty:
                    continue
                use_log = bool(finite.min() >= 0 and finite.skew() > SKEW_FOR_LOG)
                scaled = np.log1p(finite) if use_log else finite
                std = float(scaled.std()) or 1.0
                prep.numeric.append(col)
                prep.stats[col] = NumericStats(
                    mean=float(scaled.mean()),
                    std=std if np.isfinite(std) else 1.0,
                    median=float(scaled.median()),
                    min=float(finite.min()),
                    max=float(finite.max()),
                    log1p=use_log,
                )
        return prep

    def transform(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return (category codes int64 [n, n_cat], numerics float32 [n, n_num])."""
        rows = add_cross_features(rows)
        n = len(rows)
        cats = np.zeros((n, len(self.categorical)), dtype=np.int64)
        for j, col in enumerate(self.categorical):
            if col not in rows:
                continue  # a missing column is all-unknown; serving checks report it first
            index = {v: i for i, v in enumerate(self.vocab[col])}
            cats[:, j] = _as_category_strings(rows[col]).map(index).fillna(0).to_numpy(dtype=np.int64)
        nums = np.zeros((n, len(self.numeric)), dtype=np.float32)
        for j, col in enumerate(self.numeric):
            st = self.stats[col]
            if col not in rows:
                continue
            values = pd.to_numeric(rows[col], errors="coerce").astype("float64").to_numpy()
            if st.log1p:
                values = np.log1p(np.clip(values, 0.0, None))
            values = np.where(np.isfinite(values), values, st.median)
            nums[:, j] = ((values - st.mean) / st.std).astype(np.float32)
        return cats, nums

    def input_schema(self) -> dict[str, str]:
        """Raw input columns and their MLflow types: categories travel as strings, numerics as doubles."""
        # Crosses are derived inside the model from columns that are inputs already.
        return {
            **{c: "string" for c in self.categorical},
            **{c: "double" for c in self.numeric if c not in CROSS_FEATURES},
        }

    def cardinalities(self) -> list[int]:
        return [len(self.vocab[c]) for c in self.categorical]

    def describe_drift(self, rows: pd.DataFrame) -> dict[str, Any]:
        """Training/serving consistency: missing columns, unknown-category shares, out-of-range shares."""
        rows = add_cross_features(rows)
        report: dict[str, Any] = {"missing_columns": [], "unknown_share": {}, "out_of_range_share": {}}
        for col in self.categorical:
            if col not in rows:
                report["missing_columns"].append(col)
                continue
            values = _as_category_strings(rows[col])
            known = set(self.vocab[col])
            present = values[values != UNKNOWN]
            if len(present):
                report["unknown_share"][col] = float((~present.isin(known)).mean())
        for col in self.numeric:
            if col not in rows:
                report["missing_columns"].append(col)
                continue
            st = self.stats[col]
            values = pd.to_numeric(rows[col], errors="coerce").dropna()
            if len(values):
                span = st.max - st.min
                outside = (values < st.min - span) | (values > st.max + span)
                report["out_of_range_share"][col] = float(outside.mean())
        return report

    def to_dict(self) -> dict[str, Any]:
        return {
            "categorical": self.categorical,
            "numeric": self.numeric,
            "vocab": self.vocab,
            "stats": {k: vars(v) for k, v in self.stats.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TabularPreprocessor:
        return cls(
            categorical=list(data["categorical"]),
            numeric=list(data["numeric"]),
            vocab={k: list(v) for k, v in data["vocab"].items()},
            stats={k: NumericStats(**v) for k, v in data["stats"].items()},
        )


def _as_category_strings(series: pd.Series) -> pd.Series:
    """Stringify categories consistently (True/'True', 8/'8'); missing becomes UNKNOWN."""
    out = series.astype("object").where(series.notna(), None)
    return out.map(lambda v: UNKNOWN if v is None else str(v))
