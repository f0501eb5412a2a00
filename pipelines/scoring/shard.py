"""Scoring one shard: stream its customers in batches, score every candidate in one model call, apply the policy."""

from __future__ import annotations

import zlib
from datetime import datetime

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.policy.allocation import campaign_offers, keep_allocatable
from pipelines.policy.choice import (
    RULE,
    allowed_channels,
    allowed_send_hours,
    blocking_reason,
    choose_actions,
    net_uplift,
)
from pipelines.scoring.budget import OFFER_COLUMNS, hand_off_shard
from pipelines.scoring.candidates import candidate_positions, holdout_hour
from pipelines.scoring.decisions import write_decisions
from pipelines.scoring.explain import decision_traces, write_decision_traces
from pipelines.scoring.prepare import SCORING_ONLY_COLUMNS, ScoringPlan, iter_shard
from pipelines.scoring.scorer import Scorer, load_scorer, model_inputs
from pipelines.training import features
from pipelines.training.registry import RegisteredModel
from pipelines.warehouse.contract import HOLDOUT_CHANNEL

# The columns a decision carries from its batch until it is written (or handed to the budget pass).
_PHASE1_COLUMNS = [
    "customer_id",
    "message_id",
    "channel",
    "send_hour",
    "p_response",
    "uplift",
    "propensity",
    "policy",
    "reason",
    "n_actions",
    "greedy_message_id",
    "greedy_channel",
    "greedy_send_hour",
]


def score_batch(
    customers: pd.DataFrame,
    messages: pd.DataFrame,
    cfg: HeraldConfig,
    as_of: datetime,
    scorer: Scorer,
    rng: np.random.Generator,
    traces: list[pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Decide for one batch of customers: rules, one model call for all candidates, the policy.

    Returns (decisions incl. rule-blocked customers, the batch's campaign offers, candidates scored).
    When ``traces`` is a list, each open customer's top candidates are appended to it (explain).
    """
    allowed = allowed_channels(customers, cfg)
    blocked = blocking_reason(customers, allowed, cfg.policy, n_active_messages=len(messages))
    is_open = blocked.isna().to_numpy()
    blocked_rows = pd.DataFrame(
        {
            "customer_id": customers.loc[~is_open, "customer_id"].to_numpy(),
            "message_id": None,
            "channel": None,
            "send_hour": None,
            "p_response": np.nan,
            "uplift": np.nan,
            "propensity": 1.0,
            "policy": RULE,
            "reason": blocked[~is_open].to_numpy(),
            "n_actions": 1,
        }
    )
    open_customers = customers[is_open]
    empty_offers = pd.DataFrame()
    if open_customers.empty:
        return blocked_rows, empty_offers, 0
    open_customers = open_customers.reset_index(drop=True)
    n_hold = len(open_customers)
    cust_pos, msg_pos, hour, chan = candidate_positions(
        allowed[is_open].to_numpy(dtype=bool), len(messages), allowed_send_hours(cfg.policy)
    )
    # Actions: every open customer's hold-out first, then the candidate grid (as holdout_rows + candidate_rows).
    action_cust = np.concatenate([np.arange(n_hold, dtype=np.int64), cust_pos])
    action_msg = np.concatenate([np.full(n_hold, -1, dtype=np.int64), msg_pos])
    customer_ids = open_customers["customer_id"].to_numpy(dtype=object)
    message_ids = messages["message_id"].to_numpy(dtype=object)
    channels = np.asarray(list(cfg.channels), dtype=object)
    grid_cust, grid_msg, grid_chan = customer_ids[cust_pos], message_ids[msg_pos], channels[chan]
    as_of_ts = pd.Timestamp(as_of)
    fatigue = pd.to_numeric(open_customers["recent_sends_7d"]).fillna(0).astype("int64").to_numpy()
    actions = pd.DataFrame(
        {
            "customer_id": np.concatenate([customer_ids, grid_cust]),
            "message_id": np.concatenate([np.full(n_hold, None, dtype=object), grid_msg]),
            "channel": np.concatenate([np.full(n_hold, HOLDOUT_CHANNEL, dtype=object), grid_chan]),
            "send_hour": np.concatenate([np.full(n_hold, holdout_hour(cfg), dtype=np.int64), hour]),
            "weekday": np.full(len(action_cust), as_of_ts.weekday(), dtype=np.int64),
            "recent_sends_7d": fatigue[action_cust],
        }
    )
    profiles = open_customers.drop(columns=[c for c in SCORING_ONLY_COLUMNS if c in open_customers])
    # Positional takes, not key merges: same raw model rows as features.model_rows, without hashing ids.
    rows = features.model_rows_at(
        actions,
        model_inputs(profiles, scorer, ("customer_id",)),
        action_cust,
        model_inputs(messages, scorer, ("message_id",)),
        action_msg,
    )
    p = np.asarray(scorer(rows), dtype=np.float64)
    del rows, actions
    holdout_p = pd.Series(p[:n_hold], index=customer_ids)
    grid = pd.DataFrame(
        {
            "customer_id": grid_cust,
            "message_id": grid_msg,
            "send_hour": hour,
            "channel": grid_chan,
            "weekday": np.full(len(cust_pos), as_of_ts.weekday(), dtype=np.int64),
            "p_response": p[n_hold:],
        }
    )
    decided = choose_actions(grid, holdout_p, cfg.policy, rng)
    if traces is not None:
        traces.append(decision_traces(net_uplift(grid, holdout_p, cfg.policy), holdout_p))
    offers = empty_offers
    budget = cfg.policy.campaign_budget_per_run
    if budget is not None and "msg_campaign_id" in messages:
        campaign_of = messages.set_index("message_id")["msg_campaign_id"]
        offers = campaign_offers(net_uplift(grid, holdout_p, cfg.policy), campaign_of, cfg.policy)
        offers = offers[OFFER_COLUMNS]
    return pd.concat([decided, blocked_rows], ignore_index=True), offers, len(grid)


def score_shard(
    cfg: HeraldConfig,
    run_id: str,
    shard: int,
    plan: ScoringPlan,
    champion: RegisteredModel,
    scorer: Scorer | None = None,
) -> dict[str, int | bool]:
    """Stream one shard in customer batches, apply the policy and replace the shard's decisions.

    Memory is one batch of candidates plus one small decision row per customer of the shard. With
    a campaign budget the decisions wait in Parquet for
    :func:`pipelines.scoring.budget.allocate_budget`, which writes them once the whole
    run's offers are known.
    """
    as_of = datetime.fromisoformat(plan.as_of)
    scorer = scorer or load_scorer(cfg, champion)
    messages = pd.read_parquet(plan.messages_path)
    rng = np.random.default_rng(zlib.crc32(f"{run_id}/{shard}".encode()))
    decided: list[pd.DataFrame] = []
    offers: list[pd.DataFrame] = []
    candidates_scored = n_customers = 0
    budget = cfg.policy.campaign_budget_per_run
    n_campaigns = int(messages["msg_campaign_id"].nunique()) if "msg_campaign_id" in messages else 1
    traces: list[pd.DataFrame] = []
    for batch in iter_shard(plan, shard):
        decisions, batch_offers, scored = score_batch(batch, messages, cfg, as_of, scorer, rng, traces)
        decided.append(_compact(decisions))
        n_customers += len(batch)
        candidates_scored += scored
        if budget is not None and len(batch_offers):
            # Keep only offers a greedy allocation could accept, so offers stay bounded by the budget.
            offers = [keep_allocatable(pd.concat([*offers, batch_offers], ignore_index=True), budget, n_campaigns)]
    frame = pd.concat(decided, ignore_index=True) if decided else _compact(pd.DataFrame(columns=_PHASE1_COLUMNS))
    write_decision_traces(cfg, run_id, shard, traces)
    if budget is not None:
        hand_off_shard(plan, shard, frame, offers)
        return {
            "shard": shard,
            "customers": n_customers,
            "candidates_scored": candidates_scored,
            "decisions": 0,
            "budget_pending": True,
        }
    written = write_decisions(cfg, run_id, shard, plan, champion, frame)
    return {
        "shard": shard,
        "customers": n_customers,
        "candidates_scored": candidates_scored,
        "decisions": written,
        "budget_pending": False,
    }


def _compact(decisions: pd.DataFrame) -> pd.DataFrame:
    """The columns a decision needs until it is written, with stable types for Parquet."""
    out = decisions.reindex(columns=_PHASE1_COLUMNS)
    for col in ("send_hour", "greedy_send_hour", "n_actions"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    for col in ("p_response", "uplift", "propensity"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    for col in ("customer_id", "message_id", "channel", "policy", "reason", "greedy_message_id", "greedy_channel"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out
