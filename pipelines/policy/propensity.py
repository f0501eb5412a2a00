"""Logging propensities fit for off-policy estimation: 0 < p ≤ 1 and known; the rest counted and set aside."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Why a row's propensity cannot weight it: the reasons counted and reported with every estimate.
NULL, NON_POSITIVE, ABOVE_ONE = "null", "non_positive", "above_one"


@dataclass
class PropensityCheck:
    """Which rows have a usable logging propensity, and how many fail each rule."""

    valid: np.ndarray  # bool per row
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_invalid(self) -> int:
        return int((~self.valid).sum())

    def describe(self) -> str:
        """E.g. "3 null, 1 non_positive of 4000 rows"."""
        parts = [f"{n} {why}" for why, n in self.counts.items() if n]
        return f"{', '.join(parts) or 'none invalid'} of {len(self.valid)} rows"


def check_propensities(values: object) -> PropensityCheck:
    """Rule per row: known (not null, finite) and 0 < p ≤ 1.

    A propensity of 0 would give an infinite importance weight, a negative one or one above 1 is not
    a probability; any of them means the logging record is broken, never a value to estimate with.
    """
    p = pd.to_numeric(pd.Series(np.asarray(values, dtype=object).ravel()), errors="coerce").to_numpy(dtype=float)
    null = ~np.isfinite(p)
    non_positive = ~null & (p <= 0)
    above = ~null & (p > 1)
    return PropensityCheck(
        ~(null | non_positive | above),
        {NULL: int(null.sum()), NON_POSITIVE: int(non_positive.sum()), ABOVE_ONE: int(above.sum())},
    )


def split_valid(rows: pd.DataFrame, column: str = "propensity") -> tuple[pd.DataFrame, pd.DataFrame, PropensityCheck]:
    """(rows fit for OPE, rows set aside with a ``reject_reason``, the check's counts)."""
    if column not in rows:
        raise KeyError(f"logged rows have no {column!r} column: off-policy estimation needs the logging propensity")
    check = check_propensities(rows[column].to_numpy())
    p = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)
    reason = np.where(~np.isfinite(p), NULL, np.where(p <= 0, NON_POSITIVE, ABOVE_ONE))
    rejected = rows[~check.valid].assign(reject_reason=reason[~check.valid])
    return rows[check.valid], rejected, check
