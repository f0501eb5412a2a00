"""Proxies of protected attributes: which model inputs carry them, for the model card.

Excluding gender or age from the inputs does not keep a model from learning them through
correlated inputs (region, tier, category interests). Each input's association with each protected
attribute is measured on the customers of the test split: Cramér's V for a categorical input and
the correlation ratio η for a numeric one (both 0 = none, 1 = the input determines the group).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Inputs with fewer customers per category than this are too sparse to measure reliably.
MIN_ROWS = 30


def cramers_v(x: pd.Series, y: pd.Series) -> float:
    """Cramér's V of two categorical series, bias-corrected (Bergsma 2013, J. Korean Stat. Soc. 42:323)."""
    table = pd.crosstab(x.astype(str), y.astype(str)).to_numpy(dtype=np.float64)
    n = table.sum()
    if n == 0 or min(table.shape) < 2:
        return 0.0
    expected = table.sum(axis=1, keepdims=True) @ table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / np.where(expected > 0, expected, 1)).sum())
    r, k = table.shape
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / max(n - 1, 1))
    r_corr, k_corr = r - (r - 1) ** 2 / max(n - 1, 1), k - (k - 1) ** 2 / max(n - 1, 1)
    denom = min(k_corr - 1, r_corr - 1)
    return float(np.sqrt(phi2 / denom)) if denom > 0 else 0.0


def correlation_ratio(values: pd.Series, groups: pd.Series) -> float:
    """η: the share of a numeric input's spread explained by the group means (0..1)."""
    frame = pd.DataFrame({"v": pd.to_numeric(values, errors="coerce"), "g": groups.astype(str)}).dropna()
    if len(frame) < 2 or frame["v"].var() == 0:
        return 0.0
    means = frame.groupby("g")["v"].agg(["mean", "size"])
    between = float((means["size"] * (means["mean"] - frame["v"].mean()) ** 2).sum())
    total = float(((frame["v"] - frame["v"].mean()) ** 2).sum())
    return float(np.sqrt(between / total)) if total > 0 else 0.0


def proxy_inputs(
    rows: pd.DataFrame, protected: list[str], inputs: dict[str, str], top_k: int = 5
) -> dict[str, list[tuple[str, float]]]:
    """Per protected attribute present in ``rows``, the ``top_k`` inputs most associated with it.

    ``rows`` are model rows (one per send); they are reduced to one row per customer when a
    ``customer_id`` column exists, so frequent recipients do not weigh more. ``inputs`` is the
    model's input schema (column -> ``string``/``double``); action and message columns are skipped,
    since they describe the message, not the person.
    """
    people = rows.drop_duplicates("customer_id") if "customer_id" in rows else rows
    out: dict[str, list[tuple[str, float]]] = {}
    for attribute in protected:
        if attribute not in people or people[attribute].notna().sum() < MIN_ROWS:
            continue
        known = people[people[attribute].notna()]
        scores = []
        for column, kind in inputs.items():
            if column == attribute or column not in known or column.startswith("msg_") or column in _ACTION:
                continue
            if kind == "double":
                score = correlation_ratio(known[column], known[attribute])
            else:
                score = cramers_v(known[column].fillna("missing"), known[attribute])
            scores.append((column, round(score, 3)))
        out[attribute] = sorted(scores, key=lambda s: -s[1])[:top_k]
    return out


_ACTION = ("channel", "send_hour", "weekday", "evt_sequence", "rev_text")


def proxy_section(proxies: dict[str, list[tuple[str, float]]], allowed: list[str], threshold: float) -> str:
    """The model card's section on protected attributes: which are inputs, and their strongest proxies."""
    lines = ["", "## Protected attributes and proxies", ""]
    lines.append(
        "Protected attributes used as inputs: "
        + (", ".join(allowed) + " (explicitly allowed by privacy.allow_protected_inputs)" if allowed else "none")
    )
    lines.append("")
    lines.append(
        "Inputs most associated with each protected attribute on the test customers (Cramér's V for "
        f"categories, correlation ratio for numbers; flagged from {threshold}):"
    )
    lines.append("")
    for attribute, scores in proxies.items():
        listed = ", ".join(f"{c} {s:.2f}{' (proxy)' if s >= threshold else ''}" for c, s in scores) or "none"
        lines.append(f"- {attribute}: {listed}")
    if not proxies:
        lines.append("- no protected attribute present in the test rows")
    return "\n".join(lines) + "\n"
