"""The next-best-message policy: rules first (consent, caps, quiet hours), then the best net uplift."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig, PolicySettings

EXPLOIT, EXPLORE = "exploit", "explore"


def allowed_channels(customers: pd.DataFrame, cfg: HeraldConfig) -> pd.DataFrame:
    """Boolean frame customer × channel: consent recorded, or implied by config for that channel."""
    allowed = pd.DataFrame(index=customers.index)
    for channel in cfg.channels:
        column = f"consent_{channel}"
        if channel in cfg.implied_consent_channels:
            allowed[channel] = True
        elif column in customers:
            allowed[channel] = customers[column].fillna(False).astype(bool).to_numpy()
        else:
            allowed[channel] = False  # no consent column = no consent recorded
    return allowed


def blocking_reason(customers: pd.DataFrame, allowed: pd.DataFrame, settings: PolicySettings) -> pd.Series:
    """Why a customer gets nothing before any score is looked at (None = may be messaged)."""
    reason = pd.Series(None, index=customers.index, dtype="object")
    if "evt_unsubscribed" in customers:
        reason[customers["evt_unsubscribed"].astype("boolean").fillna(False).to_numpy(dtype=bool)] = "unsubscribed"
    recent = customers.get("recent_sends_7d", pd.Series(0, index=customers.index)).fillna(0)
    reason[(recent >= settings.frequency_cap_7d).to_numpy() & reason.isna().to_numpy()] = "frequency_cap"
    no_channel = ~allowed.any(axis=1).to_numpy()
    reason[no_channel & reason.isna().to_numpy()] = "no_consent"
    return reason


def allowed_send_hours(settings: PolicySettings) -> list[int]:
    hours = [h for h in settings.send_hours if h not in set(settings.quiet_hours)]
    return hours


def choose_actions(
    scored: pd.DataFrame, holdout_p: pd.Series, settings: PolicySettings, rng: np.random.Generator
) -> pd.DataFrame:
    """Pick per customer the candidate with the best uplift net of channel cost, or nothing.

    ``scored`` holds allowed candidates (customer_id, message_id, channel, send_hour, p_response);
    ``holdout_p`` is P(response | no message) per customer_id. With epsilon-greedy exploration the
    logged propensity is (1 − ε)·[greedy] + ε/K over the K allowed actions including "send nothing",
    so later runs can evaluate any policy off-policy.
    """
    cost = scored["channel"].map(settings.channel_cost).fillna(0.0)
    scored = scored.assign(
        uplift=scored["p_response"].to_numpy() - scored["customer_id"].map(holdout_p).to_numpy(),
    )
    scored["net"] = scored["uplift"] - cost.to_numpy()
    best_idx = scored.groupby("customer_id", sort=False)["net"].idxmax()
    best = scored.loc[best_idx].set_index("customer_id")
    n_actions = scored.groupby("customer_id", sort=False).size() + 1  # + send nothing
    customers = best.index
    greedy_sends = best["net"] >= settings.min_uplift
    eps = settings.epsilon if settings.exploration == "epsilon_greedy" else 0.0
    explore = rng.random(len(customers)) < eps
    out = pd.DataFrame({
        "customer_id": customers,
        "message_id": np.where(greedy_sends, best["message_id"], None),
        "channel": np.where(greedy_sends, best["channel"], None),
        "send_hour": np.where(greedy_sends, best["send_hour"], None),
        "p_response": np.where(greedy_sends, best["p_response"], holdout_p.reindex(customers).to_numpy()),
        "uplift": np.where(greedy_sends, best["uplift"], 0.0),
        "policy": EXPLOIT,
        "reason": np.where(greedy_sends, None, "below_threshold"),
    })
    k = n_actions.reindex(customers).to_numpy()
    out["propensity"] = (1 - eps) + eps / k
    if explore.any():
        out = _explore(out, scored, holdout_p, explore, k, eps, rng)
    return out.reset_index(drop=True)


def _explore(
    out: pd.DataFrame, scored: pd.DataFrame, holdout_p: pd.Series, explore: np.ndarray,
    k: np.ndarray, eps: float, rng: np.random.Generator,
) -> pd.DataFrame:
    """Replace the greedy choice of explored customers by a uniform draw over their actions."""
    groups = scored.groupby("customer_id", sort=False).indices
    for i in np.flatnonzero(explore):
        cid = out.at[i, "customer_id"]
        idx = groups[cid]
        pick = int(rng.integers(0, len(idx) + 1))
        greedy_key = (out.at[i, "message_id"], out.at[i, "channel"], out.at[i, "send_hour"])
        if pick == len(idx):  # send nothing
            chosen_key = (None, None, None)
            out.loc[i, ["message_id", "channel", "send_hour", "uplift", "reason"]] = [None, None, None, 0.0, "explore_holdout"]
            out.at[i, "p_response"] = float(holdout_p[cid])
        else:
            row = scored.iloc[idx[pick]]
            chosen_key = (row["message_id"], row["channel"], row["send_hour"])
            out.loc[i, ["message_id", "channel", "send_hour", "p_response", "uplift", "reason"]] = [
                row["message_id"], row["channel"], row["send_hour"], row["p_response"], row["uplift"], None]
        out.at[i, "policy"] = EXPLORE
        # The chosen action may coincide with the greedy one, which it could have been chosen as too.
        out.at[i, "propensity"] = eps / k[i] + ((1 - eps) if chosen_key == greedy_key else 0.0)
    return out
