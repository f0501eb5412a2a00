"""The next-best-message policy replayed on logged sends, and its off-policy value before promotion.

Builds the target policy's probabilities for every logged context (the estimators in
``pipelines/policy/ope.py`` then value it) and reports the challenger's policy against the logging policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import PolicySettings
from pipelines.policy.choice import allowed_send_hours, channel_costs, exploration_rate, greedy_choice
from pipelines.policy.ope import HEADLINE, MIN_ESS_TO_ESTIMATE, LoggedBandit, PredictFn, tune_shrinkage
from pipelines.policy.ope import estimate as point_estimate
from pipelines.policy.ope_intervals import bootstrap_ci, evaluate, not_computed, on_policy_value
from pipelines.policy.propensity import split_valid
from pipelines.warehouse.contract import HOLDOUT_CHANNEL

# Columns that describe the action of a row; everything else of a logged row is its context.
ACTION_COLUMNS = ("message_id", "channel", "send_hour", "is_holdout")
# Contexts whose candidates are scored in one model call: bounds memory during evaluation.
CONTEXT_CHUNK = 100


@dataclass
class TargetPolicyLog:
    """The ε-greedy next-best-message policy replayed on logged contexts.

    ``bandit`` holds one row per logged send; ``candidates`` one row per (logged context, allowed
    action) with the target probability, so a simulator that knows the truth can compute the
    policy's true value as Σ_a π(a|x)·P(a|x) (the benchmarks do, with the synthetic world's oracle).
    """

    bandit: LoggedBandit
    contexts: pd.DataFrame
    candidates: pd.DataFrame
    # Rows left out because their logging propensity is unusable, by rule (pipelines/policy/propensity.py).
    excluded: dict[str, int] = field(default_factory=dict)
    # Target probability on actions never logged: their value is the reward model's guess alone.
    unlogged: dict[str, float] = field(default_factory=dict)


def replay_target_policy(
    test_rows: pd.DataFrame, predict_fn: PredictFn, settings: PolicySettings, max_rows: int | None = None, seed: int = 0
) -> TargetPolicyLog:
    """Score every allowed action of each logged context and derive the target policy's probabilities.

    Candidates per context are the messages seen in the log that were active that day × the
    context's consented logged channels × allowed send hours, plus sending nothing, as in scoring. The greedy action is
    the best uplift net of channel cost if it clears the threshold, else nothing; exploration spreads
    ε over the K actions, as the deployed policy does.
    """
    rows, rejected, check = split_valid(test_rows)
    limit = max_rows if max_rows is not None else settings.ope_max_rows
    rows = _canonical_order(rows)
    if len(rows) > limit:
        rows = rows.sample(n=limit, random_state=seed)
    rows = rows.reset_index(drop=True)
    is_hold = _is_holdout(rows)
    msg_cols = [c for c in rows.columns if c.startswith("msg_")]
    catalogue = rows.loc[~is_hold, ["message_id", *msg_cols]].drop_duplicates("message_id").reset_index(drop=True)
    channels = sorted(set(rows.loc[~is_hold, "channel"].dropna().astype(str)) - {HOLDOUT_CHANNEL})
    hours = np.asarray(allowed_send_hours(settings), dtype=np.int64)
    context_cols = [c for c in rows.columns if c not in ACTION_COLUMNS and c not in msg_cols]
    eps = exploration_rate(settings)

    if rows.empty:
        empty = np.zeros(0)
        bandit = LoggedBandit(empty, empty, empty, empty, empty)
        return TargetPolicyLog(bandit, rows[["customer_id"]].copy(), pd.DataFrame(), check.counts, {})
    q_logged = np.asarray(predict_fn(rows), dtype=float)
    target_p = np.zeros(len(rows))
    q_target = np.zeros(len(rows))
    cand_parts: list[pd.DataFrame] = []
    for start in range(0, len(rows), CONTEXT_CHUNK):
        ctx = rows.iloc[start : start + CONTEXT_CHUNK]
        cand = _candidates(ctx, context_cols, catalogue, channels, hours, start)
        p = np.asarray(predict_fn(cand), dtype=float)
        keys = cand[["context", "message_id", "channel", "send_hour"]].copy()
        keys["q"] = p
        probs = _target_probs(keys, settings, eps)
        keys["target_prob"] = probs
        q_target[ctx.index.to_numpy()] = (
            (keys["q"] * keys["target_prob"]).groupby(keys["context"]).sum().reindex(ctx.index).to_numpy()
        )
        target_p[ctx.index.to_numpy()] = _logged_prob(ctx, keys)
        cand_parts.append(
            keys.assign(
                customer_id=cand["customer_id"].to_numpy(),
                recent_sends_7d=cand["recent_sends_7d"].to_numpy() if "recent_sends_7d" in cand else 0,
            )
        )
    bandit = LoggedBandit(
        reward=rows["label"].to_numpy(dtype=float),
        logging_propensity=pd.to_numeric(rows["propensity"]).to_numpy(dtype=float),
        target_propensity=target_p,
        q_logged=q_logged,
        q_target=q_target,
    )
    contexts = rows[["customer_id", *(c for c in ("recent_sends_7d", "send_id") if c in rows)]].copy()
    candidates = pd.concat(cand_parts, ignore_index=True) if cand_parts else pd.DataFrame()
    return TargetPolicyLog(bandit, contexts, candidates, check.counts, _unlogged_mass(rows, candidates))


def _canonical_order(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by their send id (or every column), so sampling and estimates ignore the input order."""
    if rows.empty:
        return rows
    keys = ["send_id"] if "send_id" in rows else [c for c in rows.columns if rows[c].map(type).nunique() <= 1]
    return rows.sort_values(keys, kind="stable", na_position="last") if keys else rows


def _unlogged_mass(rows: pd.DataFrame, candidates: pd.DataFrame) -> dict[str, float]:
    """Share of the target policy's probability on actions the log never contains (valued by the model alone)."""
    if candidates.empty:
        return {"share": 0.0, "actions": 0.0}
    hold = candidates["message_id"].isna().to_numpy()
    cand_keys = _action_keys(candidates["message_id"], candidates["channel"], candidates["send_hour"], hold)
    logged = set(_action_keys(rows["message_id"], rows["channel"], rows["send_hour"], _is_holdout(rows)).tolist())
    unseen = ~np.isin(cand_keys, list(logged))
    mass = candidates["target_prob"].to_numpy(dtype=float)
    n_ctx = max(candidates["context"].nunique(), 1)
    return {"share": float(mass[unseen].sum() / n_ctx), "actions": float(len(set(cand_keys[unseen].tolist())))}


def _is_holdout(rows: pd.DataFrame) -> np.ndarray:
    hold = rows["message_id"].isna() | rows["channel"].astype(str).eq(HOLDOUT_CHANNEL)
    if "is_holdout" in rows:
        hold |= rows["is_holdout"].astype("boolean").fillna(False)
    return hold.to_numpy(dtype=bool)


def _candidates(
    ctx: pd.DataFrame,
    context_cols: list[str],
    catalogue: pd.DataFrame,
    channels: list[str],
    hours: np.ndarray,
    offset: int,
) -> pd.DataFrame:
    """All allowed actions of each context, as raw model rows (hold-out first)."""
    parts = []
    base = ctx[context_cols].reset_index(drop=True).assign(context=np.arange(offset, offset + len(ctx)))
    parts.append(
        base.assign(message_id=None, channel=HOLDOUT_CHANNEL, send_hour=ctx["send_hour"].to_numpy(), is_holdout=True)
    )
    for channel in channels:
        consent = f"consent_{channel}"
        allowed = base[base[consent].astype("boolean").fillna(False).to_numpy(dtype=bool)] if consent in base else base
        if allowed.empty or catalogue.empty or len(hours) == 0:
            continue
        n_m, n_h = len(catalogue), len(hours)
        grid = allowed.loc[allowed.index.repeat(n_m * n_h)].reset_index(drop=True)
        grid["message_id"] = np.tile(np.repeat(catalogue["message_id"].to_numpy(dtype=object), n_h), len(allowed))
        grid["send_hour"] = np.tile(hours, len(allowed) * n_m)
        grid["channel"] = channel
        grid["is_holdout"] = False
        parts.append(grid)
    cand = pd.concat(parts, ignore_index=True).merge(catalogue, on="message_id", how="left")
    return cand[_active_at_send(cand)].reset_index(drop=True)


def _active_at_send(cand: pd.DataFrame) -> np.ndarray:
    """Whether each candidate's message was live on the day of its context, as scoring requires.

    Without this the target policy would put mass on messages the logging policy could not send
    that day, and no estimator can learn a value for actions the log never covers.
    """
    keep = np.ones(len(cand), dtype=bool)
    if "sent_at" not in cand:
        return keep
    day = pd.to_datetime(cand["sent_at"], utc=True).dt.tz_localize(None).dt.normalize()
    for column, inside in (
        ("msg_active_from", lambda bound: bound <= day),
        ("msg_active_to", lambda bound: day <= bound),
    ):
        if column in cand:
            bound = pd.to_datetime(cand[column], errors="coerce")
            keep &= (bound.isna() | inside(bound)).to_numpy(dtype=bool)
    return keep | cand["message_id"].isna().to_numpy()


def _target_probs(keys: pd.DataFrame, settings: PolicySettings, eps: float) -> np.ndarray:
    """(1 − ε)·[a = greedy] + ε/K per candidate; greedy = :func:`greedy_choice` (best net uplift, else nothing)."""
    hold = keys["message_id"].isna().to_numpy()
    ctx = keys["context"].to_numpy()
    hold_q = pd.Series(keys["q"].to_numpy()[hold], index=ctx[hold])
    uplift = keys["q"].to_numpy() - hold_q.reindex(ctx).to_numpy()
    sends = np.flatnonzero(~hold)
    codes, contexts = pd.factorize(ctx[sends], sort=False)
    best = greedy_choice(
        uplift[sends], channel_costs(keys["channel"].iloc[sends], settings), codes, settings.min_uplift
    )
    greedy = np.zeros(len(keys), dtype=bool)
    greedy[sends[best[best >= 0]]] = True
    sending_ctx = set(np.asarray(contexts)[best >= 0].tolist())
    greedy |= hold & ~np.isin(ctx, list(sending_ctx))
    k = pd.Series(ctx).map(pd.Series(ctx).value_counts()).to_numpy(dtype=float)
    return (1.0 - eps) * greedy + eps / k


def _logged_prob(ctx: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """π(logged action | context); 0 when the logged action is not allowed by the target's rules."""
    logged = pd.DataFrame(
        {
            "context": ctx.index.to_numpy(),
            "key": _action_keys(ctx["message_id"], ctx["channel"], ctx["send_hour"], _is_holdout(ctx)),
        }
    )
    cand = pd.DataFrame(
        {
            "context": keys["context"].to_numpy(),
            "key": _action_keys(
                keys["message_id"], keys["channel"], keys["send_hour"], keys["message_id"].isna().to_numpy()
            ),
            "target_prob": keys["target_prob"].to_numpy(),
        }
    )
    return logged.merge(cand, on=["context", "key"], how="left")["target_prob"].fillna(0.0).to_numpy()


def _action_keys(message: pd.Series, channel: pd.Series, hour: pd.Series, hold: np.ndarray) -> np.ndarray:
    """One string per action; every hold-out is the same action whatever its hour."""
    h = pd.to_numeric(hour, errors="coerce").fillna(-1).astype(int).astype(str).to_numpy()
    keys = message.astype(str).to_numpy() + "|" + channel.astype(str).to_numpy() + "|" + h
    return np.where(hold, "holdout", keys)


def evaluate_policy_offline(test_rows: pd.DataFrame, predict_fn: PredictFn, settings: PolicySettings) -> dict[str, Any]:
    """The new policy's estimated value vs the logging policy on held-out logged sends, before promotion.

    ``test_rows`` are training rows of the test split (action, context features, ``propensity``,
    ``label``); ``predict_fn`` maps raw rows to P(response) (the challenger). Rows whose propensity is
    null or outside (0, 1] are left out and counted (``excluded``). Returns each estimator's value,
    interval, effective sample size and reliability for the ε-greedy policy the challenger would
    run, the logging policy's on-policy value, the improvement (headline estimator, DR with
    optimistic shrinkage) with its interval, and the target mass on never-logged actions.
    """
    replay = replay_target_policy(test_rows, predict_fn, settings)
    data = replay.bandit
    n_boot, conf, min_ess = settings.ope_bootstrap, settings.ope_confidence, settings.ope_min_effective_sample_size
    estimates = evaluate(data, n_boot, conf, min_ess=min_ess)
    logging_value = on_policy_value(data.reward, n_boot, conf)
    ess = data.effective_sample_size()
    reason = not_computed(data, MIN_ESS_TO_ESTIMATE)
    improvement: dict[str, Any] = {"estimator": HEADLINE}
    if reason:
        improvement |= {"estimate": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "status": reason}
    else:
        # The improvement's interval comes from resampling both together: the same rows carry both values.
        gain = LoggedBandit(
            data.reward, data.logging_propensity, data.target_propensity, data.q_logged, data.q_target - data.reward
        )
        lam = tune_shrinkage(gain)
        low, high = bootstrap_ci(gain, HEADLINE, n_boot, conf, level=lam)
        value = point_estimate(gain, HEADLINE, lam)
        improvement |= {
            "estimate": float(np.clip(value, -1.0, 1.0)),
            "ci_low": float(np.clip(low, -1.0, 1.0)),
            "ci_high": float(np.clip(high, -1.0, 1.0)),
            "shrinkage": lam,
            "status": "ok" if ess >= min_ess else f"unreliable: effective sample size {ess:.1f} < {min_ess:g}",
        }
    improvement["reliable"] = improvement["status"] == "ok"
    return {
        "n_rows": int(len(data.reward)),
        "excluded": replay.excluded,
        "effective_sample_size": ess,
        "min_effective_sample_size": min_ess,
        "reliable": bool(improvement["reliable"]),
        # Share of logged actions that are the target's greedy choice (the rows IPS mostly rests on).
        "match_rate": float((data.target_propensity > 0.5).mean()) if len(data.reward) else 0.0,
        "unlogged_actions": replay.unlogged,
        "confidence": conf,
        "headline": HEADLINE,
        "policy": estimates,
        "logging": logging_value,
        "improvement": improvement,
    }
