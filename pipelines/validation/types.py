"""Column-type check against the contract's BigQuery types, done in pandas (see suites.py for why)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from pipelines.validation.results import RuleResult
from pipelines.warehouse.contract import Table


def _matches(series: pd.Series, bq_type: str) -> bool:
    dtype = series.dtype
    inferred = pd.api.types.infer_dtype(series, skipna=True) if dtype is object or dtype == np.dtype(object) else None
    if inferred == "empty":
        return True  # an all-NULL column carries no type; nullability rules judge it
    if bq_type == "STRING":
        return isinstance(dtype, pd.StringDtype) or inferred == "string"
    if bq_type == "INT64":
        return ptypes.is_integer_dtype(dtype) or inferred == "integer"
    if bq_type == "FLOAT64":
        # Integers widen to FLOAT64 without loss; booleans do not count as numbers here.
        return (
            (ptypes.is_float_dtype(dtype) or ptypes.is_integer_dtype(dtype))
            and not ptypes.is_bool_dtype(dtype)
            or inferred in ("floating", "integer", "mixed-integer-float")
        )
    if bq_type == "BOOL":
        return ptypes.is_bool_dtype(dtype) or inferred == "boolean"
    if bq_type == "DATE":
        return inferred == "date" or ptypes.is_datetime64_dtype(dtype)
    if bq_type == "TIMESTAMP":
        # Naive datetimes are rejected: comparing them with the run's UTC as_of would be a guess.
        return isinstance(dtype, pd.DatetimeTZDtype)
    raise ValueError(f"unknown BigQuery type {bq_type}")


def check_types(table: Table, frame: pd.DataFrame) -> list[RuleResult]:
    """One rule per contract column present in ``frame``: its dtype must hold the contract's type."""
    results = []
    for col in table.columns:
        if col.name not in frame.columns:
            continue
        series = frame[col.name]
        ok = _matches(series, col.type)
        observed = str(series.dtype)
        sample: list[object] = []
        if series.dtype == object:
            observed += f" ({pd.api.types.infer_dtype(series, skipna=True)})"
        if not ok:
            sample = series.dropna().head(3).tolist()
        results.append(
            RuleResult(
                table.name,
                f"{col.name}_is_{col.type.lower()}",
                "expect_column_values_to_be_of_type",
                "structure",
                ok,
                col.name,
                source="pandas",
                element_count=len(frame),
                observed=observed,
                sample=sample,
                note="" if ok else f"expected BigQuery {col.type}",
                outcome="passed" if ok else "failed",
            )
        )
    return results
