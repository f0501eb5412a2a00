"""Fairness figures per protected group: selection rates, parity and equalized-odds gaps, calibration (fairlearn)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.training.profiles import age_band
from pipelines.warehouse.contract import HOLDOUT_CHANNEL


def customer_groups(customers: pd.DataFrame, attributes: list[str], as_of: datetime) -> pd.DataFrame:
    """customer_id plus one column per protected attribute; unknown values are a group of their own."""
    out = customers[["customer_id"]].copy()
    for attr in attributes:
        if attr == "age_band":
            values = age_band(customers.get("birth_year", pd.Series(np.nan, index=customers.index)), as_of)
        elif attr in customers:
            values = customers[attr]
        else:
            continue
        out[attr] = values.astype("object").where(values.notna(), "unknown").astype(str)
    return out


def treatment_frame(actions: pd.DataFrame, groups: pd.DataFrame, messages: pd.DataFrame) -> pd.DataFrame:
    """Per decision or send: targeted (got a message), discounted (got a discount offer), groups."""
    offers = messages.set_index("message_id")["offer_type"]
    frame = actions.merge(groups, on="customer_id", how="inner")
    targeted = frame["message_id"].notna() & frame["channel"].ne(HOLDOUT_CHANNEL)
    frame["targeted"] = targeted.astype("int64")
    frame["discounted"] = (targeted & frame["message_id"].map(offers).eq("discount")).astype("int64")
    return frame


def fairness_rows(
    frame: pd.DataFrame,
    attributes: list[str],
    source: str,
    cfg: HeraldConfig,
    not_computed: list[str] | None = None,
) -> list[dict[str, object]]:
    """Selection rates per group and their gaps (demographic parity, equalized odds, calibration).

    Groups of fewer than ``fairness_min_group_size`` customers are left out of the gaps: on a few
    dozen customers a rate moves by 0.1 on chance alone. Equalized odds needs that many positives
    and negatives too. Every figure left out is appended to ``not_computed`` as
    "not computed: <source> <metric> <attr>=<group>: <counts>", never silently dropped or read as 0.
    """
    missing = not_computed if not_computed is not None else []
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
        selection_rate,
    )

    s = cfg.monitoring
    rows: list[dict[str, object]] = []
    for attr in [a for a in attributes if a in frame]:
        # Group size in customers, not rows: one customer's many sends are not independent evidence.
        sizes = frame.groupby(attr)["customer_id"].nunique()
        small = sizes[sizes < s.fairness_min_group_size]
        for group, size in sorted(small.items()):
            missing.append(
                f"not computed: {source} rates {attr}={group}: {size} customers < {s.fairness_min_group_size}"
            )
        big = frame[frame[attr].isin(sizes[sizes >= s.fairness_min_group_size].index)]
        if big[attr].nunique() < 2:
            missing.append(
                f"not computed: {source} parity gap for {attr}: {big[attr].nunique()} group(s) of at least "
                f"{s.fairness_min_group_size} customers, 2 needed"
            )
            continue
        for outcome in ("targeted", "discounted"):
            rates = MetricFrame(
                metrics=selection_rate, y_true=big[outcome], y_pred=big[outcome], sensitive_features=big[attr]
            ).by_group
            for group, rate in rates.items():
                rows.append(_row(f"{attr}={group}", f"{source}_{outcome}_rate", float(rate)))
            dp = demographic_parity_difference(big[outcome], big[outcome], sensitive_features=big[attr])
            rows.append(_row(attr, f"{source}_{outcome}_dp_difference", float(dp), s.fairness_dp_threshold))
        if "label" in big:
            counts = big.groupby(attr)["label"].agg(["sum", "count"])
            ok = counts[
                (counts["sum"] >= s.fairness_min_group_size)
                & (counts["count"] - counts["sum"] >= s.fairness_min_group_size)
            ].index
            eo_rows = big[big[attr].isin(ok)]
            for group, c in counts.drop(index=ok).sort_index().iterrows():
                missing.append(
                    f"not computed: {source} equalized odds {attr}={group}: {int(c['sum'])} positives, "
                    f"{int(c['count'] - c['sum'])} negatives (< {s.fairness_min_group_size} of each)"
                )
            if eo_rows[attr].nunique() >= 2:
                eo = equalized_odds_difference(eo_rows["label"], eo_rows["targeted"], sensitive_features=eo_rows[attr])
                rows.append(_row(attr, f"{source}_equalized_odds_difference", float(eo), s.fairness_eo_threshold))
        if "p_response" in big and "label" in big:
            sent = big[big["targeted"] == 1]
            for group, g in sent.groupby(attr):
                if len(g) < s.fairness_min_group_size:
                    missing.append(
                        f"not computed: {source} calibration {attr}={group}: "
                        f"{len(g)} sends < {s.fairness_min_group_size}"
                    )
                else:
                    gap = float(g["p_response"].mean() - g["label"].mean())
                    rows.append(
                        _row(
                            f"{attr}={group}",
                            f"{source}_calibration_gap",
                            gap,
                            s.fairness_calibration_threshold,
                            abs_value=True,
                        )
                    )
    return rows


def _row(
    subject: str, metric: str, value: float, threshold: float | None = None, abs_value: bool = False
) -> dict[str, object]:
    judged = abs(value) if abs_value else value
    breached = threshold is not None and np.isfinite(judged) and judged > threshold
    return {
        "kind": "fairness",
        "subject": subject,
        "metric": metric,
        "value": value,
        "threshold": threshold,
        "breached": bool(breached),
    }


def describe_breach(row: dict[str, object], rows: list[dict[str, object]]) -> str:
    """One line naming the disadvantaged group: which rate, lowest vs highest group, the gap."""
    metric, attr = str(row["metric"]), str(row["subject"])
    if metric.endswith("_dp_difference"):
        rate_metric = metric.replace("_dp_difference", "_rate")
        rates = {
            str(r["subject"]).split("=", 1)[1]: float(r["value"])
            for r in rows
            if r["metric"] == rate_metric and str(r["subject"]).startswith(f"{attr}=")
        }
        low, high = min(rates, key=rates.get), max(rates, key=rates.get)
        return (
            f"{attr}={low}: {rate_metric} {rates[low]:.0%} vs {attr}={high} {rates[high]:.0%} "
            f"(demographic parity difference {row['value']:.2f} > {row['threshold']})"
        )
    return f"{attr}: {metric} {float(row['value']):.3f} > {row['threshold']}"
