"""Campaign budgets: each campaign's sends go to the best net uplifts, one message per customer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.config import PolicySettings
from pipelines.policy.choice import ACTION_KEY, CAMPAIGN_BUDGET, EXPLOIT, EXPLORE, exploration_rate


def campaign_offers(scored: pd.DataFrame, campaign_of: pd.Series, settings: PolicySettings) -> pd.DataFrame:
    """Each customer's best candidate per campaign that clears the threshold: what a budget pass allocates from."""
    frame = scored[scored["net"] >= settings.min_uplift]
    if frame.empty:
        return frame.assign(campaign_id=pd.Series(dtype=object))
    frame = frame.assign(campaign_id=frame["message_id"].map(campaign_of).to_numpy())
    frame = frame.sort_values(["customer_id", "campaign_id", "net"], ascending=[True, True, False], kind="stable")
    return frame.drop_duplicates(["customer_id", "campaign_id"]).reset_index(drop=True)


def keep_allocatable(offers: pd.DataFrame, budget: int, n_campaigns: int) -> pd.DataFrame:
    """Drop offers that a greedy budget allocation can never accept, so offers stay bounded by the budget.

    In the greedy pass a campaign's offers, best first, are accepted at most B times and refused
    because the customer already has a message at most (total budget) times, so only its best
    (n_campaigns + 1)·B offers can ever be accepted; the union of every shard's best also holds the
    global best, so truncating per shard is exact.
    """
    keep = (max(n_campaigns, 1) + 1) * budget
    if offers.empty:
        return offers
    ranked = offers.sort_values("net", ascending=False, kind="stable")
    return ranked.groupby("campaign_id", sort=False).head(keep).reset_index(drop=True)


def allocate_budget(offers: pd.DataFrame, budget: int, already_used: dict[str, int] | None = None) -> pd.DataFrame:
    """Give each campaign's at most ``budget`` sends to the highest net uplifts, one message per customer.

    Greedy over all offers of the run in descending net uplift: an offer is accepted when its
    customer has no message yet and its campaign has budget left (``already_used`` counts sends
    made outside the allocation, i.e. explored ones). Returns the accepted offers.
    """
    if offers.empty:
        return offers
    used = dict(already_used or {})
    ranked = offers.sort_values(["net", "customer_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    campaigns = ranked["campaign_id"].to_numpy(dtype=object)
    customers = ranked["customer_id"].to_numpy(dtype=object)
    remaining = {c: budget - used.get(c, 0) for c in pd.unique(campaigns)}
    open_campaigns = sum(1 for v in remaining.values() if v > 0)
    served: set[object] = set()
    accepted: list[int] = []
    for i in range(len(ranked)):
        if open_campaigns == 0:
            break
        camp, cust = campaigns[i], customers[i]
        if remaining[camp] <= 0 or cust in served:
            continue
        accepted.append(i)
        served.add(cust)
        remaining[camp] -= 1
        if remaining[camp] == 0:
            open_campaigns -= 1
    return ranked.iloc[accepted].reset_index(drop=True)


def apply_allocation(decisions: pd.DataFrame, allocated: pd.DataFrame, settings: PolicySettings) -> pd.DataFrame:
    """Turn unconstrained decisions into budgeted ones: the allocation becomes each customer's greedy action.

    Rule-blocked rows are untouched. Exploited rows take their allocated offer, or nothing with
    reason ``campaign_budget`` when their unconstrained choice was a send (``below_threshold`` stays).
    Explored rows keep their drawn action; their propensity is recomputed against the new greedy
    action, so logged propensities stay those of the policy that actually ran.
    """
    out = decisions.copy()
    scored = out["policy"].isin([EXPLOIT, EXPLORE]).to_numpy()
    alloc = (
        allocated.set_index("customer_id")
        if len(allocated)
        else pd.DataFrame(columns=["message_id", "channel", "send_hour", "p_response", "uplift", "holdout_p"])
    )
    has = out["customer_id"].isin(alloc.index).to_numpy() & scored
    cid = out["customer_id"]
    new_greedy = {col: cid.map(alloc[col]).where(has, None).to_numpy(dtype=object) for col in ACTION_KEY}
    eps = exploration_rate(settings)
    exploit = (out["policy"] == EXPLOIT).to_numpy()
    was_send = out["message_id"].notna().to_numpy()
    # Exploited rows: the allocated action or nothing.
    for col in ACTION_KEY:
        out[col] = np.where(exploit, new_greedy[col], out[col].to_numpy(dtype=object))
    p_alloc = cid.map(alloc["p_response"]).to_numpy(dtype=float) if len(alloc) else np.full(len(out), np.nan)
    u_alloc = cid.map(alloc["uplift"]).to_numpy(dtype=float) if len(alloc) else np.full(len(out), np.nan)
    hold_p = out["p_response"].to_numpy(dtype=float) - out["uplift"].fillna(0).to_numpy(dtype=float)
    out["p_response"] = np.where(exploit & has, p_alloc, np.where(exploit & ~has, hold_p, out["p_response"]))
    out["uplift"] = np.where(exploit & has, u_alloc, np.where(exploit & ~has, 0.0, out["uplift"]))
    reason = out["reason"].to_numpy(dtype=object).copy()
    reason[exploit & has] = None
    reason[exploit & ~has & was_send] = CAMPAIGN_BUDGET
    out["reason"] = reason
    # Propensity: (1 − ε)·[chosen = greedy] + ε/K with the budgeted greedy action.
    k = out["n_actions"].to_numpy(dtype=float)
    same = np.ones(len(out), dtype=bool)
    for col in ACTION_KEY:
        same &= _keys(out[col].to_numpy(dtype=object)) == _keys(new_greedy[col])
    share = settings.control_share
    none = out["message_id"].isna().to_numpy()
    budgeted = (1.0 - share) * (eps / k + (1.0 - eps) * same) + share * none
    out["propensity"] = np.where(scored, budgeted, out["propensity"])
    for col in ACTION_KEY:
        out[f"greedy_{col}"] = np.where(scored, new_greedy[col], out[f"greedy_{col}"].to_numpy(dtype=object))
    return out


def _keys(values: np.ndarray) -> np.ndarray:
    """Comparable action-key values: missing → "", numbers by their integer value (8, 8.0, np.int64(8) alike)."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            out[i] = ""
        elif isinstance(v, (int, float, np.integer, np.floating)):
            out[i] = str(int(v))
        else:
            out[i] = str(v)
    return out
