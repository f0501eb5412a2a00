"""Realised performance of past decisions: match them to the sends and outcomes that arrived since."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.training.evaluate import response_metrics
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import HOLDOUT_CHANNEL, MONITORING_METRICS
from pipelines.warehouse.extract import ensure_suppression_table


@dataclass
class PerformanceResult:
    """Realised outcomes of past decisions: rows matched, whether a bound broke, metrics written."""

    matched: int
    breached: bool
    metrics_written: int
    message: str
    overall: dict[str, float] = field(default_factory=dict)
    per_channel: dict[str, dict[str, float]] = field(default_factory=dict)
    breaches: list[str] = field(default_factory=list)
    # Figures the outcomes could not support, each "not computed: <subject> <metric>: <why>".
    not_computed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def match_outcomes(decisions: pd.DataFrame, sends: pd.DataFrame, attribution_days: int, target: str) -> pd.DataFrame:
    """Each decision with the first later send of the same customer, message and channel in the window.

    A hold-out decision (no message) matches the customer's hold-out record (channel ``none``), whose
    outcome is what the customer did untouched. Unmatched decisions are dropped: their action was
    never delivered, so they say nothing about the model.
    """
    d = decisions.copy()
    d["decided_at"] = pd.to_datetime(d["decided_at"], utc=True)
    d["is_holdout"] = d["message_id"].isna()
    d["channel_key"] = d["channel"].where(~d["is_holdout"], HOLDOUT_CHANNEL).fillna(HOLDOUT_CHANNEL)
    d["message_key"] = d["message_id"].fillna("")
    d["decision_row"] = np.arange(len(d))
    s = sends[["send_id", "customer_id", "message_id", "channel", "sent_at", target]].copy()
    s["sent_at"] = pd.to_datetime(s["sent_at"], utc=True)
    s["message_key"] = s["message_id"].fillna("")
    s = s.rename(columns={"channel": "channel_key"}).drop(columns="message_id")
    pairs = d.merge(s, on=["customer_id", "message_key", "channel_key"], how="inner")
    window = pd.Timedelta(days=attribution_days)
    pairs = pairs[(pairs["sent_at"] >= pairs["decided_at"]) & (pairs["sent_at"] < pairs["decided_at"] + window)]
    first = pairs.sort_values("sent_at").drop_duplicates("decision_row")
    first = first.assign(label=first[target].fillna(False).astype("int64"))
    return first.drop(columns=["message_key", "decision_row", target]).reset_index(drop=True)


def performance_metrics(matched: pd.DataFrame, cfg: HeraldConfig) -> tuple[list[dict[str, object]], PerformanceResult]:
    """Metric rows (kind=performance) and their summary from matched decisions.

    AUC and calibration (ECE, mean prediction / realised rate) are judged on delivered messages
    only, where at least ``performance_min_outcomes`` outcomes exist; realised uplift is the response
    rate of sent minus hold-out decisions, overall, per channel and per decision day.
    """
    settings = cfg.monitoring
    rows: list[dict[str, object]] = []
    sent, holdout = matched[~matched["is_holdout"]], matched[matched["is_holdout"]]
    holdout_rate = float(holdout["label"].mean()) if len(holdout) else float("nan")

    def add(subject: str, metric: str, value: float, threshold: float | None = None, low_is_bad: bool = False) -> None:
        breached = (
            threshold is not None and np.isfinite(value) and (value < threshold if low_is_bad else value > threshold)
        )
        rows.append(
            {
                "kind": "performance",
                "subject": subject,
                "metric": metric,
                "value": float(value),
                "threshold": threshold,
                "breached": bool(breached),
            }
        )

    summary: dict[str, dict[str, float]] = {}
    missing: list[str] = []
    if holdout.empty:
        missing.append("not computed: realised uplift: no hold-out decision with an outcome")
    groups = [("all", sent), *((str(c), g) for c, g in sent.groupby("channel_key"))]
    for subject, group in groups:
        add(subject, "n_outcomes", float(len(group)))
        rate = float(group["label"].mean()) if len(group) else float("nan")
        if len(group):
            add(subject, "response_rate", rate)
        if len(group) and len(holdout):
            add(subject, "realised_uplift", rate - holdout_rate)
        stats = {"n": float(len(group)), "response_rate": rate, "realised_uplift": rate - holdout_rate}
        n_pos = int(group["label"].sum()) if len(group) else 0
        if len(group) < settings.performance_min_outcomes:
            missing.append(
                f"not computed: {subject} AUC and calibration: {len(group)} outcomes < "
                f"{settings.performance_min_outcomes}"
            )
        else:
            m = response_metrics(group["label"].to_numpy(), group["p_response"].to_numpy())
            if n_pos in (0, len(group)):
                missing.append(f"not computed: {subject} AUC: one class only ({n_pos} of {len(group)} responded)")
            else:
                add(subject, "auc", m["auc"], settings.performance_auc_min, low_is_bad=True)
            add(subject, "ece", m["ece"], settings.performance_ece_max)
            add(subject, "brier", m["brier"])
            if m["positive_rate"] > 0:
                add(subject, "calibration_ratio", m["mean_prediction"] / m["positive_rate"])
            stats |= {"auc": m["auc"], "ece": m["ece"]}
        summary[subject] = stats
    add("holdout", "n_outcomes", float(len(holdout)))
    if len(holdout):
        add("holdout", "response_rate", holdout_rate)
    # Over time: the realised uplift of each decision day, to see a slow decay before it breaks.
    for day, group in matched.groupby(matched["decided_at"].dt.date):
        day_sent, day_hold = group[~group["is_holdout"]], group[group["is_holdout"]]
        if len(day_sent) and len(day_hold):
            add(f"all@{day}", "realised_uplift", float(day_sent["label"].mean() - day_hold["label"].mean()))
    breaches = [
        f"{r['subject']} {r['metric']} {r['value']:.3f} (threshold {r['threshold']})" for r in rows if r["breached"]
    ]
    result = PerformanceResult(
        matched=len(matched),
        breached=bool(breaches),
        metrics_written=0,
        message=f"{len(sent)} delivered and {len(holdout)} hold-out decisions with outcomes",
        overall=summary.get("all", {}),
        per_channel={k: v for k, v in summary.items() if k != "all"},
        breaches=breaches,
        not_computed=missing,
    )
    return rows, result


def performance(cfg: HeraldConfig, run_id: str, as_of: datetime) -> PerformanceResult:
    """Judge the decisions of the lookback window on the outcomes that have fully arrived by ``as_of``.

    Labels are final only ``attribution_days`` after a send, so later sends are not used yet. With no
    decisions or no matched outcomes, nothing is written and the result says why.
    """
    settings = cfg.monitoring
    until = pd.Timestamp(as_of).tz_convert("UTC") if pd.Timestamp(as_of).tzinfo else pd.Timestamp(as_of, tz="UTC")
    since = until - pd.Timedelta(days=settings.performance_lookback_days)
    labels_final = until - pd.Timedelta(days=settings.attribution_days)
    with get_warehouse(cfg) as warehouse:
        if not warehouse.has_table("decisions"):
            return PerformanceResult(0, False, 0, "no decisions table yet: nothing to judge")
        decisions = warehouse.query(
            "decisions_between", {"since": since.to_pydatetime(), "until": until.to_pydatetime()}
        )
        ensure_suppression_table(warehouse)  # extract_sends leaves forgotten customers out
        sends = warehouse.query(
            "extract_sends", {"since": since.to_pydatetime(), "until": labels_final.to_pydatetime()}
        )
        matched = (
            match_outcomes(decisions, sends, settings.attribution_days, cfg.target) if len(decisions) else decisions
        )
        if not len(matched):
            return PerformanceResult(
                0,
                False,
                0,
                f"no outcomes yet for {len(decisions)} decisions since {since:%Y-%m-%d} "
                f"(labels final up to {labels_final:%Y-%m-%d}): nothing written",
            )
        rows, result = performance_metrics(matched, cfg)
        table = pd.DataFrame(rows).assign(run_id=run_id, computed_at=pd.Timestamp(datetime.now(UTC)))
        result.metrics_written = warehouse.write(
            "monitoring_metrics",
            table[MONITORING_METRICS.column_names],
            mode="replace_run",
            run_filter={"run_id": run_id, "kind": "performance"},
        )
    return result
