"""After a scoring run's decisions are written, check them against consent, unsubscribes, suppression and caps.

The policy applies these rules before any score is looked at; this audit re-derives them from the
run's validated extract (not from the policy's own features) and counts every decision that breaks
one. The counts go to ``monitoring_metrics`` (kind ``consent_audit``); any breach fails the run,
which alerts through the DAG's failure callback.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.errors import HeraldError
from pipelines.training.features import recent_sends_as_of
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import HOLDOUT_CHANNEL, MONITORING_METRICS, SUPPRESSED_CUSTOMERS
from pipelines.warehouse.extract import load_extract

KIND = "consent_audit"
SETTINGS_ARTIFACT = "consent_audit/settings.json"


class ConsentBreach(HeraldError):
    """A scoring run chose a message that consent, an unsubscribe, a suppression or a cap forbids."""


@dataclass
class ConsentAuditResult:
    """Counts of the audit: messages checked and every kind of breach (all must be zero)."""

    decisions: int
    messages: int
    breaches: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, int] = field(default_factory=dict)

    @property
    def breached(self) -> bool:
        return any(self.breaches.values()) or any(self.by_channel.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "breached": self.breached}


def audit_decisions(
    cfg: HeraldConfig,
    decisions: pd.DataFrame,
    customers: pd.DataFrame,
    events: pd.DataFrame | None,
    sends: pd.DataFrame,
    suppressed: set[str],
    as_of: datetime,
) -> ConsentAuditResult:
    """Count decisions that break a rule; pure (no I/O), so each rule is testable alone.

    A message is a decision with a message and a channel other than ``none``. Breaches:
    ``messages_without_consent`` per channel (``consent_<channel>`` not true, unless consent is
    implied for it); ``messages_to_unsubscribed`` (any unsubscribe event before ``as_of``);
    ``decisions_for_suppressed`` (any decision row at all for a forgotten customer);
    ``frequency_cap_exceeded`` (already ``frequency_cap_7d`` messages in the 7 days before ``as_of``).
    """
    sent = decisions[
        decisions["message_id"].notna() & ~decisions["channel"].fillna(HOLDOUT_CHANNEL).eq(HOLDOUT_CHANNEL)
    ]
    profile = customers.set_index("customer_id")
    by_channel: dict[str, int] = {}
    for channel in cfg.channels:
        chosen = sent[sent["channel"] == channel]
        if channel in cfg.implied_consent_channels:
            by_channel[channel] = 0
            continue
        column = f"consent_{channel}"
        consent = (
            profile[column].astype("boolean").reindex(chosen["customer_id"]).fillna(False)
            if column in profile
            else pd.Series(False, index=chosen["customer_id"])
        )
        by_channel[channel] = int((~consent.to_numpy(dtype=bool)).sum())
    unknown_channels = int((~sent["channel"].isin(cfg.channels)).sum())
    unsubscribed: set[str] = set()
    if events is not None and len(events):
        before = pd.to_datetime(events["event_ts"], utc=True) < pd.Timestamp(as_of)
        unsubscribed = set(events.loc[before & events["event_type"].eq("unsubscribe"), "customer_id"])
    recent = recent_sends_as_of(sends, as_of) if len(sends) else pd.Series(dtype="int64")
    capped = set(recent[recent >= cfg.policy.frequency_cap_7d].index)
    return ConsentAuditResult(
        decisions=len(decisions),
        messages=len(sent),
        breaches={
            "messages_to_unknown_channel": unknown_channels,
            "messages_to_unsubscribed": int(sent["customer_id"].isin(unsubscribed).sum()),
            "decisions_for_suppressed": int(decisions["customer_id"].isin(suppressed).sum()),
            "frequency_cap_exceeded": int(sent["customer_id"].isin(capped).sum()),
        },
        by_channel=by_channel,
    )


def consent_audit(
    cfg: HeraldConfig, run_id: str, extract_paths: dict[str, str], as_of: datetime, mlflow_run_id: str | None = None
) -> dict[str, Any]:
    """Audit the run's written decisions, store the counts, and raise ConsentBreach on any breach.

    Also logs the policy settings the run was audited against to its MLflow run (no personal data),
    which ``herald explain-decision`` shows beside each decision.
    """
    tables = load_extract(extract_paths)
    with get_warehouse(cfg) as warehouse:
        decisions = warehouse.query("decisions_for_run", {"run_id": run_id})
        present = set(warehouse.list_tables())
        suppressed = (
            set(warehouse.query("suppressed_customer_ids")["customer_id"])
            if SUPPRESSED_CUSTOMERS.name in present
            else set()
        )
        result = audit_decisions(
            cfg, decisions, tables["customers"], tables.get("events"), tables["sends"], suppressed, as_of
        )
        warehouse.write(
            "monitoring_metrics",
            _metric_rows(run_id, result),
            mode="replace_run",
            run_filter={"run_id": run_id, "kind": KIND},
        )
    if mlflow_run_id:
        _log_settings(cfg, mlflow_run_id, result)
    if result.breached:
        broken = {**result.breaches, **{f"messages_without_consent[{c}]": n for c, n in result.by_channel.items()}}
        raise ConsentBreach(
            f"scoring run {run_id} broke consent rules in its decisions: "
            + ", ".join(f"{k} {v}" for k, v in broken.items() if v)
            + f" (of {result.messages} messages); the decisions must not be sent — see monitoring_metrics kind {KIND}"
        )
    return result.to_dict()


def _metric_rows(run_id: str, result: ConsentAuditResult) -> pd.DataFrame:
    rows = [("all", "decisions", result.decisions, None), ("all", "messages", result.messages, None)]
    rows += [("all", name, value, 0.0) for name, value in result.breaches.items()]
    rows += [(channel, "messages_without_consent", value, 0.0) for channel, value in result.by_channel.items()]
    frame = pd.DataFrame(rows, columns=["subject", "metric", "value", "threshold"])
    frame["value"] = frame["value"].astype("float64")
    frame["threshold"] = pd.to_numeric(frame["threshold"]).astype("float64")
    frame["breached"] = frame["threshold"].notna() & (frame["value"] > frame["threshold"].fillna(0))
    frame["kind"] = KIND
    frame["run_id"] = run_id
    frame["computed_at"] = pd.Timestamp(datetime.now(UTC))
    return frame[MONITORING_METRICS.column_names]


def _log_settings(cfg: HeraldConfig, mlflow_run_id: str, result: ConsentAuditResult) -> None:
    import mlflow

    from pipelines.tracking import connect

    settings = {
        "policy": cfg.policy.model_dump(),
        "channels": list(cfg.channels),
        "implied_consent_channels": list(cfg.implied_consent_channels),
        "audit": result.to_dict(),
    }
    connect(cfg)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_id=mlflow_run_id):
        path = Path(tmp) / Path(SETTINGS_ARTIFACT).name
        path.write_text(json.dumps(settings, indent=2, default=str))
        mlflow.log_artifact(str(path), str(Path(SETTINGS_ARTIFACT).parent))
        mlflow.log_metrics({f"consent_audit.{k}": float(v) for k, v in result.breaches.items()})
