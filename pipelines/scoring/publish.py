"""Publication of a scoring run: whole or not at all, and once per logical date.

Shards and segments write to ``decisions_staging`` and ``customer_segments_staging``; nothing a
consumer reads changes until :func:`publish` checks the staged run is complete (every
shard, every customer exactly once) and swaps it in with one warehouse transaction that replaces
the logical date's rows. The ``scoring_runs`` ledger says which run of each date is ``complete``;
a run that died before publishing stays ``running`` (or ``failed``) and its staged rows are never
read. Steps that must see the whole run before it goes out (e.g. a consent audit) call
:func:`staged_counts` and run before :func:`publish` in the DAG.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.errors import WarehouseError
from pipelines.scoring.prepare import ScoringPlan
from pipelines.training.registry import RegisteredModel
from pipelines.validation.accounting import RowCount, check, write_metrics
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import SCORING_RUNS

LEDGER = SCORING_RUNS.name
SWAPS = {"decisions": "decisions_staging", "customer_segments": "customer_segments_staging"}
RUNNING, COMPLETE, REPLACED, FAILED = "running", "complete", "replaced", "failed"


@dataclass(frozen=True)
class StagedRun:
    """What one run staged for its logical date: decisions per shard and segment rows."""

    decisions_per_shard: dict[int, int]
    customers: int
    messages_sent: int
    segments: int

    @property
    def decisions(self) -> int:
        return sum(self.decisions_per_shard.values())


def logical_date_of(as_of: str | datetime) -> date:
    """The date a run stands for: the UTC date of its as-of instant (the key of its published rows)."""
    ts = pd.Timestamp(as_of)
    return (ts.tz_convert("UTC") if ts.tzinfo else ts).date()


def ledger_row(run_id: str, logical_date: date, status: str, **fields: Any) -> dict[str, Any]:
    """One ``scoring_runs`` row; absent counts stay NULL."""
    row = {c: None for c in SCORING_RUNS.column_names}
    row.update(run_id=run_id, logical_date=logical_date, status=status, started_at=datetime.now(UTC), **fields)
    return row


def read_ledger(cfg: HeraldConfig, run_id: str) -> dict[str, Any] | None:
    """The ledger row of ``run_id``, or None (also when no run was ever recorded)."""
    with get_warehouse(cfg) as warehouse:
        if not warehouse.has_table(LEDGER):
            return None
        frame = warehouse.query("scoring_run", {"run_id": run_id})
    return frame.iloc[0].to_dict() if len(frame) else None


def begin_run(cfg: HeraldConfig, run_id: str, as_of: str) -> dict[str, Any]:
    """Record the run as ``running`` for its logical date; returns the small run record for the DAG.

    A run id that already published (Airflow re-running a finished run) keeps its ``complete``
    row, so its decisions stay readable until the re-run publishes its own.
    """
    day = logical_date_of(as_of)
    existing = read_ledger(cfg, run_id)
    if existing is None or existing["status"] != COMPLETE:
        _write_ledger(cfg, ledger_row(run_id, day, RUNNING, as_of=pd.Timestamp(as_of).to_pydatetime()))
    return {"run_id": run_id, "logical_date": day.isoformat()}


def mark_failed(cfg: HeraldConfig, run_id: str, note: str) -> None:
    """Record that a run stopped before publishing (a published run is never downgraded)."""
    existing = read_ledger(cfg, run_id)
    if existing is None or existing["status"] == COMPLETE:
        return
    row = {k: (None if pd.isna(v) else v) for k, v in existing.items()} | {"status": FAILED, "note": note[:1000]}
    _write_ledger(cfg, row)


def _write_ledger(cfg: HeraldConfig, row: dict[str, Any]) -> None:
    frame = pd.DataFrame([row], columns=SCORING_RUNS.column_names)
    with get_warehouse(cfg) as warehouse:
        warehouse.write(LEDGER, frame, mode="replace_run", run_filter={"run_id": row["run_id"]})


def staged_counts(cfg: HeraldConfig, run_id: str, logical_date: date) -> StagedRun:
    """Count what ``run_id`` staged for ``logical_date`` (decisions per shard, customers, segments)."""
    params = {"run_id": run_id, "logical_date": logical_date}
    with get_warehouse(cfg) as warehouse:
        tables = set(warehouse.list_tables())
        shards = warehouse.query("staged_run_counts", params) if "decisions_staging" in tables else pd.DataFrame()
        segments = (
            int(warehouse.query("staged_segment_count", params)["segments"].iloc[0])
            if "customer_segments_staging" in tables
            else 0
        )
    per_shard = {int(r.shard): int(r.decisions) for r in shards.itertuples()} if len(shards) else {}
    customers = int(shards["customers"].sum()) if len(shards) else 0
    sent = int(shards["messages_sent"].sum()) if len(shards) else 0
    return StagedRun(per_shard, customers, sent, segments)


def completeness_problems(staged: StagedRun, plan: ScoringPlan, with_segments: bool) -> list[str]:
    """Why a staged run is not whole (empty when it is): shards missing, customers missing or doubled."""
    problems = []
    missing = sorted(set(plan.shards) - set(staged.decisions_per_shard))
    if missing:
        problems.append(f"shards {missing} staged no decisions")
    if staged.decisions != plan.n_customers:
        problems.append(f"{staged.decisions} decisions staged for {plan.n_customers} customers")
    if staged.customers != staged.decisions:
        problems.append(f"{staged.decisions - staged.customers} customers have more than one decision")
    if with_segments and staged.segments != plan.n_customers:
        problems.append(f"{staged.segments} segment rows staged for {plan.n_customers} customers")
    return problems


def publish(
    cfg: HeraldConfig,
    run_id: str,
    plan: ScoringPlan,
    champion: RegisteredModel,
    *,
    with_segments: bool = True,
) -> dict[str, Any]:
    """Check the staged run is whole, then make it the one visible run of its logical date.

    One transaction (DuckDB) or one script job (BigQuery) replaces the date's ``decisions`` and
    ``customer_segments`` with this run's, marks the date's previous complete run ``replaced`` and
    this one ``complete`` in ``scoring_runs``, and clears the date's staging rows. Raises
    WarehouseError, changing nothing, when the staged run is incomplete. The row accounting
    (customers in = decisions published) goes to ``monitoring_metrics``.
    """
    day = date.fromisoformat(plan.logical_date) if plan.logical_date else logical_date_of(plan.as_of)
    staged = staged_counts(cfg, run_id, day)
    problems = completeness_problems(staged, plan, with_segments)
    if problems:
        raise WarehouseError(
            f"scoring run {run_id} for {day} is incomplete and was not published: {'; '.join(problems)}."
            f" Nothing consumers read changed; re-run the scoring DAG for {day}"
        )
    swaps = SWAPS if with_segments else {"decisions": SWAPS["decisions"]}
    expected = {"decisions": staged.decisions, "customer_segments": staged.segments}
    existing = read_ledger(cfg, run_id) or {}
    started = existing.get("started_at")
    ledger = ledger_row(
        run_id,
        day,
        COMPLETE,
        as_of=pd.Timestamp(plan.as_of).to_pydatetime(),
        published_at=datetime.now(UTC),
        customers=plan.n_customers,
        decisions=staged.decisions,
        messages_sent=staged.messages_sent,
        segments=staged.segments if with_segments else None,
        shards=len(plan.shards),
        model_name=champion.name,
        model_version=champion.version,
    )
    if started is not None and not pd.isna(started):
        ledger["started_at"] = pd.Timestamp(started).to_pydatetime()
    with get_warehouse(cfg) as warehouse:
        inserted = warehouse.publish_run(day, run_id, swaps, {k: expected[k] for k in swaps}, ledger, LEDGER)
    accounting = check(
        [RowCount("publish", "decisions", plan.n_customers, kept=inserted["decisions"], note="customers → decisions")]
        + (
            [RowCount("publish", "customer_segments", plan.n_customers, kept=inserted["customer_segments"])]
            if with_segments
            else []
        )
    )
    write_metrics(cfg, run_id, "publish", accounting)
    return {
        "run_id": run_id,
        "logical_date": day.isoformat(),
        "status": COMPLETE,
        "decisions": inserted["decisions"],
        "segments": inserted.get("customer_segments"),
        "messages_sent": staged.messages_sent,
        "row_accounting": [e.line() for e in accounting],
    }
