"""The Hillstrom MineThatData CSV: its columns and arms, read and validated, every problem named by column and row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.errors import HeraldError

COLUMNS = (
    "recency",
    "history_segment",
    "history",
    "mens",
    "womens",
    "zip_code",
    "newbie",
    "channel",
    "segment",
    "visit",
    "conversion",
    "spend",
)
# The randomised arms and the message each one sent (None = the hold-out, nothing sent).
ARM_MESSAGES: dict[str, str | None] = {
    "Mens E-Mail": "hillstrom_mens",
    "Womens E-Mail": "hillstrom_womens",
    "No E-Mail": None,
}
BINARY_COLUMNS = ("mens", "womens", "newbie", "visit", "conversion")
CATEGORY_VALUES: dict[str, tuple[str, ...]] = {
    "zip_code": ("Urban", "Surburban", "Rural"),  # sic: the file spells it "Surburban"
    "channel": ("Phone", "Web", "Multichannel"),
}


class HillstromFileError(HeraldError):
    """The Hillstrom CSV is missing or is not the file the importer expects."""


def read_hillstrom(path: str | Path) -> pd.DataFrame:
    """Read and validate the CSV; raise HillstromFileError naming the column and the problem."""
    path = Path(path)
    if not path.is_file():
        raise HillstromFileError(f"Hillstrom file {path} does not exist; pass --path or set HERALD_HILLSTROM__PATH")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise HillstromFileError(f"Hillstrom file {path} is not a readable CSV: {exc}") from None
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise HillstromFileError(
            f"Hillstrom file {path}: column(s) {', '.join(missing)} missing (expected {', '.join(COLUMNS)})"
        )
    if frame.empty:
        raise HillstromFileError(f"Hillstrom file {path} has a header but no rows")
    frame = frame[list(COLUMNS)].apply(lambda s: s.str.strip())
    for col in COLUMNS:
        empty = frame[col].eq("")
        if empty.any():
            raise HillstromFileError(_problem(path, col, f"{int(empty.sum())} empty value(s)", empty))
    _check_set(path, frame, "segment", tuple(ARM_MESSAGES), "unknown arm(s)")
    for col, allowed in CATEGORY_VALUES.items():
        _check_set(path, frame, col, allowed, "unknown value(s)")
    out = frame.copy()
    for col in ("recency", "history", "spend", *BINARY_COLUMNS):
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna()
        if bad.any():
            raise HillstromFileError(_problem(path, col, f"{int(bad.sum())} non-numeric value(s)", bad, frame[col]))
        out[col] = values
    for col in BINARY_COLUMNS:
        _check_range(path, out, col, ~out[col].isin([0, 1]), "must be 0 or 1")
    _check_range(
        path,
        out,
        "recency",
        (out["recency"] < 1) | (out["recency"] > 12) | (out["recency"] % 1 != 0),
        "must be a whole number of months from 1 to 12",
    )
    for col in ("history", "spend"):
        _check_range(path, out, col, out[col] < 0, "must be ≥ 0 dollars")
    for col in ("recency", *BINARY_COLUMNS):
        out[col] = out[col].astype("int64")
    return out


def _problem(path: Path, col: str, what: str, mask: pd.Series, values: pd.Series | None = None) -> str:
    first = int(np.flatnonzero(mask.to_numpy())[0])
    shown = (
        f" (first at data row {first + 1}: {values.iloc[first]!r})"
        if values is not None
        else f" (first at data row {first + 1})"
    )
    return f"Hillstrom file {path}: column {col} has {what}{shown}"


def _check_set(path: Path, frame: pd.DataFrame, col: str, allowed: tuple[str, ...], what: str) -> None:
    bad = ~frame[col].isin(allowed)
    if bad.any():
        unknown = ", ".join(repr(v) for v in sorted(frame.loc[bad, col].unique())[:5])
        raise HillstromFileError(
            f"Hillstrom file {path}: column {col} has {what} {unknown} in {int(bad.sum())} row(s); "
            f"expected one of {', '.join(repr(a) for a in allowed)}"
        )


def _check_range(path: Path, frame: pd.DataFrame, col: str, bad: pd.Series, rule: str) -> None:
    if bad.any():
        raise HillstromFileError(
            _problem(path, col, f"{int(bad.sum())} value(s) out of range ({rule})", bad, frame[col])
        )
