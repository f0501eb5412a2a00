"""Drift as calibrated two-sample tests over two frames: false alarms at the configured level at any sample size.

Pure functions (no I/O): a reference frame and a current frame in, one test per column and kind out.

- Values of a numeric column with many distinct values: two-sample Kolmogorov–Smirnov (exact for
  small samples, asymptotic for large; scipy), effect = the KS distance D.
- Values of a categorical or few-valued column: χ² test of the 2×K table (categories expected fewer
  than 5 times pooled into one), effect = total variation distance; for small samples (or sparse
  tables) the p-value comes from label permutations instead of the χ² approximation.
- The share of missing values: Fisher's exact test, effect = the change in share. A column that
  becomes entirely NULL (or starts having values) is drift whatever the test says.

All p-values of one report form one family, adjusted by Holm (1979), so the chance that a report
flags anything when nothing changed is at most ``alpha`` — whether it compares 30 rows or 100,000 —
instead of growing with the number of columns. Ties and discrete values make KS conservative, never
anti-conservative. A drift also needs ``min_effect`` (0 = the test alone decides), so very large
samples can be told to ignore immaterial shifts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

# Numeric columns with at most this many distinct values are compared as categories (counts, flags).
FEW_VALUES = 20
# Below this many rows (both sides together), or with sparse tables, χ² p-values come from permutations.
PERMUTATION_ROWS = 2000


@dataclass
class ColumnTest:
    """One test of one column: what was compared, how, and whether it counts as drift after Holm."""

    column: str
    kind: str  # "values" or "missing"
    method: str
    n_reference: int
    n_current: int
    effect: float
    p_value: float
    p_adjusted: float = float("nan")
    drifted: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control, any dependence)."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return out


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _as_category(series: pd.Series) -> np.ndarray:
    values = series.dropna()
    if _is_numeric(values):
        return pd.to_numeric(values).astype(float).astype(str).to_numpy(dtype=object)  # same text on both sides
    return values.astype(str).to_numpy(dtype=object)


def missing_test(column: str, reference: pd.Series, current: pd.Series) -> ColumnTest:
    """Fisher's exact test on the share of missing values; all-NULL on one side only is always drift."""
    ref_na, cur_na = int(reference.isna().sum()), int(current.isna().sum())
    n_r, n_c = len(reference), len(current)
    effect = abs(cur_na / max(n_c, 1) - ref_na / max(n_r, 1))
    p = 1.0 if ref_na + cur_na == 0 else float(stats.fisher_exact([[ref_na, n_r - ref_na], [cur_na, n_c - cur_na]])[1])
    note = ""
    if n_c and cur_na == n_c and ref_na < n_r:
        note = "became entirely NULL"
    elif n_r and ref_na == n_r and cur_na < n_c:
        note = "was entirely NULL in the reference"
    return ColumnTest(column, "missing", "fisher_exact", n_r, n_c, effect, p, note=note)


def value_test(
    column: str, reference: pd.Series, current: pd.Series, permutations: int, seed: int = 0
) -> ColumnTest | None:
    """Distribution of the non-missing values; None when one side has no value."""
    ref, cur = reference.dropna(), current.dropna()
    if ref.empty or cur.empty:
        return None
    numeric = _is_numeric(ref) and _is_numeric(cur)
    if numeric:
        r, c = pd.to_numeric(ref).to_numpy(dtype=float), pd.to_numeric(cur).to_numpy(dtype=float)
        if len(np.unique(np.r_[r, c])) > FEW_VALUES:
            result = stats.ks_2samp(r, c, method="auto")
            return ColumnTest(column, "values", "ks", len(r), len(c), float(result.statistic), float(result.pvalue))
    return _categorical_test(column, _as_category(ref), _as_category(cur), permutations, seed)


def _categorical_test(column: str, ref: np.ndarray, cur: np.ndarray, permutations: int, seed: int) -> ColumnTest:
    """χ² on the 2×K table (rare categories pooled), by permutation for small or sparse tables."""
    categories, codes = np.unique(np.r_[ref, cur].astype(str), return_inverse=True)
    side = np.r_[np.zeros(len(ref), dtype=np.int64), np.ones(len(cur), dtype=np.int64)]
    counts = np.bincount(codes, minlength=len(categories))
    expected_min = counts * min(len(ref), len(cur)) / len(codes)
    rare = expected_min < 5
    if rare.sum() > 1:  # pool the rare categories into one, as the χ² approximation needs
        remap = np.where(rare, rare.argmax(), np.arange(len(categories)))
        codes = np.unique(remap, return_inverse=True)[1][codes]
    k = int(codes.max()) + 1
    table = np.vstack([np.bincount(codes[side == s], minlength=k) for s in (0, 1)]).astype(float)
    tvd = 0.5 * float(np.abs(table[0] / len(ref) - table[1] / len(cur)).sum())
    if k < 2:
        return ColumnTest(column, "values", "constant", len(ref), len(cur), tvd, 1.0, note="one value on both sides")
    statistic = _chi2(table)
    sparse = (np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum() < 5).any()
    if len(codes) <= PERMUTATION_ROWS or sparse:
        # Canonical row order (by category) before permuting: the p-value ignores the input order.
        codes_sorted = np.sort(codes)
        rng = np.random.default_rng(seed)
        n_ref, totals = len(ref), table.sum(axis=0)
        hits = 0
        for start in range(0, permutations, 200):  # blocks of permutations: bounded memory
            size = min(200, permutations - start)
            shuffled = rng.permuted(np.broadcast_to(codes_sorted, (size, len(codes_sorted))), axis=1)[:, :n_ref]
            offsets = (shuffled + k * np.arange(size)[:, None]).ravel()
            ref_counts = np.bincount(offsets, minlength=size * k).reshape(size, k).astype(float)
            tables = np.stack([ref_counts, totals - ref_counts], axis=1)
            hits += int((_chi2_many(tables) >= statistic - 1e-12).sum())
        p = (hits + 1) / (permutations + 1)
        return ColumnTest(column, "values", "chi2_permutation", len(ref), len(cur), tvd, float(p))
    p = float(stats.chi2.sf(statistic, k - 1))
    return ColumnTest(column, "values", "chi2", len(ref), len(cur), tvd, p)


def _chi2(table: np.ndarray) -> float:
    return float(_chi2_many(table[None])[0])


def _chi2_many(tables: np.ndarray) -> np.ndarray:
    """Pearson's χ² of each 2×K table in a stack [P, 2, K]."""
    expected = (
        tables.sum(axis=2, keepdims=True) * tables.sum(axis=1, keepdims=True) / tables.sum(axis=(1, 2))[:, None, None]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (tables - expected) ** 2 / expected, 0.0)
    return terms.sum(axis=(1, 2))


def drift_tests(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    *,
    alpha: float = 0.05,
    permutations: int = 999,
    min_effect: float = 0.0,
    min_rows: int = 30,
    seed: int = 0,
) -> tuple[list[ColumnTest], list[str]]:
    """Every column's value and missing-share tests, Holm-adjusted as one family; ranked, most drifted first.

    Returns (tests, notes). A column's values are not tested when either side has fewer than
    ``min_rows`` non-missing values (a note says so); its missing share is tested whenever either
    side has a missing value.
    """
    tests: list[ColumnTest] = []
    notes: list[str] = []
    thin: list[str] = []
    for column in sorted(columns):
        ref = reference[column] if column in reference else pd.Series(dtype=float)
        cur = current[column] if column in current else pd.Series(dtype=float)
        if ref.isna().any() or cur.isna().any():  # a test that cannot reject would only dilute Holm's family
            tests.append(missing_test(column, ref, cur))
        if min(ref.notna().sum(), cur.notna().sum()) < min_rows:
            thin.append(column)
            continue
        found = value_test(column, ref, cur, permutations, seed)
        if found is not None:
            tests.append(found)
    if thin:
        notes.append(f"values not tested, fewer than {min_rows} non-missing on a side: {', '.join(thin)}")
    adjusted = holm(np.array([t.p_value for t in tests]))
    for t, p in zip(tests, adjusted):
        t.p_adjusted = float(p)
        t.drifted = bool((p <= alpha and t.effect >= min_effect) or t.note.startswith(("became", "was entirely")))
    tests.sort(key=lambda t: (not t.drifted, t.p_adjusted, -t.effect, t.column, t.kind))
    return tests, notes


def drifted_columns(tests: list[ColumnTest]) -> list[str]:
    """Columns with at least one drifted test, sorted."""
    return sorted({t.column for t in tests if t.drifted})
