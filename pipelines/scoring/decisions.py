"""A scoring run's decisions: staged per shard in the warehouse, and summarised once the run is published."""

from __future__ import annotations

from datetime import date

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.scoring.prepare import ScoringPlan
from pipelines.training.registry import RegisteredModel
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import DECISIONS


def write_decisions(
    cfg: HeraldConfig, run_id: str, shard: int, plan: ScoringPlan, champion: RegisteredModel, frame: pd.DataFrame
) -> int:
    """Replace the rows of (run_id, shard) in ``decisions_staging`` in one transaction.

    A retried shard replaces its own staged rows, so it never doubles; consumers see nothing
    until :func:`pipelines.scoring.publish.publish` publishes the whole run.
    """
    table = _decision_table(frame, run_id, shard, plan, champion)
    with get_warehouse(cfg) as warehouse:
        return warehouse.write(
            "decisions_staging", table, mode="replace_run", run_filter={"run_id": run_id, "shard": shard}
        )


def _decision_table(
    decisions: pd.DataFrame, run_id: str, shard: int, plan: ScoringPlan, champion: RegisteredModel
) -> pd.DataFrame:
    # decided_at is the run's logical time, not the wall clock, so a re-run writes identical rows.
    out = decisions.assign(
        logical_date=_logical_date(plan),
        run_id=run_id,
        shard=shard,
        decided_at=pd.Timestamp(plan.as_of),
        model_name=champion.name,
        model_version=champion.version,
    )
    out["send_hour"] = pd.to_numeric(out["send_hour"], errors="coerce").astype("Int64")
    for col in ("p_response", "uplift", "propensity"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out[DECISIONS.column_names].sort_values("customer_id", kind="stable").reset_index(drop=True)


def _logical_date(plan: ScoringPlan) -> date:
    from pipelines.scoring.publish import logical_date_of

    return date.fromisoformat(plan.logical_date) if plan.logical_date else logical_date_of(plan.as_of)


def decision_summary(cfg: HeraldConfig, run_id: str) -> dict[str, object]:
    """Decision mix of a run (per channel, per hour, hold-out and explored shares) and its estimated value.

    The value is the direct-method estimate from the champion's own scores over the customers it
    scored: mean P(response) of the chosen actions, against sending nothing to the same customers.
    """
    with get_warehouse(cfg) as warehouse:
        frame = warehouse.query("decisions_for_run", {"run_id": run_id})
    sent = frame["message_id"].notna()
    scored = frame["policy"].isin(["exploit", "explore"])
    p = frame.loc[scored, "p_response"].astype(float)
    u = frame.loc[scored, "uplift"].astype(float).fillna(0.0)
    return {
        "decisions": int(len(frame)),
        "messages_sent": int(sent.sum()),
        "per_channel": {str(k): int(v) for k, v in frame.loc[sent, "channel"].value_counts().items()},
        "per_hour": {str(k): int(v) for k, v in frame.loc[sent, "send_hour"].value_counts().sort_index().items()},
        "reasons": {str(k): int(v) for k, v in frame["reason"].value_counts().items()},
        "holdout_share": float((~sent).mean()) if len(frame) else 0.0,
        "explored_share": float((frame["policy"] == "explore").mean()) if len(frame) else 0.0,
        "expected_uplift_per_customer": float(frame["uplift"].fillna(0).mean()) if len(frame) else 0.0,
        "customers_scored": int(scored.sum()),
        "estimated_policy_value": float(p.mean()) if len(p) else float("nan"),
        "estimated_holdout_value": float((p - u).mean()) if len(p) else float("nan"),
    }
