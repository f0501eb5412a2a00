"""The per-campaign budget across a whole run: shards hand off decisions and offers, one pass allocates and writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.policy import allocation
from pipelines.policy.choice import EXPLORE
from pipelines.scoring.decisions import write_decisions
from pipelines.scoring.prepare import ScoringPlan
from pipelines.training.registry import RegisteredModel

# The columns of one campaign offer, as the shards hand them to the allocation.
OFFER_COLUMNS = ["customer_id", "campaign_id", "message_id", "channel", "send_hour", "p_response", "uplift", "net"]


def hand_off_shard(plan: ScoringPlan, shard: int, decisions: pd.DataFrame, offers: list[pd.DataFrame]) -> None:
    """Park a shard's unconstrained decisions and its offers until every shard's are known."""
    plan.budget_dir.mkdir(parents=True, exist_ok=True)
    _write_parquet(decisions, _hand_off_path(plan, "decisions", shard))
    _write_parquet(
        pd.concat(offers, ignore_index=True) if offers else pd.DataFrame(columns=OFFER_COLUMNS),
        _hand_off_path(plan, "offers", shard),
    )


def _hand_off_path(plan: ScoringPlan, kind: str, shard: int) -> Path:
    return plan.budget_dir / f"{kind}_shard={shard}.parquet"


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    # Write then rename, so a crash never leaves a half-written hand-off for the next task.
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def allocate_budget(cfg: HeraldConfig, run_id: str, plan: ScoringPlan, champion: RegisteredModel) -> dict[str, object]:
    """Apply the per-campaign budget across all shards of the run, then write every shard's decisions.

    Runs after every shard: a budget of B sends per campaign per run goes to the run's highest net
    uplifts, whichever shard they are in (a per-shard B/n split would give a campaign's slots to a
    weak shard's customers while a strong shard's better ones go without). Explored sends are
    honoured and counted first. Deterministic in its inputs, so a retry writes the same rows.
    """
    budget = cfg.policy.campaign_budget_per_run
    if budget is None:
        return {"applied": False}
    messages = pd.read_parquet(plan.messages_path)
    campaign_of = messages.set_index("message_id")["msg_campaign_id"] if "msg_campaign_id" in messages else None
    phase1 = {s: pd.read_parquet(_hand_off_path(plan, "decisions", s)) for s in plan.shards}
    offer_frames = [pd.read_parquet(_hand_off_path(plan, "offers", s)) for s in plan.shards]
    offers = pd.concat(offer_frames, ignore_index=True)
    explored_sends: dict[str, int] = {}
    if campaign_of is not None:
        for frame in phase1.values():
            sent = frame[(frame["policy"] == EXPLORE) & frame["message_id"].notna()]
            for camp, n in sent["message_id"].map(campaign_of).value_counts().items():
                explored_sends[str(camp)] = explored_sends.get(str(camp), 0) + int(n)
    allocated = allocation.allocate_budget(offers, budget, explored_sends)
    written = 0
    for shard, frame in phase1.items():
        final = allocation.apply_allocation(
            frame, allocated[allocated["customer_id"].isin(frame["customer_id"])], cfg.policy
        )
        written += write_decisions(cfg, run_id, shard, plan, champion, final)
    per_campaign = allocated["campaign_id"].value_counts().to_dict() if len(allocated) else {}
    return {
        "applied": True,
        "budget": budget,
        "allocated": int(len(allocated)),
        "decisions": written,
        "allocated_per_campaign": {str(k): int(v) for k, v in per_campaign.items()},
        "explored_per_campaign": explored_sends,
    }
