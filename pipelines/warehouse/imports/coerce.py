"""Coerce source values to the contract's BigQuery types; every value that cannot be coerced gets a reason."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from pandas.api import types as ptypes

TRUE_TEXT = frozenset({"true", "t", "yes", "y", "1", "on"})
FALSE_TEXT = frozenset({"false", "f", "no", "n", "0", "off"})
_OFFSET = r"(?:[zZ]|[+-]\d{2}:?\d{2})$"


@dataclass
class Coerced:
    """A coerced column: ``values`` in the contract dtype, ``bad`` rows with a reason, naive values localised."""

    values: pd.Series
    bad: pd.Series  # bool per row: the source held a value that could not be coerced
    reasons: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))  # reason per bad row
    localised: int = 0  # naive timestamps read as wall-clock time in the mapping's zone


def coerce(series: pd.Series, bq_type: str, timezone: str = "UTC") -> Coerced:
    """Coerce ``series`` to ``bq_type`` (STRING, INT64, FLOAT64, BOOL, DATE, TIMESTAMP).

    NULLs stay NULL (nullability is judged elsewhere). TIMESTAMP values without an offset are
    wall-clock times in ``timezone``: localised there (a time that does not exist or is ambiguous
    across a daylight-saving change is rejected), then stored in UTC.
    """
    series = series.reset_index(drop=True)
    present = series.notna()
    if bq_type == "STRING":
        return _string(series, present)
    if bq_type in ("INT64", "FLOAT64"):
        return _number(series, present, bq_type)
    if bq_type == "BOOL":
        return _bool(series, present)
    if bq_type == "DATE":
        return _date(series, present)
    if bq_type == "TIMESTAMP":
        return _timestamp(series, present, timezone)
    raise ValueError(f"unknown BigQuery type {bq_type}")


def infer_type(series: pd.Series) -> str:
    """The BigQuery type of a column beyond the contract: its own dtype, or what all its text values parse as."""
    if ptypes.is_bool_dtype(series.dtype):
        return "BOOL"
    if ptypes.is_integer_dtype(series.dtype):
        return "INT64"
    if ptypes.is_float_dtype(series.dtype):
        return "FLOAT64"
    if isinstance(series.dtype, pd.DatetimeTZDtype) or ptypes.is_datetime64_dtype(series.dtype):
        return "TIMESTAMP"
    values = series.dropna()
    if values.empty:
        return "STRING"
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred == "boolean":
        return "BOOL"
    if inferred == "date":
        return "DATE"
    text = values.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all():
        return "INT64" if (numbers % 1 == 0).all() and not text.str.contains(r"[.eE]").any() else "FLOAT64"
    if text.str.lower().isin(TRUE_TEXT | FALSE_TEXT).all() and text.str.lower().nunique() <= 2:
        return "BOOL"
    return "STRING"


def as_text(series: pd.Series) -> pd.Series:
    """Values as trimmed text (NULL stays None); integral floats print without '.0' so 1.0 matches '1'."""
    present = series.notna()
    if ptypes.is_float_dtype(series.dtype):
        integral = present & (series % 1 == 0)
        text = series.astype(str)
        text[integral] = series[integral].astype("int64").astype(str)
    elif series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) in (
        "floating",
        "mixed-integer-float",
    ):
        text = series.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    else:
        text = series.astype(str)
    return text.str.strip().astype(object).where(present, None)


def _failed(series: pd.Series, present: pd.Series, values: pd.Series, what: str) -> Coerced:
    bad = present & values.isna()
    shown = as_text(series[bad]).str.slice(0, 40)
    return Coerced(values, bad, ("'" + shown + f"' is not {what}").astype(object))


def _string(series: pd.Series, present: pd.Series) -> Coerced:
    values = as_text(series).where(present, None)
    return Coerced(values, pd.Series(False, index=series.index))


def _number(series: pd.Series, present: pd.Series, bq_type: str) -> Coerced:
    if ptypes.is_bool_dtype(series.dtype):
        numbers = series.astype("float64")
    else:
        numbers = pd.to_numeric(as_text(series), errors="coerce")
    if bq_type == "FLOAT64":
        return _failed(series, present, numbers.astype("float64"), "a number (FLOAT64)")
    whole = numbers.where(numbers % 1 == 0)
    result = _failed(series, present, whole, "a whole number (INT64)")
    result.values = whole.astype("Int64")
    return result


def _bool(series: pd.Series, present: pd.Series) -> Coerced:
    if ptypes.is_bool_dtype(series.dtype):
        return Coerced(series.astype("boolean"), pd.Series(False, index=series.index))
    text = as_text(series).str.lower()
    values = pd.Series(pd.NA, index=series.index, dtype="boolean")
    values[text.isin(TRUE_TEXT)] = True
    values[text.isin(FALSE_TEXT)] = False
    return _failed(series, present, values, "a BOOL (true/false, yes/no, 1/0; or map it with values:)")


def _date(series: pd.Series, present: pd.Series) -> Coerced:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        stamps = series.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        stamps = pd.to_datetime(as_text(series), errors="coerce", format="mixed")
    values = stamps.dt.date.astype(object).where(stamps.notna(), None)
    result = _failed(series, present, stamps, "a DATE (YYYY-MM-DD)")
    result.values = values
    return result


def _timestamp(series: pd.Series, present: pd.Series, timezone: str) -> Coerced:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return Coerced(series.dt.tz_convert("UTC"), pd.Series(False, index=series.index))
    text = as_text(series)
    aware = text.notna() & text.str.contains(_OFFSET, regex=True, na=False)
    if ptypes.is_datetime64_dtype(series.dtype):
        aware = pd.Series(False, index=series.index)
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns, UTC]")
    reasons = pd.Series(None, index=series.index, dtype=object)
    if aware.any():
        out[aware] = pd.to_datetime(text[aware], errors="coerce", utc=True, format="mixed")
    naive = present & ~aware
    localised = 0
    if naive.any():
        raw = series[naive] if ptypes.is_datetime64_dtype(series.dtype) else text[naive]
        parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
        local = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        out[naive] = local.dt.tz_convert("UTC")
        gap = parsed.notna() & local.isna()
        reasons[gap[gap].index] = (
            "'" + text[gap[gap].index] + f"' does not exist or is ambiguous in {timezone} (daylight-saving change)"
        )
        localised = int(local.notna().sum())
    bad = present & out.isna()
    unparsed = bad & reasons.isna()
    reasons[unparsed] = "'" + text[unparsed].str.slice(0, 40) + "' is not a TIMESTAMP (YYYY-MM-DD HH:MM[:SS][+HH:MM])"
    return Coerced(out, bad, reasons[bad], localised)
