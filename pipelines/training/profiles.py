"""Per-customer feature rows as of a cutoff: profile columns plus event and review aggregates."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipelines.training.features import local_time
from pipelines.warehouse.contract import EVENT_TYPES

if TYPE_CHECKING:
    from pipelines.config import HeraldConfig

# Columns of customers that are not profile features (keys, audit, raw protected inputs).
CUSTOMER_NON_FEATURES = ("signup_date", "birth_year", "updated_at")
MAX_SEQUENCE_EVENTS = 50
HOUR_BUCKETS = {"morning": (6, 11), "midday": (11, 15), "evening": (15, 21), "night": (21, 30)}


def age_band(birth_year: pd.Series, as_of: datetime) -> pd.Series:
    """Age band from birth year; unknown stays its own band so fairness reports can see it."""
    age = as_of.year - pd.to_numeric(birth_year, errors="coerce")
    bands = pd.cut(
        age, bins=[0, 25, 35, 45, 55, 65, 200], right=False, labels=["<25", "25-34", "35-44", "45-54", "55-64", "65+"]
    )
    return bands.astype("object").where(age.notna(), "unknown")


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


def customer_features_as_of(cfg: HeraldConfig, tables: dict[str, pd.DataFrame], as_of: datetime) -> pd.DataFrame:
    """:func:`customer_features` of an extract's tables with the configured time zones and event history."""
    return customer_features(
        tables["customers"],
        tables.get("events"),
        tables.get("reviews"),
        as_of,
        cfg.region_timezones,
        cfg.event_history_days,
    )


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
