"""Observable behaviour drawn from the hidden traits: events, reviews and the local-time helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.synthetic.latents import CATEGORIES, PRICE_LEVEL, REGION_TIMEZONES, CustomerLatents
from pipelines.synthetic.text import review_text

_BROWSE_TYPES = ("view", "search", "add_to_cart", "purchase", "app_open", "email_open", "email_click", "push_open")
_CATEGORY_TYPES = {"view", "search", "add_to_cart", "purchase", "email_click"}
_PRICE = np.array([PRICE_LEVEL[c] for c in CATEGORIES])


def sample_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of an (n, k) matrix of non-negative weights."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((cum <= u[:, None]).sum(axis=1), probs.shape[1] - 1)


def local_to_utc(local: np.ndarray, regions: np.ndarray) -> pd.DatetimeIndex:
    """Turn naive local wall-clock datetimes into UTC, one time zone per region."""
    out = np.empty(len(local), dtype="datetime64[ns]")
    local = np.asarray(local, dtype="datetime64[ns]")
    for region, tz in REGION_TIMEZONES.items():
        mask = regions == region
        if mask.any():
            idx = pd.DatetimeIndex(local[mask]).tz_localize(
                tz, ambiguous=np.zeros(int(mask.sum()), dtype=bool), nonexistent="shift_forward"
            )
            out[mask] = idx.tz_convert("UTC").tz_localize(None).to_numpy()
    return pd.DatetimeIndex(out).tz_localize("UTC")


def local_hour(ts_utc: pd.Series | pd.DatetimeIndex, regions: np.ndarray) -> np.ndarray:
    """The hour of day in each customer's time zone (how DESIGN §3 derives the send hour)."""
    ts = pd.DatetimeIndex(ts_utc)
    hours = np.full(len(ts), -1, dtype=int)
    regions = np.asarray(regions, dtype=object)
    for region, tz in REGION_TIMEZONES.items():
        mask = regions == region
        if mask.any():
            hours[mask] = ts[mask].tz_convert(tz).hour
    return hours


def purchase_amount(rng: np.random.Generator, category: np.ndarray, price_sens: np.ndarray) -> np.ndarray:
    """Basket value: the category's price level, lower for the price-sensitive, log-normal noise."""
    return np.round(_PRICE[category] * np.exp(-0.9 * (price_sens - 0.5)) * rng.lognormal(0.0, 0.35, len(category)), 2)


def make_events(
    rng: np.random.Generator,
    customers: pd.DataFrame,
    lat: CustomerLatents,
    channels: list[str],
    now: pd.Timestamp,
    history_days: int,
    n_events: int,
    category_noise: float = 0.15,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Draw the event log; returns it (ids not yet assigned) and the customers who unsubscribed.

    ``category_noise`` is the share of category-bearing events drawn uniformly instead of from the
    customer's affinity (how little browsing reveals taste).
    """
    n = len(customers)
    today = pd.Timestamp(now.date())
    tenure = (today - pd.to_datetime(customers["signup_date"])).dt.days.to_numpy()
    avail = np.minimum(tenure, history_days)  # whole past days on which a customer can act
    weight = np.exp(0.8 * lat.engagement) * avail
    cust = rng.choice(n, size=n_events, p=weight / weight.sum())

    def consent(ch: str) -> np.ndarray:
        col = f"consent_{ch}"
        return customers[col].to_numpy(bool) if col in customers else np.zeros(n, dtype=bool)

    def pref(ch: str) -> np.ndarray:
        return lat.chan_pref[:, channels.index(ch)] if ch in channels else np.zeros(n)

    ps, eng = lat.price_sens, lat.engagement
    k = len(channels)
    # Per-customer mix of event types: channel preference shows in opens, price sensitivity in
    # carts that do not convert, engagement in purchases, the app habit in app opens.
    email_w = 0.12 * k * pref("email") * consent("email")
    type_w = np.column_stack(
        [
            np.full(n, 0.34),
            np.full(n, 0.12),
            0.07 * (1.0 + 0.8 * ps),
            0.05 * (1.3 - 0.8 * ps) * np.exp(0.25 * eng),
            0.10 * np.exp(0.5 * lat.app_lover),
            email_w,
            0.35 * email_w,
            0.10 * k * pref("push") * consent("push"),
        ]
    )
    etype = sample_rows(rng, type_w[cust])
    type_names = np.asarray(_BROWSE_TYPES, dtype=object)[etype]

    # Local time: browsing clusters around the preferred hour, opens a little more spread.
    days_back = 1 + np.floor(rng.random(n_events) * avail[cust]).astype(int)
    spread = np.where(np.isin(etype, [5, 6, 7]), 2.5, 1.5)
    around = np.mod(lat.pref_hour[cust] + rng.normal(0.0, 1.0, n_events) * spread, 24.0)
    hour = np.where(rng.random(n_events) < 0.75, around, rng.uniform(7.0, 24.0, n_events))
    seconds = np.floor(hour * 3600.0) + rng.integers(0, 60, n_events)
    local = (today - pd.to_timedelta(days_back, unit="D")).to_numpy() + (seconds * 1e9).astype("timedelta64[ns]")
    regions = customers["region"].to_numpy(object)[cust]
    ts = local_to_utc(local, regions)

    # Category: mostly from affinity, some noise browsing.
    has_cat = np.isin(type_names, list(_CATEGORY_TYPES))
    cat = sample_rows(rng, lat.affinity[cust] * (1.0 - category_noise) + category_noise / len(CATEGORIES))
    category = np.where(has_cat, np.asarray(CATEGORIES, dtype=object)[cat], None)
    is_purchase = type_names == "purchase"
    amount = np.where(is_purchase, purchase_amount(rng, cat, ps[cust]), np.nan)

    p_app = 1.0 / (1.0 + np.exp(-(0.2 + 1.2 * lat.app_lover[cust])))
    r = rng.random(n_events)
    device = np.where(
        r < np.where(is_purchase, 0.25, 0.03), "store", np.where(rng.random(n_events) < p_app, "app", "web")
    )
    device = np.where(np.isin(type_names, ["app_open", "push_open"]), "app", device)
    device = np.where(np.isin(type_names, ["email_open", "email_click"]) & (device == "store"), "web", device)

    events = pd.DataFrame(
        {
            "cust": cust,
            "event_ts": ts,
            "event_type": type_names,
            "product_category": category,
            "amount": amount,
            "device": device.astype(object),
        }
    )

    # Unsubscribes: the fatigue-prone leave email; their unsubscribe follows their last email event.
    can_unsub = consent("email") & (avail > 0)
    p_unsub = np.clip(0.04 * lat.fatigue / lat.fatigue.mean(), 0.0, 0.3)
    unsub = np.flatnonzero(can_unsub & (rng.random(n) < p_unsub))
    if len(unsub):
        emails = events[events["event_type"].isin(["email_open", "email_click"])]
        last = emails.groupby("cust")["event_ts"].max()
        start = pd.Series(now - pd.to_timedelta(avail[unsub], unit="D"))
        begin = last.reindex(unsub).reset_index(drop=True).fillna(start)
        span = (now - begin).dt.total_seconds().to_numpy()
        when = begin + pd.to_timedelta(np.floor(rng.random(len(unsub)) * span * 0.5), unit="s")
        extra = pd.DataFrame(
            {
                "cust": unsub,
                "event_ts": pd.DatetimeIndex(when),
                "event_type": "unsubscribe",
                "product_category": None,
                "amount": np.nan,
                "device": "web",
            }
        )
        events = pd.concat([events, extra], ignore_index=True)
    return events, unsub


def make_reviews(
    rng: np.random.Generator,
    customers: pd.DataFrame,
    lat: CustomerLatents,
    now: pd.Timestamp,
    n_reviews: int,
) -> pd.DataFrame:
    """Reviews whose rating and words reflect category affinity and price sensitivity."""
    n = len(customers)
    tenure_s = (now - pd.to_datetime(customers["signup_date"]).dt.tz_localize("UTC")).dt.total_seconds().to_numpy()
    weight = np.exp(0.5 * lat.engagement) * (tenure_s > 86_400)
    cust = rng.choice(n, size=n_reviews, p=weight / weight.sum())
    cat = sample_rows(rng, lat.affinity[cust] * 0.9 + 0.1 / len(CATEGORIES))
    aff = lat.affinity[cust, cat]
    ps = lat.price_sens[cust]
    score = (
        3.4
        + 0.9 * np.clip(np.log(len(CATEGORIES) * aff), -2.0, 1.0)
        - 1.4 * (ps - 0.5)
        + rng.normal(0.0, 0.8, n_reviews)
    )
    rating = np.clip(np.round(score), 1, 5).astype(int)
    # Reviews reach back up to a year, never before signup.
    span = np.minimum(tenure_s[cust], 365 * 86_400.0)
    created = now - pd.to_timedelta(np.floor(rng.random(n_reviews) * span), unit="s")
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy()[cust],
            "created_at": pd.DatetimeIndex(created),
            "rating": pd.array(rating, dtype="Int64"),
            "text": review_text(rng, cat, rating, ps),
        }
    )
