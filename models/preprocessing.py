"""Fitted tabular preprocessing (vocabularies, scalers) that travels inside the MLflow model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# Never model inputs: keys, labels, audit columns, raw text/image (their own towers read them).
ALWAYS_EXCLUDED = (
    "send_id", "customer_id", "message_id", "sent_at", "label", "revenue", "propensity",
    "is_holdout_true", "updated_at", "signup_date", "birth_year",
    "msg_title", "msg_body", "msg_image_uri", "rev_text", "evt_sequence", "msg_campaign_id",
    "msg_active_from", "msg_active_to", "opened", "clicked", "converted",
)
# Small integers that mean categories, not magnitudes.
INTEGER_CATEGORICALS = ("send_hour", "weekday")
UNKNOWN = "__unknown__"


@dataclass
class NumericStats:
    mean: float
    std: float
    median: float
    min: float
    max: float


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
        for col in rows.columns:
            if col in skip:
                continue
            series = rows[col]
            if col in INTEGER_CATEGORICALS or not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
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
                std = float(finite.std()) or 1.0
                prep.numeric.append(col)
                prep.stats[col] = NumericStats(
                    mean=float(finite.mean()), std=std if np.isfinite(std) else 1.0,
                    median=float(finite.median()), min=float(finite.min()), max=float(finite.max()),
                )
        return prep

    def transform(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return (category codes int64 [n, n_cat], numerics float32 [n, n_num])."""
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
            values = np.where(np.isfinite(values), values, st.median)
            nums[:, j] = ((values - st.mean) / st.std).astype(np.float32)
        return cats, nums

    def input_schema(self) -> dict[str, str]:
        """Raw input columns and their MLflow types: categories travel as strings, numerics as doubles."""
        return {**{c: "string" for c in self.categorical}, **{c: "double" for c in self.numeric}}

    def cardinalities(self) -> list[int]:
        return [len(self.vocab[c]) for c in self.categorical]

    def describe_drift(self, rows: pd.DataFrame) -> dict[str, Any]:
        """Training/serving consistency: missing columns, unknown-category shares, out-of-range shares."""
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
