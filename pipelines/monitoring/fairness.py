"""The fairness step: who Herald targets and how well it predicts, per protected group, as metrics and a report."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.monitoring.drift_stats import _safe
from pipelines.monitoring.fairness_metrics import customer_groups, describe_breach, fairness_rows, treatment_frame
from pipelines.monitoring.outcomes import match_outcomes
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import MONITORING_METRICS
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


def fairness(
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
