"""Off-policy evaluation: IPS, self-normalised IPS and doubly robust policy values from logged sends, with BCa bootstrap CIs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import PolicySettings
from pipelines.policy import allowed_send_hours, exploration_rate
from pipelines.warehouse.contract import HOLDOUT_CHANNEL

PredictFn = Callable[[pd.DataFrame], np.ndarray]
ESTIMATORS = ("ips", "snips", "dr")
# Columns that describe the action of a row; everything else of a logged row is its context.
ACTION_COLUMNS = ("message_id", "channel", "send_hour", "is_holdout")
# Contexts whose candidates are scored in one model call: bounds memory during evaluation.
CONTEXT_CHUNK = 100


@dataclass
class LoggedBandit:
    """Logged decisions as OPE sees them: reward, both policies' probabilities of the logged action, model values.

    ``q_logged`` is the reward model's estimate for the logged action and ``q_target`` its expected
    value under the target policy, Σ_a π(a|x)·q̂(x, a); both are needed only by doubly robust.
    """

    reward: np.ndarray
    logging_propensity: np.ndarray
    target_propensity: np.ndarray
    q_logged: np.ndarray | None = None
    q_target: np.ndarray | None = None

    @property
    def weights(self) -> np.ndarray:
        return self.target_propensity / self.logging_propensity

    def effective_sample_size(self) -> float:
        """Kish's effective sample size of the importance weights: how many logged rows the estimate is worth."""
        w = self.weights
        return float(w.sum() ** 2 / (w**2).sum()) if (w**2).sum() > 0 else 0.0


def _terms(data: LoggedBandit, estimator: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-row numerator (and denominator for ratio estimators) whose means make the estimate."""
    w = data.weights
    if estimator == "ips":
        return w * data.reward, None
    if estimator == "snips":
        return w * data.reward, w
    if estimator == "dr":
        if data.q_logged is None or data.q_target is None:
            raise ValueError("doubly robust needs q_logged and q_target")
        return data.q_target + w * (data.reward - data.q_logged), None
    raise ValueError(f"unknown estimator {estimator!r} (one of {', '.join(ESTIMATORS)})")


def estimate(data: LoggedBandit, estimator: str) -> float:
    """Point estimate of the target policy's value (mean reward per decision)."""
    num, den = _terms(data, estimator)
    if den is None:
        return float(num.mean())
    return float(num.sum() / den.sum()) if den.sum() > 0 else float("nan")


def bootstrap_ci(
    data: LoggedBandit, estimator: str, n_boot: int = 200, confidence: float = 0.9, seed: int = 0
) -> tuple[float, float]:
    """Bias-corrected and accelerated (BCa) bootstrap interval over logged rows.

    Importance-weighted rewards are strongly right-skewed (a rare large weight times a rare
    conversion), where plain percentile intervals sit too low and under-cover; BCa shifts the
    percentiles by the resamples' median bias and the statistic's skewness (Efron, 1987). The
    acceleration comes from the estimator's influence values, exact for a mean and first-order
    for the self-normalised ratio, so it costs O(n) instead of a jackknife's O(n²).
    """
    num, den = _terms(data, estimator)
    n = len(num)
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)  # resamples per step: bounds the index matrix
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        if den is None:
            values[start:stop] = num[idx].mean(axis=1)
        else:
            d = den[idx].sum(axis=1)
            values[start:stop] = np.where(d > 0, num[idx].sum(axis=1) / np.where(d > 0, d, 1.0), np.nan)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    theta = estimate(data, estimator)
    if den is None:
        influence = num - theta
    else:
        influence = (num - theta * den) / max(float(den.mean()), 1e-12)
    alpha = (1.0 - confidence) / 2.0
    low_q, high_q = _bca_quantiles(values, theta, influence, alpha)
    return float(np.quantile(values, low_q)), float(np.quantile(values, high_q))


def _bca_quantiles(values: np.ndarray, theta: float, influence: np.ndarray, alpha: float) -> tuple[float, float]:
    """The BCa-adjusted lower and upper quantile levels; plain percentiles when undefined."""
    from scipy.stats import norm

    below = (np.sum(values < theta) + 0.5 * np.sum(values == theta)) / len(values)
    if not 0.0 < below < 1.0 or not np.isfinite(theta):
        return alpha, 1.0 - alpha
    z0 = float(norm.ppf(below))
    spread = float(np.sum(influence**2))
    accel = float(np.sum(influence**3) / (6.0 * spread**1.5)) if spread > 0 else 0.0
    levels = []
    for a in (alpha, 1.0 - alpha):
        z = z0 + float(norm.ppf(a))
        levels.append(float(norm.cdf(z0 + z / (1.0 - accel * z))))
    return levels[0], levels[1]


def evaluate(
    data: LoggedBandit, n_boot: int = 200, confidence: float = 0.9, seed: int = 0,
    estimators: tuple[str, ...] = ESTIMATORS,
) -> dict[str, dict[str, float]]:
    """Every estimator's value and bootstrap interval."""
    out: dict[str, dict[str, float]] = {}
    for name in estimators:
        if name == "dr" and data.q_logged is None:
            continue
        low, high = bootstrap_ci(data, name, n_boot, confidence, seed)
        out[name] = {"estimate": estimate(data, name), "ci_low": low, "ci_high": high}
    return out


def on_policy_value(reward: np.ndarray, n_boot: int = 200, confidence: float = 0.9, seed: int = 0) -> dict[str, float]:
    """The logging policy's own value: the mean logged reward, with the same bootstrap interval."""
    ones = np.ones(len(reward))
    data = LoggedBandit(np.asarray(reward, dtype=float), ones, ones)
    low, high = bootstrap_ci(data, "ips", n_boot, confidence, seed)
    return {"estimate": float(np.mean(reward)) if len(reward) else float("nan"), "ci_low": low, "ci_high": high}


# ---- the next-best-message policy on logged sends ------------------------------------------
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


def replay_target_policy(test_rows: pd.DataFrame, predict_fn: PredictFn, settings: PolicySettings,
                         max_rows: int | None = None, seed: int = 0) -> TargetPolicyLog:
    """Score every allowed action of each logged context and derive the target policy's probabilities.

    Candidates per context are the messages seen in the log that were active that day × the
    context's consented logged channels × allowed send hours, plus sending nothing, as in scoring. The greedy action is the
    best uplift net of channel cost if it clears the threshold, else nothing; exploration spreads
    ε over the K actions, as the deployed policy does.
    """
    rows = test_rows[test_rows["propensity"].notna() & (pd.to_numeric(test_rows["propensity"], errors="coerce") > 0)]
    limit = max_rows if max_rows is not None else settings.ope_max_rows
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

    q_logged = np.asarray(predict_fn(rows), dtype=float)
    target_p = np.zeros(len(rows))
    q_target = np.zeros(len(rows))
    cand_parts: list[pd.DataFrame] = []
    for start in range(0, len(rows), CONTEXT_CHUNK):
        ctx = rows.iloc[start:start + CONTEXT_CHUNK]
        cand = _candidates(ctx, context_cols, catalogue, channels, hours, start)
        p = np.asarray(predict_fn(cand), dtype=float)
        keys = cand[["context", "message_id", "channel", "send_hour"]].copy()
        keys["q"] = p
        probs = _target_probs(keys, settings, eps)
        keys["target_prob"] = probs
        q_target[ctx.index.to_numpy()] = (keys["q"] * keys["target_prob"]).groupby(keys["context"]).sum() \
            .reindex(ctx.index).to_numpy()
        target_p[ctx.index.to_numpy()] = _logged_prob(ctx, keys)
        cand_parts.append(keys.assign(customer_id=cand["customer_id"].to_numpy(),
                                      recent_sends_7d=cand["recent_sends_7d"].to_numpy()
                                      if "recent_sends_7d" in cand else 0))
    bandit = LoggedBandit(
        reward=rows["label"].to_numpy(dtype=float),
        logging_propensity=pd.to_numeric(rows["propensity"]).to_numpy(dtype=float),
        target_propensity=target_p,
        q_logged=q_logged,
        q_target=q_target,
    )
    contexts = rows[["customer_id", *(c for c in ("recent_sends_7d", "send_id") if c in rows)]].copy()
    return TargetPolicyLog(bandit, contexts, pd.concat(cand_parts, ignore_index=True) if cand_parts else pd.DataFrame())


def _is_holdout(rows: pd.DataFrame) -> np.ndarray:
    hold = rows["message_id"].isna() | rows["channel"].astype(str).eq(HOLDOUT_CHANNEL)
    if "is_holdout" in rows:
        hold |= rows["is_holdout"].astype("boolean").fillna(False)
    return hold.to_numpy(dtype=bool)


def _candidates(ctx: pd.DataFrame, context_cols: list[str], catalogue: pd.DataFrame, channels: list[str],
                hours: np.ndarray, offset: int) -> pd.DataFrame:
    """All allowed actions of each context, as raw model rows (hold-out first)."""
    parts = []
    base = ctx[context_cols].reset_index(drop=True).assign(context=np.arange(offset, offset + len(ctx)))
    parts.append(base.assign(message_id=None, channel=HOLDOUT_CHANNEL, send_hour=ctx["send_hour"].to_numpy(),
                             is_holdout=True))
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
    for column, inside in (("msg_active_from", lambda bound: bound <= day), ("msg_active_to", lambda bound: day <= bound)):
        if column in cand:
            bound = pd.to_datetime(cand[column], errors="coerce")
            keep &= (bound.isna() | inside(bound)).to_numpy(dtype=bool)
    return keep | cand["message_id"].isna().to_numpy()


def _target_probs(keys: pd.DataFrame, settings: PolicySettings, eps: float) -> np.ndarray:
    """(1 − ε)·[a = greedy] + ε/K per candidate; greedy = best net uplift over the threshold, else nothing."""
    hold = keys["message_id"].isna().to_numpy()
    ctx = keys["context"].to_numpy()
    hold_q = pd.Series(keys["q"].to_numpy()[hold], index=ctx[hold])
    uplift = keys["q"].to_numpy() - hold_q.reindex(ctx).to_numpy()
    cost = keys["channel"].map(settings.channel_cost).fillna(0.0).to_numpy(dtype=float)
    net = np.where(hold, -np.inf, uplift - cost)
    order = np.lexsort((-net, ctx))
    first = np.r_[True, ctx[order][1:] != ctx[order][:-1]]
    best = order[first]
    greedy = np.zeros(len(keys), dtype=bool)
    sends = net[best] >= settings.min_uplift
    greedy[best[sends]] = True
    no_send_ctx = set(ctx[best[~sends]].tolist())
    greedy |= hold & np.isin(ctx, list(no_send_ctx))
    k = pd.Series(ctx).map(pd.Series(ctx).value_counts()).to_numpy(dtype=float)
    return (1.0 - eps) * greedy + eps / k


def _logged_prob(ctx: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """π(logged action | context); 0 when the logged action is not allowed by the target's rules."""
    logged = pd.DataFrame({
        "context": ctx.index.to_numpy(),
        "key": _action_keys(ctx["message_id"], ctx["channel"], ctx["send_hour"], _is_holdout(ctx)),
    })
    cand = pd.DataFrame({
        "context": keys["context"].to_numpy(),
        "key": _action_keys(keys["message_id"], keys["channel"], keys["send_hour"], keys["message_id"].isna().to_numpy()),
        "target_prob": keys["target_prob"].to_numpy(),
    })
    return logged.merge(cand, on=["context", "key"], how="left")["target_prob"].fillna(0.0).to_numpy()


def _action_keys(message: pd.Series, channel: pd.Series, hour: pd.Series, hold: np.ndarray) -> np.ndarray:
    """One string per action; every hold-out is the same action whatever its hour."""
    h = pd.to_numeric(hour, errors="coerce").fillna(-1).astype(int).astype(str).to_numpy()
    keys = message.astype(str).to_numpy() + "|" + channel.astype(str).to_numpy() + "|" + h
    return np.where(hold, "holdout", keys)


def evaluate_policy_offline(test_rows: pd.DataFrame, predict_fn: PredictFn, settings: PolicySettings) -> dict[str, Any]:
    """The new policy's estimated value vs the logging policy on held-out logged sends, before promotion.

    ``test_rows`` are training rows of the test split (action, context features, ``propensity``,
    ``label``); ``predict_fn`` maps raw rows to P(response) (the challenger). Returns each
    estimator's value and interval for the ε-greedy policy the challenger would run, the logging
    policy's on-policy value, and the DR improvement with its interval.
    """
    replay = replay_target_policy(test_rows, predict_fn, settings)
    data = replay.bandit
    n_boot, conf = settings.ope_bootstrap, settings.ope_confidence
    estimates = evaluate(data, n_boot, conf)
    logging_value = on_policy_value(data.reward, n_boot, conf)
    # The improvement's interval comes from resampling both together: the same rows carry both values.
    gain = LoggedBandit(data.reward, data.logging_propensity, data.target_propensity,
                        data.q_logged, data.q_target - data.reward)
    gain_estimate = estimate(gain, "dr")
    low, high = bootstrap_ci(gain, "dr", n_boot, conf)
    return {
        "n_rows": int(len(data.reward)),
        "effective_sample_size": data.effective_sample_size(),
        # Share of logged actions that are the target's greedy choice (the rows IPS mostly rests on).
        "match_rate": float((data.target_propensity > 0.5).mean()) if len(data.reward) else 0.0,
        "confidence": conf,
        "policy": estimates,
        "logging": logging_value,
        "improvement_dr": {"estimate": gain_estimate, "ci_low": low, "ci_high": high},
    }
