"""The logging policy that chose past sends, with exact propensities, and the outcomes that followed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.config import LoggingPolicySettings
from pipelines.synthetic.behaviour import local_to_utc, purchase_amount, sample_rows
from pipelines.synthetic.latents import CATEGORIES, CustomerLatents, MessageSpec
from pipelines.synthetic.response import TrueResponse, hour_term, sigmoid

HOLDOUT_SHARE = 0.10  # share of decisions the logging policy keeps as hold-out (no message)
TARGETED_SHARE = 0.5  # share of message decisions aimed at the customer's top observed category
SENDS_WINDOW_DAYS = 60
RECENT_DAYS = 7  # fatigue window: sends in the 7 days before a send


def logging_shares(
    in_group: np.ndarray, bias: float, holdout_share: float = HOLDOUT_SHARE, targeted_share: float = TARGETED_SHARE
) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer hold-out and targeting shares; the bias knob holds back and untargets one group."""
    holdout = np.where(in_group, np.clip(holdout_share + 0.3 * bias, 0.0, 0.9), holdout_share)
    targeted = np.where(in_group, np.clip(targeted_share * (1.0 - bias), 0.0, 1.0), targeted_share)
    return holdout, targeted


def greedy_actions(
    rng: np.random.Generator,
    oracle: TrueResponse,
    customer_ids: np.ndarray,
    cust: np.ndarray,
    active: np.ndarray,
    consent: np.ndarray,
    hour_grid: np.ndarray,
    policy: LoggingPolicySettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The mostly-greedy logging policy: per send, the best (message, channel, hour) by an earlier model, else uniform.

    The earlier model is the true logit effect (no fatigue) plus fixed Gaussian noise of sd
    ``policy.greedy_noise`` per customer × action. With probability ``policy.epsilon`` the action is
    uniform over active messages × consented channels × hours. ``cust`` (sends,) indexes customers;
    ``active`` (sends, messages) and ``consent`` (sends, channels) are the options of each send;
    ``hour_grid`` the send hours. Returns message, channel and hour indices and P(action | send
    is not a hold-out), exact for either branch.
    """
    n_sends, m = active.shape
    k, h = consent.shape[1], len(hour_grid)
    used, inverse = np.unique(cust, return_inverse=True)
    # (customers used, m, k, h) effects, filled in chunks of customers to bound memory.
    scores = np.empty((len(used), m, k, h))
    grid_m, grid_k, grid_h = (a.ravel() for a in np.meshgrid(np.arange(m), np.arange(k), np.arange(h), indexing="ij"))
    rows_all = oracle._customer_rows(customer_ids[used])
    channels = np.asarray(oracle.channels, dtype=object)
    hours = np.asarray(hour_grid, dtype=float)
    for start in range(0, len(used), 1000):
        part = rows_all[start : start + 1000]
        rows = np.repeat(part, len(grid_m))
        eff = oracle._effect(
            rows,
            np.tile(grid_m, len(part)),
            channels[np.tile(grid_k, len(part))],
            hours[np.tile(grid_h, len(part))],
            np.zeros(len(rows)),
        )
        scores[start : start + len(part)] = eff.reshape(len(part), m, k, h)
    scores += rng.normal(0.0, policy.greedy_noise, scores.shape)
    allowed = active[:, :, None, None] & consent[:, None, :, None]
    flat = np.where(allowed, scores[inverse], -np.inf).reshape(n_sends, -1)
    best = flat.argmax(axis=1)
    g_msg, g_ch, g_hour = np.unravel_index(best, (m, k, h))

    explore = rng.random(n_sends) < policy.epsilon
    u_msg = sample_rows(rng, active.astype(float))
    u_ch = sample_rows(rng, consent.astype(float))
    u_hour = rng.integers(0, h, n_sends)
    msg, ch, hour = (np.where(explore, u, g) for u, g in ((u_msg, g_msg), (u_ch, g_ch), (u_hour, g_hour)))
    is_greedy = (msg == g_msg) & (ch == g_ch) & (hour == g_hour)
    uniform = 1.0 / (active.sum(axis=1) * consent.sum(axis=1) * h)
    p_action = (1.0 - policy.epsilon) * is_greedy + policy.epsilon * uniform
    return msg, ch, hour, p_action


def count_recent(cust: np.ndarray, ts_s: np.ndarray, counted: np.ndarray, window_s: int) -> np.ndarray:
    """For each row, how many earlier rows of the same customer with ``counted`` fall in the window."""
    if len(cust) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((ts_s, cust))
    c, t, w = cust[order].astype(np.int64), ts_s[order].astype(np.int64), counted[order].astype(np.int64)
    # One sorted key per (customer, second): customers are separated by a gap wider than the window.
    span = int(t.max() - t.min()) + window_s + 1
    key = c * span + (t - t.min())
    left = np.searchsorted(key, key - window_s, side="left")
    first_same = np.searchsorted(key, key, side="left")  # rows at the very same instant are not "earlier"
    csum = np.concatenate([[0], np.cumsum(w)])
    out = np.empty(len(cust), dtype=np.int64)
    out[order] = csum[first_same] - csum[left]
    return out


def make_sends(
    rng: np.random.Generator,
    customers: pd.DataFrame,
    lat: CustomerLatents,
    spec: MessageSpec,
    messages: pd.DataFrame,
    oracle: TrueResponse,
    channels: list[str],
    send_hours: list[int],
    now: pd.Timestamp,
    window_days: int,
    n_sends: int,
    top_category: np.ndarray,
    in_group: np.ndarray,
    bias: float,
    policy: LoggingPolicySettings | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replay the logging policy (``policy``, default targeted) over the window; returns sends (no ids) and truth."""
    policy = policy or LoggingPolicySettings()
    n = len(customers)
    today = pd.Timestamp(now.date())
    tenure = (today - pd.to_datetime(customers["signup_date"])).dt.days.to_numpy()
    consent = np.column_stack(
        [
            customers[f"consent_{c}"].to_numpy(bool) if f"consent_{c}" in customers else np.zeros(n, bool)
            for c in channels
        ]
    )
    avail = np.minimum(tenure, window_days)
    # Marketing pressure varies by customer, so recent-send counts (fatigue) have spread.
    weight = consent.any(axis=1) * avail * np.clip(rng.lognormal(0.0, 0.4, n), 0.3, 3.0)
    cust = rng.choice(n, size=n_sends, p=weight / weight.sum())
    days_back = 1 + np.floor(rng.random(n_sends) * avail[cust]).astype(int)

    # Activity of each message on each past day.
    day = (today - pd.to_timedelta(np.arange(window_days + 1), unit="D")).to_numpy()
    a_from = pd.to_datetime(messages["active_from"]).to_numpy()
    a_to = pd.to_datetime(messages["active_to"]).to_numpy()
    active_by_day = (a_from[None, :] <= day[:, None]) & (day[:, None] <= a_to[None, :])
    active = active_by_day[days_back]
    if not active.any(axis=1).all():
        raise RuntimeError("a day of the send window has no active message; widen the message windows")

    targeted_share = 0.0 if policy.kind == "uniform" else policy.targeted_share
    h_share, t_share = logging_shares(in_group, bias, policy.holdout_share, targeted_share)
    holdout = rng.random(n_sends) < h_share[cust]
    if policy.kind == "greedy":
        customer_ids = customers["customer_id"].to_numpy(object)
        msg, ch, hour_idx, p_action = greedy_actions(
            rng, oracle, customer_ids, cust, active, consent[cust], np.asarray(send_hours), policy
        )
        hours = np.asarray(send_hours)[hour_idx]
        propensity = np.where(holdout, h_share[cust], (1.0 - h_share[cust]) * p_action)
    else:
        target = active & (spec.category[None, :] == top_category[cust][:, None])
        n_active, n_target = active.sum(axis=1), target.sum(axis=1)
        use_target = (rng.random(n_sends) < t_share[cust]) & (n_target > 0)
        msg = sample_rows(rng, np.where(use_target[:, None], target, active).astype(float))
        in_target = target[np.arange(n_sends), msg]
        share = t_share[cust]
        p_msg = np.where(
            n_target > 0, share * in_target / np.maximum(n_target, 1) + (1.0 - share) / n_active, 1.0 / n_active
        )
        ch = sample_rows(rng, consent[cust].astype(float))
        p_ch = 1.0 / consent[cust].sum(axis=1)
        hours = np.asarray(send_hours)[rng.integers(0, len(send_hours), n_sends)]
        propensity = np.where(holdout, h_share[cust], (1.0 - h_share[cust]) * p_msg * p_ch / len(send_hours))

    seconds = hours * 3600 + rng.integers(0, 3600, n_sends)
    local = (today - pd.to_timedelta(days_back, unit="D")).to_numpy() + (seconds * 1_000_000_000).astype(
        "timedelta64[ns]"
    )
    sent_at = local_to_utc(local, customers["region"].to_numpy(object)[cust])
    recent = count_recent(cust, sent_at.asi8 // 10**9, ~holdout, RECENT_DAYS * 86_400)

    cust_ids = customers["customer_id"].to_numpy(object)[cust]
    msg_ids = np.where(holdout, None, messages["message_id"].to_numpy(object)[msg])
    chan = np.where(holdout, "none", np.asarray(channels, dtype=object)[ch])
    p_true = oracle.p_convert(cust_ids, msg_ids, chan, hours, recent)
    p_hold = oracle.p_holdout(cust_ids)

    converted = rng.random(n_sends) < p_true
    # Opens follow channel preference, timing and engagement; clicks follow category match.
    pref = lat.chan_pref[cust, ch]
    p_open = sigmoid(
        -0.8 + 0.9 * np.log(len(channels) * pref) + 0.4 * lat.engagement[cust] + hour_term(hours, lat.pref_hour[cust])
    )
    opened = ~holdout & (converted | (rng.random(n_sends) < p_open))
    aff = lat.affinity[cust, spec.category[msg]]
    p_click = sigmoid(-1.4 + 0.6 * np.log(len(CATEGORIES) * aff) + 0.3 * lat.engagement[cust])
    clicked = ~holdout & (converted | (opened & (rng.random(n_sends) < p_click)))
    organic_cat = sample_rows(rng, lat.affinity[cust])
    buy_cat = np.where(holdout, organic_cat, spec.category[msg])
    discount = np.where(holdout, 0.0, spec.discount[msg])
    basket = np.maximum(purchase_amount(rng, buy_cat, lat.price_sens[cust]) * (1.0 - discount / 100.0), 0.01)
    revenue = np.where(converted, np.round(basket, 2), 0.0)

    sends = pd.DataFrame(
        {
            "customer_id": cust_ids,
            "message_id": msg_ids,
            "channel": chan,
            "sent_at": sent_at,
            "propensity": propensity,
            "opened": opened,
            "clicked": clicked,
            "converted": converted,
            "revenue": revenue,
        }
    )
    truth = pd.DataFrame({"p_true": p_true, "p_holdout_true": p_hold, "send_hour": hours, "recent_sends": recent})
    return sends, truth
