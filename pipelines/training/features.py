"""Gather the validated extracts into per-message and per-send rows and join them into the rows a model reads.

Nothing here is fitted: vocabularies, scalers and text/image transforms live in ``models/`` so
they travel inside the MLflow model. This module only joins and counts; the per-customer rows are
built in ``pipelines/training/profiles.py``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from models.preprocessing import AUXILIARY_OUTCOMES
from pipelines.warehouse.contract import HOLDOUT_CHANNEL

MESSAGE_PREFIX = "msg_"
ACTION_COLUMNS = ("message_id", "channel", "send_hour", "weekday", "recent_sends_7d")


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
