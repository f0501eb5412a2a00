"""Fairness of who Herald targets and how well it predicts, across protected groups (fairlearn)."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.monitoring.drift_stats import _safe
from pipelines.monitoring.outcomes import match_outcomes
from pipelines.training.features import age_band
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import HOLDOUT_CHANNEL, MONITORING_METRICS
from pipelines.warehouse.extract import ensure_suppression_table


@dataclass
class FairnessResult:
    """What the fairness step wrote: its report, whether any bound broke, and how many metrics."""

    report_path: str | None
    breached: bool
    metrics_written: int
    breaches: list[str] = field(default_factory=list)
    # Per source and attribute: the demographic parity difference of targeting (the headline figure).
    dp_difference: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Figures that could not be computed (group too small, one class), with their counts.
    not_computed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


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


def fairness_check(
    cfg: HeraldConfig, run_id: str, extract_paths: dict[str, str], as_of: datetime, mlflow_run_id: str | None = None
) -> FairnessResult:
    """Fairness of the latest decisions, of the realised sends of the last window, and of matched outcomes."""
    from pipelines.warehouse.extract import load_extract

    tables = load_extract(extract_paths)
    return fairness_from_tables(cfg, run_id, tables["customers"], tables["messages"], as_of, mlflow_run_id)


def fairness_from_tables(
    cfg: HeraldConfig,
    run_id: str,
    customers: pd.DataFrame,
    messages: pd.DataFrame,
    as_of: datetime,
    mlflow_run_id: str | None = None,
) -> FairnessResult:
    """Fairness of the decisions and realised outcomes across protected groups, from the run's frames.

    Writes the per-group table (HTML report) and the metrics (kind ``fairness``) to
    ``monitoring_metrics``; a metric a group cannot support is reported as not computed, with counts.
    """
    s = cfg.monitoring
    attributes = [
        *cfg.protected_attributes,
        *(a for a in s.fairness_extra_attributes if a not in cfg.protected_attributes),
    ]
    groups = customer_groups(customers, attributes, as_of)
    until = pd.Timestamp(as_of).tz_convert("UTC") if pd.Timestamp(as_of).tzinfo else pd.Timestamp(as_of, tz="UTC")
    since = until - pd.Timedelta(days=s.fairness_window_days)
    notes: list[str] = []
    rows: list[dict[str, object]] = []
    skipped: list[str] = []
    with get_warehouse(cfg) as warehouse:
        has_decisions = warehouse.has_table("decisions")
        latest = warehouse.query("latest_decisions") if has_decisions else pd.DataFrame()
        ensure_suppression_table(warehouse)  # extract_sends leaves forgotten customers out
        sends = warehouse.query("extract_sends", {"since": since.to_pydatetime(), "until": until.to_pydatetime()})
        if len(latest):
            rows += fairness_rows(treatment_frame(latest, groups, messages), attributes, "decisions", cfg, skipped)
        else:
            notes.append("no decisions yet: fairness of targeting judged on realised sends only")
        if len(sends):
            realised = treatment_frame(sends, groups, messages)
            realised["label"] = realised[cfg.target].fillna(False).astype("int64")
            rows += fairness_rows(realised, attributes, "sends", cfg, skipped)
        # Calibration per group needs decisions whose outcomes arrived (see pipelines/performance.py).
        past = (
            warehouse.query(
                "decisions_between",
                {
                    "since": (until - pd.Timedelta(days=s.performance_lookback_days)).to_pydatetime(),
                    "until": until.to_pydatetime(),
                },
            )
            if has_decisions
            else pd.DataFrame()
        )
        if len(past):
            outcome_sends = warehouse.query(
                "extract_sends",
                {
                    "since": (until - pd.Timedelta(days=s.performance_lookback_days)).to_pydatetime(),
                    "until": until.to_pydatetime(),
                },
            )
            matched = match_outcomes(past, outcome_sends, s.attribution_days, cfg.target)
            if len(matched):
                rows += fairness_rows(treatment_frame(matched, groups, messages), attributes, "outcomes", cfg, skipped)
            else:
                notes.append("no realised outcomes of past decisions yet: no calibration per group")
        if not rows:
            return FairnessResult(
                None, False, 0, [], {}, [*notes, "no decisions or sends to judge: nothing written"], skipped
            )
        table = pd.DataFrame(rows).assign(run_id=run_id, computed_at=pd.Timestamp(datetime.now(UTC)))
        written = warehouse.write(
            "monitoring_metrics",
            table[MONITORING_METRICS.column_names],
            mode="replace_run",
            run_filter={"run_id": run_id, "kind": "fairness"},
        )
    breaches = [describe_breach(r, rows) for r in rows if r["breached"]]
    dp = {
        f"{r['metric'].split('_')[0]}:{r['subject']}": float(r["value"])
        for r in rows
        if str(r["metric"]).endswith("_targeted_dp_difference")
    }
    report = write_fairness_report(cfg, run_id, table, breaches, [*notes, *skipped])
    if mlflow_run_id:
        import mlflow

        from pipelines.tracking import connect

        connect(cfg)
        with mlflow.start_run(run_id=mlflow_run_id):
            mlflow.log_artifact(report, "fairness")
            mlflow.log_metrics({f"fairness_{k.replace(':', '_')}": v for k, v in dp.items()})
    return FairnessResult(report, bool(breaches), written, breaches, dp, notes, skipped)


def write_fairness_report(
    cfg: HeraldConfig, run_id: str, table: pd.DataFrame, breaches: list[str], notes: list[str]
) -> str:
    """A plain HTML page beside the drift report: breaches first, then every figure by source."""
    folder = cfg.reports_dir / "fairness"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_safe(run_id)}.html"
    parts = [
        f"<html><head><meta charset='utf-8'><title>Herald fairness {html.escape(run_id)}</title></head><body>",
        f"<h1>Fairness — run {html.escape(run_id)}</h1>",
    ]
    parts.append(
        "<h2>Breaches</h2><ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in breaches) + "</ul>"
        if breaches
        else "<p>No threshold breached.</p>"
    )
    if notes:
        parts.append("<p>" + "<br>".join(html.escape(n) for n in notes) + "</p>")
    for source in ("decisions", "sends", "outcomes"):
        part = table[table["metric"].str.startswith(f"{source}_")]
        if len(part):
            parts.append(f"<h2>{source}</h2>")
            parts.append(
                part[["subject", "metric", "value", "threshold", "breached"]].to_html(index=False, float_format="%.3f")
            )
    parts.append("</body></html>")
    path.write_text("\n".join(parts))
    return str(path)
