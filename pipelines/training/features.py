"""Gather and aggregate the validated extracts into per-customer, per-message and per-send rows.

Nothing here is fitted: vocabularies, scalers and text/image transforms live in ``models/`` so
they travel inside the MLflow model. This module only joins and counts.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from models.preprocessing import AUXILIARY_OUTCOMES
from pipelines.warehouse.contract import EVENT_TYPES, HOLDOUT_CHANNEL

# Columns of customers that are not profile features (keys, audit, raw protected inputs).
CUSTOMER_NON_FEATURES = ("signup_date", "birth_year", "updated_at")
MESSAGE_PREFIX = "msg_"
ACTION_COLUMNS = ("message_id", "channel", "send_hour", "weekday", "recent_sends_7d")
MAX_SEQUENCE_EVENTS = 50
HOUR_BUCKETS = {"morning": (6, 11), "midday": (11, 15), "evening": (15, 21), "night": (21, 30)}


def age_band(birth_year: pd.Series, as_of: datetime) -> pd.Series:
    """Age band from birth year; unknown stays its own band so fairness reports can see it."""
    age = as_of.year - pd.to_numeric(birth_year, errors="coerce")
    bands = pd.cut(
        age, bins=[0, 25, 35, 45, 55, 65, 200], right=False, labels=["<25", "25-34", "35-44", "45-54", "55-64", "65+"]
    )
    return bands.astype("object").where(age.notna(), "unknown")


def local_time(ts: pd.Series, regions: pd.Series, region_timezones: dict[str, str]) -> pd.Series:
    """Convert UTC timestamps to naive local wall-clock time by each row's region."""
    ts = pd.to_datetime(ts, utc=True)
    out = ts.dt.tz_localize(None).to_numpy(copy=True)
    regions = regions.to_numpy()
    for region, tz in region_timezones.items():
        mask = regions == region
        if mask.any():
            out[mask] = ts[mask].dt.tz_convert(tz).dt.tz_localize(None).to_numpy()
    return pd.Series(out, index=ts.index)


def customer_features(
    customers: pd.DataFrame,
    events: pd.DataFrame | None,
    reviews: pd.DataFrame | None,
    as_of: datetime,
    region_timezones: dict[str, str],
    history_days: int = 60,
) -> pd.DataFrame:
    """One row per customer: profile columns (extra ones included) plus event and review aggregates.

    Only events in the ``history_days`` before ``as_of`` and reviews before ``as_of`` count, so the
    same extract yields point-in-time features for any cutoff inside it.
    """
    as_of_ts = pd.Timestamp(as_of).tz_convert("UTC") if pd.Timestamp(as_of).tzinfo else pd.Timestamp(as_of, tz="UTC")
    if events is not None:
        ts = pd.to_datetime(events["event_ts"], utc=True)
        events = events[(ts < as_of_ts) & (ts >= as_of_ts - pd.Timedelta(days=history_days))]
    if reviews is not None:
        reviews = reviews[pd.to_datetime(reviews["created_at"], utc=True) < as_of_ts]
    frame = customers.copy()
    frame["age_band"] = age_band(frame.get("birth_year", pd.Series(np.nan, index=frame.index)), as_of)
    if "signup_date" in frame:
        signup = pd.to_datetime(frame["signup_date"]).dt.tz_localize("UTC")
        frame["tenure_days"] = (as_of_ts - signup).dt.days.astype("float64")
    frame = frame.drop(columns=[c for c in CUSTOMER_NON_FEATURES if c in frame.columns])
    if events is not None:
        frame = frame.merge(
            _event_aggregates(events, customers, as_of_ts, region_timezones), on="customer_id", how="left"
        )
        evt_cols = [c for c in frame.columns if c.startswith("evt_") and frame[c].dtype.kind in "fi"]
        frame[evt_cols] = frame[evt_cols].fillna(0.0)
    if reviews is not None:
        frame = frame.merge(_review_aggregates(reviews), on="customer_id", how="left")
        frame["rev_count"] = frame["rev_count"].fillna(0.0)
    return frame.reset_index(drop=True)


def _event_aggregates(
    events: pd.DataFrame, customers: pd.DataFrame, as_of: pd.Timestamp, region_timezones: dict[str, str]
) -> pd.DataFrame:
    ev = events[["customer_id", "event_ts", "event_type", "product_category", "amount", "device"]].copy()
    ev["event_ts"] = pd.to_datetime(ev["event_ts"], utc=True)
    grouped = ev.groupby("customer_id")
    counts = _crosstab(ev["customer_id"], ev["event_type"]).reindex(columns=list(EVENT_TYPES), fill_value=0)
    out = counts.add_prefix("evt_n_").astype("float64")
    out["evt_total"] = counts.sum(axis=1).astype("float64")
    purchases = ev[ev["event_type"] == "purchase"]
    out["evt_spend"] = purchases.groupby("customer_id")["amount"].sum().reindex(out.index).fillna(0.0)
    out["evt_days_since_last"] = (as_of - grouped["event_ts"].max()).dt.total_seconds() / 86400.0
    last_purchase = purchases.groupby("customer_id")["event_ts"].max().reindex(out.index)
    out["evt_days_since_purchase"] = ((as_of - last_purchase).dt.total_seconds() / 86400.0).fillna(999.0)
    # Category interest from browsing and buying, as shares so heavy users do not dominate.
    interest = ev[ev["event_type"].isin(["view", "add_to_cart", "purchase", "search"]) & ev["product_category"].notna()]
    if len(interest):
        shares = _crosstab(interest["customer_id"], interest["product_category"], normalize=True)
        out = out.join(shares.add_prefix("evt_cat_share_"), how="left")
        out["evt_top_category"] = shares.idxmax(axis=1).reindex(out.index)
    devices = _crosstab(ev["customer_id"], ev["device"], normalize=True)
    out = out.join(devices.add_prefix("evt_device_share_"), how="left")
    # When in their own day customers are active hints at the send hour they answer.
    regions = ev["customer_id"].map(customers.set_index("customer_id")["region"])
    hours = local_time(ev["event_ts"], regions, region_timezones).dt.hour
    bucket = pd.Series("night", index=ev.index)
    for name, (lo, hi) in HOUR_BUCKETS.items():
        bucket[(hours >= lo) & (hours < hi)] = name
    hour_shares = _crosstab(ev["customer_id"], bucket, normalize=True).reindex(
        columns=list(HOUR_BUCKETS), fill_value=0.0
    )
    out = out.join(hour_shares.add_prefix("evt_hour_share_"), how="left")
    # The customer's typical local hour as a circular mean, and how concentrated activity is around it.
    angle = hours.to_numpy() * (2 * np.pi / 24.0)
    trig = pd.DataFrame({"sin": np.sin(angle), "cos": np.cos(angle)}, index=ev.index).groupby(ev["customer_id"]).mean()
    out["evt_hour_mean"] = (np.degrees(np.arctan2(trig["sin"], trig["cos"])) / 15.0) % 24.0
    out["evt_hour_concentration"] = np.hypot(trig["sin"], trig["cos"])
    out["evt_unsubscribed"] = out["evt_n_unsubscribe"] > 0
    out["evt_sequence"] = _event_sequences(ev, as_of)
    return out.reset_index()


def _crosstab(index: pd.Series, columns: pd.Series, normalize: bool = False) -> pd.DataFrame:
    """``pd.crosstab(index, columns[, normalize="index"])`` by a grouped count.

    Same table (sorted labels, missing keys dropped, zero-filled int64 counts or row shares), but
    crosstab's pivot aggregates every cell in Python, seconds on a scoring run's events.
    """
    keys = pd.DataFrame({"row": index.to_numpy(), "col": columns.to_numpy()})
    table = keys.groupby(["row", "col"], sort=True).size().unstack("col", fill_value=0).astype("int64")
    # crosstab's names: the series' names, or row_0 / col_0 for unnamed ones.
    table.index.name = index.name if index.name is not None else "row_0"
    table.columns.name = columns.name if columns.name is not None else "col_0"
    if normalize:
        table = table.div(table.sum(axis=1), axis=0)
    return table


def _event_sequences(ev: pd.DataFrame, as_of: pd.Timestamp, max_events: int = MAX_SEQUENCE_EVENTS) -> pd.Series:
    """The newest events per customer as one string, newest first, for the sequence encoder.

    Each event is ``type|category|amount|hours before as_of``; a string keeps the model's raw
    input a plain table that MLflow's signature can describe.
    """
    recent = ev.sort_values("event_ts", ascending=False).groupby("customer_id").head(max_events)
    hours = ((as_of - recent["event_ts"]).dt.total_seconds() / 3600.0).round(1)
    amount = recent["amount"].round(2).astype("object").where(recent["amount"].notna(), "")
    category = recent["product_category"].astype("object").where(recent["product_category"].notna(), "")
    token = (
        recent["event_type"].astype(str)
        + "|"
        + category.astype(str)
        + "|"
        + amount.astype(str)
        + "|"
        + hours.astype(str)
    )
    return token.groupby(recent["customer_id"], sort=False).agg(";".join)


def _review_aggregates(reviews: pd.DataFrame) -> pd.DataFrame:
    rv = reviews.sort_values("created_at")
    grouped = rv.groupby("customer_id")
    count = grouped.size().astype("float64")
    out = pd.DataFrame(
        {
            "rev_count": count,
            "rev_mean_rating": grouped["rating"].mean().astype("float64"),
            # The newest three texts, for the text encoder of the deep model ("" when none has text).
            "rev_text": _newest_texts(rv, count.index),
        }
    )
    return out.reset_index()


def _newest_texts(reviews_by_time: pd.DataFrame, customers: pd.Index, n: int = 3) -> pd.Series:
    """Per customer, the newest ``n`` non-missing review texts joined by " | " (oldest first).

    One pass over the rows instead of a Python-level groupby apply per customer.
    """
    texts = reviews_by_time.loc[reviews_by_time["text"].notna(), ["customer_id", "text"]]
    newest = texts.groupby("customer_id", sort=False).tail(n)
    joined: dict[object, list[str]] = {}
    for cid, text in zip(newest["customer_id"].to_numpy(), newest["text"].astype(str).to_numpy()):
        joined.setdefault(cid, []).append(text)
    out = pd.Series({cid: " | ".join(parts) for cid, parts in joined.items()}, dtype=object)
    return out.reindex(customers, fill_value="").rename("text")


def message_features(messages: pd.DataFrame, assets_dir: Path | None = None) -> pd.DataFrame:
    """Message attributes prefixed ``msg_`` (extra catalogue columns included), keyed by message_id.

    A relative ``image_uri`` is resolved against the asset folder so the model can open the banner.
    """
    frame = messages.copy()
    if assets_dir is not None and "image_uri" in frame:
        frame["image_uri"] = frame["image_uri"].map(lambda u: _resolve_asset(u, assets_dir))
    renamed = {c: f"{MESSAGE_PREFIX}{c}" for c in frame.columns if c != "message_id"}
    return frame.rename(columns=renamed).reset_index(drop=True)


def _resolve_asset(uri: object, assets_dir: Path) -> object:
    if not isinstance(uri, str) or not uri or "://" in uri or uri.startswith("/"):
        return uri
    return str(assets_dir / uri)


def send_actions(
    sends: pd.DataFrame,
    customers: pd.DataFrame,
    region_timezones: dict[str, str],
    since: datetime | None = None,
    target: str = "converted",
) -> pd.DataFrame:
    """Per logged send: the action (message, channel, local hour, weekday), fatigue and label.

    Sends before ``since`` only feed the fatigue count (sends in the 7 days before each send).
    """
    sd = sends.copy()
    sd["sent_at"] = pd.to_datetime(sd["sent_at"], utc=True)
    sd = sd.sort_values(["customer_id", "sent_at", "send_id"]).reset_index(drop=True)
    sd["recent_sends_7d"] = _recent_sends(sd)
    regions = sd["customer_id"].map(customers.set_index("customer_id")["region"])
    local = local_time(sd["sent_at"], regions, region_timezones)
    holdout = sd["channel"].eq(HOLDOUT_CHANNEL) | sd["message_id"].isna()
    sd["is_holdout"] = holdout
    sd["send_hour"] = local.dt.hour.astype("int64")
    sd["weekday"] = local.dt.weekday.astype("int64")
    sd["label"] = sd[target].fillna(False).astype("int64")
    if since is not None:
        sd = sd[sd["sent_at"] >= pd.Timestamp(since)]
    # Opens and clicks ride along as auxiliary targets for the deep model (never as inputs: they
    # happen after the send); they are ten times more frequent than conversions.
    keep = [
        "send_id",
        "customer_id",
        "sent_at",
        *ACTION_COLUMNS,
        "is_holdout",
        "propensity",
        "label",
        "revenue",
        *AUXILIARY_OUTCOMES,
    ]
    return sd[[c for c in keep if c in sd.columns]].reset_index(drop=True)


def _recent_sends(sends_sorted: pd.DataFrame) -> np.ndarray:
    """Messages (not hold-outs) the customer got in the 7 days strictly before each send."""
    is_sent = (~sends_sorted["channel"].eq(HOLDOUT_CHANNEL)).astype("int64").to_numpy()
    ts = (
        sends_sorted["sent_at"]
        .dt.tz_convert("UTC")
        .dt.tz_localize(None)
        .to_numpy()
        .astype("datetime64[ns]")
        .astype("int64")
    )
    cust = sends_sorted["customer_id"].to_numpy()
    week = np.int64(7 * 86400 * 10**9)
    out = np.zeros(len(sends_sorted), dtype="int64")
    starts = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]])
    ends = np.r_[starts[1:], len(cust)]
    for lo, hi in zip(starts, ends):
        t = ts[lo:hi]
        cum = np.r_[0, np.cumsum(is_sent[lo:hi])]
        first = np.searchsorted(t, t - week, side="left")
        current = np.searchsorted(t, t, side="left")  # sends at the very same instant do not count
        out[lo:hi] = cum[current] - cum[first]
    return out


def model_rows(actions: pd.DataFrame, customer_feats: pd.DataFrame, message_feats: pd.DataFrame) -> pd.DataFrame:
    """The raw rows a model reads: the action joined with its customer's and message's features."""
    rows = actions.merge(customer_feats, on="customer_id", how="left", validate="many_to_one")
    return rows.merge(message_feats, on="message_id", how="left", validate="many_to_one")


def model_rows_at(
    actions: pd.DataFrame,
    customer_feats: pd.DataFrame,
    customer_pos: np.ndarray,
    message_feats: pd.DataFrame,
    message_pos: np.ndarray,
) -> pd.DataFrame:
    """:func:`model_rows` when each action's customer and message row are known by position.

    ``customer_pos`` indexes ``customer_feats`` (every action has a customer); ``message_pos``
    indexes ``message_feats``, −1 for the hold-out. Same columns, order and dtypes as the two left
    merges (a hold-out's message columns are missing, so integer columns become float, as a merge
    makes them), built by positional takes instead of hashing keys: the hot path of scoring.
    """
    customer_pos = np.asarray(customer_pos, dtype=np.int64)
    message_pos = np.asarray(message_pos, dtype=np.int64)
    data: dict[str, object] = {c: actions[c] for c in actions.columns}
    index = actions.index
    for frame, pos, key in ((customer_feats, customer_pos, "customer_id"), (message_feats, message_pos, "message_id")):
        fill = bool(len(pos)) and bool((pos < 0).any())
        for col in frame.columns:
            if col == key:
                continue
            if col in data:
                raise ValueError(f"column {col} is both an action column and a feature column")
            values = frame[col]
            if isinstance(values.dtype, np.dtype):  # numpy-backed: a plain take (NA-promoting where filled)
                data[col] = pd.api.extensions.take(values.to_numpy(), pos, allow_fill=fill)
            else:
                data[col] = values.array.take(pos, allow_fill=fill)
    return pd.DataFrame(data, index=index, copy=False)


def recent_sends_as_of(sends: pd.DataFrame, as_of: datetime) -> pd.Series:
    """Messages each customer got in the 7 days before ``as_of`` (the fatigue of a new send)."""
    sd = sends[~sends["channel"].eq(HOLDOUT_CHANNEL)]
    ts = pd.to_datetime(sd["sent_at"], utc=True)
    start = pd.Timestamp(as_of) - pd.Timedelta(days=7)
    recent = sd[(ts >= start) & (ts < pd.Timestamp(as_of))]
    return recent.groupby("customer_id").size().rename("recent_sends_7d")
