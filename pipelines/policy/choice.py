"""The next-best-message policy: rules first (consent, caps, quiet hours), then the best net uplift."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig, PolicySettings

EXPLOIT, EXPLORE, RULE = "exploit", "explore", "rule"
# A randomized control group: scored customers held out at random (PolicySettings.control_share), the
# baseline against which realised lift is measured; apart from the rule-based no-sends.
CONTROL, RANDOMIZED_CONTROL = "control", "randomized_control"
# Reasons a customer gets no message; the first four are decided before any score is looked at.
UNSUBSCRIBED, FREQUENCY_CAP, NO_CONSENT, QUIET_HOURS = "unsubscribed", "frequency_cap", "no_consent", "quiet_hours"
NO_ACTIVE_MESSAGE, BELOW_THRESHOLD, CAMPAIGN_BUDGET = "no_active_message", "below_threshold", "campaign_budget"
EXPLORE_HOLDOUT = "explore_holdout"
ACTION_KEY = ("message_id", "channel", "send_hour")


def allowed_channels(customers: pd.DataFrame, cfg: HeraldConfig) -> pd.DataFrame:
    """Boolean frame customer × channel: consent recorded, or implied by config for that channel."""
    allowed = pd.DataFrame(index=customers.index)
    for channel in cfg.channels:
        column = f"consent_{channel}"
        if channel in cfg.implied_consent_channels:
            allowed[channel] = True
        elif column in customers:
            allowed[channel] = customers[column].astype("boolean").fillna(False).to_numpy(dtype=bool)
        else:
            allowed[channel] = False  # no consent column = no consent recorded
    return allowed


def allowed_send_hours(settings: PolicySettings) -> list[int]:
    """Configured send hours outside the quiet hours, in order."""
    quiet = set(settings.quiet_hours)
    return [h for h in settings.send_hours if h not in quiet]


def blocking_reason(
    customers: pd.DataFrame, allowed: pd.DataFrame, settings: PolicySettings, n_active_messages: int | None = None
) -> pd.Series:
    """Why a customer gets nothing before any score is looked at (None = may be messaged).

    Order matters only for the reported reason: the most customer-specific rule wins.
    """
    reason = np.full(len(customers), None, dtype=object)
    open_ = np.ones(len(customers), dtype=bool)

    def block(mask: np.ndarray, why: str) -> None:
        hit = mask & open_
        reason[hit] = why
        open_[hit] = False

    if "evt_unsubscribed" in customers:
        block(customers["evt_unsubscribed"].astype("boolean").fillna(False).to_numpy(dtype=bool), UNSUBSCRIBED)
    recent = pd.to_numeric(customers.get("recent_sends_7d", pd.Series(0, index=customers.index)), errors="coerce")
    block((recent.fillna(0) >= settings.frequency_cap_7d).to_numpy(), FREQUENCY_CAP)
    block(~allowed.any(axis=1).to_numpy(), NO_CONSENT)
    if not allowed_send_hours(settings):
        block(np.ones(len(customers), dtype=bool), QUIET_HOURS)
    if n_active_messages == 0:
        block(np.ones(len(customers), dtype=bool), NO_ACTIVE_MESSAGE)
    return pd.Series(reason, index=customers.index, dtype="object")


def greedy_choice(
    uplift: np.ndarray, channel_cost: np.ndarray, group: np.ndarray, min_uplift: float, *, inclusive: bool = True
) -> np.ndarray:
    """The one greedy rule: per group, the row with the best uplift net of channel cost, else nothing.

    ``uplift`` is P(action) − P(hold-out) per candidate row (hold-out rows themselves excluded),
    ``channel_cost`` the cost of each row's channel in the same units, ``group`` integer codes
    0..G−1 of the customer or context each row belongs to. A group sends its best row when
    net = uplift − channel_cost clears ``min_uplift`` — ``net ≥ min_uplift`` when ``inclusive`` (the
    deployed rule), ``net > min_uplift`` otherwise. Returns, per group code, the chosen row index or
    −1 (send nothing; also for a group without rows). Ties go to the earlier row; NaN never sends.
    """
    uplift = np.asarray(uplift, dtype=float)
    net = uplift - np.asarray(channel_cost, dtype=float)
    group = np.asarray(group, dtype=np.int64)
    n_groups = int(group.max()) + 1 if len(group) else 0
    out = np.full(n_groups, -1, dtype=np.int64)
    if not len(group):
        return out
    order = np.lexsort((-np.nan_to_num(net, nan=-np.inf), group))  # stable: ties keep input order
    first = np.r_[True, group[order][1:] != group[order][:-1]]
    best = order[first]
    clears = net[best] >= min_uplift if inclusive else net[best] > min_uplift
    out[group[best[clears]]] = best[clears]
    return out


def channel_costs(channels: pd.Series, settings: PolicySettings) -> np.ndarray:
    """Per-row channel cost from the policy settings (0 for an unpriced or missing channel)."""
    return _channel_cost(channels, settings)


def net_uplift(scored: pd.DataFrame, holdout_p: pd.Series, settings: PolicySettings) -> pd.DataFrame:
    """Add ``uplift`` (P(action) − P(hold-out)) and ``net`` (uplift − channel cost) to scored candidates."""
    uplift, net, _, _ = _uplift_arrays(scored, holdout_p, settings)
    return scored.assign(uplift=uplift, net=net)


def _channel_cost(channels: pd.Series, settings: PolicySettings) -> np.ndarray:
    """Per-row channel cost (0 for an unpriced or missing channel), looked up once per distinct channel."""
    codes, names = pd.factorize(channels, sort=False)
    cost = np.array([float(settings.channel_cost.get(n, 0.0)) for n in names] + [0.0], dtype=float)
    return cost[codes]  # code −1 (missing) reads the trailing 0


def _uplift_arrays(
    scored: pd.DataFrame, holdout_p: pd.Series, settings: PolicySettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index]:
    """(uplift, net, customer codes, customers in order of first appearance) of scored candidates.

    The customer ids are hashed once (factorize) and the small hold-out series is aligned to
    them, instead of mapping every candidate's id through it.
    """
    codes, customers = pd.factorize(scored["customer_id"], sort=False)
    hold = holdout_p.reindex(customers).to_numpy(dtype=float)
    uplift = scored["p_response"].to_numpy(dtype=float) - hold[codes]
    return uplift, uplift - _channel_cost(scored["channel"], settings), codes, pd.Index(customers)


def exploration_rate(settings: PolicySettings) -> float:
    """The share of customers explored (epsilon under epsilon-greedy, else 0)."""
    return float(settings.epsilon) if settings.exploration == "epsilon_greedy" else 0.0


def choose_actions(
    scored: pd.DataFrame, holdout_p: pd.Series, settings: PolicySettings, rng: np.random.Generator
) -> pd.DataFrame:
    """Pick per customer the candidate with the best uplift net of channel cost, or nothing.

    ``scored`` holds allowed candidates (customer_id, message_id, channel, send_hour, p_response);
    ``holdout_p`` is P(response | no message) per customer_id. The K actions of a customer are its
    candidates plus "send nothing". Epsilon-greedy: with probability ε the action is drawn uniformly
    from the K, so the logged propensity of the chosen action a is (1 − ε)·[a = greedy] + ε/K, which
    sums to 1 over the K actions. The result also carries ``n_actions`` and the greedy action
    (``greedy_*``) so a later budget pass can recompute propensities.
    """
    scored = scored.reset_index(drop=True)
    uplift, net, codes, customers = _uplift_arrays(scored, holdout_p, settings)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(customers))
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    greedy = greedy_choice(uplift, _channel_cost(scored["channel"], settings), codes, settings.min_uplift)
    greedy = np.r_[greedy, np.full(len(customers) - len(greedy), -1, dtype=np.int64)]
    eps = exploration_rate(settings)
    k = counts + 1  # + send nothing
    explore = rng.random(len(customers)) < eps
    pick = np.floor(rng.random(len(customers)) * k).astype(np.int64)  # uniform over K, drawn for all: stable RNG use
    hold_p = holdout_p.reindex(customers).to_numpy(dtype=float)
    ids = customers.to_numpy()

    # Greedy action per customer, as row index into ``scored`` (−1 = send nothing).
    greedy_row = greedy
    explored_row = np.where(pick < counts, order[np.minimum(starts + pick, len(order) - 1)], -1)
    chosen = np.where(explore, explored_row, greedy_row)
    out = _action_frame(scored, uplift, ids, chosen, hold_p)
    out["policy"] = np.where(explore, EXPLORE, EXPLOIT)
    reason = np.where(chosen >= 0, None, np.where(explore, EXPLORE_HOLDOUT, BELOW_THRESHOLD))
    out["reason"] = reason.astype(object)
    out["propensity"] = eps / k + (1.0 - eps) * (chosen == greedy_row)
    out["n_actions"] = k
    greedy = _action_frame(scored, uplift, ids, greedy_row, hold_p)
    for col in ACTION_KEY:
        out[f"greedy_{col}"] = greedy[col].to_numpy()
    share = settings.control_share
    if share > 0:
        # Drawn after every other draw, so a share of 0 leaves the decisions exactly as they were.
        control = rng.random(len(customers)) < share
        pi_none = eps / k + (1.0 - eps) * (greedy_row < 0)
        held = _action_frame(scored, uplift, ids, np.full(len(ids), -1), hold_p)
        for col in out.columns.intersection(held.columns):
            out[col] = np.where(control, held[col].to_numpy(dtype=object), out[col].to_numpy(dtype=object))
        out["policy"] = np.where(control, CONTROL, out["policy"])
        out["reason"] = np.where(control, RANDOMIZED_CONTROL, out["reason"].to_numpy(dtype=object)).astype(object)
        # The logged propensity is that of the mixture: P(a) = share·[a = none] + (1 − share)·π(a).
        is_none = control | (chosen < 0)
        pi = np.where(control, pi_none, out["propensity"].to_numpy(dtype=float))
        out["propensity"] = share * is_none + (1.0 - share) * pi
        for col in ("p_response", "uplift"):
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out


def _action_frame(
    scored: pd.DataFrame, uplift: np.ndarray, customers: np.ndarray, rows: np.ndarray, hold_p: np.ndarray
) -> pd.DataFrame:
    """Actions chosen per customer from row indices into ``scored`` (−1 = send nothing)."""
    sends = rows >= 0
    take = np.where(sends, rows, 0)
    empty_grid = len(scored) == 0

    def col(name: str, empty: object) -> np.ndarray:
        # Take the chosen rows first, then make them Python objects: only one value per customer is converted.
        values = np.full(len(rows), empty, dtype=object) if empty_grid else scored[name].to_numpy()[take].astype(object)
        return np.where(sends, values, empty)

    return pd.DataFrame(
        {
            "customer_id": customers,
            "message_id": col("message_id", None),
            "channel": col("channel", None),
            "send_hour": col("send_hour", None),
            "p_response": np.where(
                sends, 0.0 if empty_grid else scored["p_response"].to_numpy(dtype=float)[take], hold_p
            ),
            "uplift": np.where(sends, 0.0 if empty_grid else uplift[take], 0.0),
        }
    )
