"""The peers a team without Herald would build: hand-made features, logistic regression or LightGBM, greedy.

They read the same warehouse tables Herald reads, make the features a data scientist writes by hand
in an afternoon (counts by event type, category shares, spend, recency, tenure, profile, consent,
review ratings; message attributes; channel, hour, recent sends) and a "category match" between
the customer's browsing and the message, fit a response model on the logged sends, and choose per
customer the action with the best predicted uplift over sending nothing, net of the channel cost,
or nothing when none clears the threshold (the same rule and settings Herald's policy uses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.warehouse.contract import EVENT_TYPES, HOLDOUT_CHANNEL

CATEGORY_COLUMNS = ("apparel", "shoes", "beauty", "home", "electronics", "sports")
CATEGORICAL = ("gender", "region", "loyalty_tier", "channel", "m_category", "m_offer")
RECENT_DAYS = 7


def customer_features(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, lookback_days: int = 60) -> pd.DataFrame:
    """One row per customer from the profile, and events and reviews of the ``lookback_days`` before ``as_of``.

    A fixed lookback keeps counts comparable between training (as of the label window's start) and
    scoring (as of now). Indexed by customer_id.
    """
    since = as_of - pd.Timedelta(days=lookback_days)
    cust = tables["customers"].set_index("customer_id")
    out = pd.DataFrame(index=cust.index)
    out["tenure_days"] = (as_of.tz_localize(None) - pd.to_datetime(cust["signup_date"])).dt.days.clip(lower=0)
    out["age"] = as_of.year - pd.to_numeric(cust["birth_year"], errors="coerce")
    for col in ("gender", "region", "loyalty_tier"):
        out[col] = cust[col].fillna("unknown").astype(str)
    for col in [c for c in cust.columns if c.startswith("consent_")]:
        out[col] = cust[col].fillna(False).astype(float)

    ev = tables["events"]
    ev = ev[(ev["event_ts"] < as_of) & (ev["event_ts"] >= since)]
    counts = ev.pivot_table(index="customer_id", columns="event_type", values="event_ts", aggfunc="size")
    for kind in EVENT_TYPES:
        out[f"n_{kind}"] = counts[kind].reindex(out.index).fillna(0.0) if kind in counts else 0.0
    with_cat = ev[ev["product_category"].notna()]
    cat = with_cat.pivot_table(index="customer_id", columns="product_category", values="event_ts", aggfunc="size")
    cat = cat.reindex(index=out.index, columns=list(CATEGORY_COLUMNS)).fillna(0.0)
    share = cat.div(cat.sum(axis=1).replace(0, np.nan), axis=0).fillna(1.0 / len(CATEGORY_COLUMNS))
    for c in CATEGORY_COLUMNS:
        out[f"share_{c}"] = share[c]
    buys = ev[ev["event_type"] == "purchase"]
    out["spend"] = buys.groupby("customer_id")["amount"].sum().reindex(out.index).fillna(0.0)
    last = ev.groupby("customer_id")["event_ts"].max().reindex(out.index)
    out["days_since_event"] = ((as_of - last).dt.total_seconds() / 86_400).fillna(999.0)
    app = ev[ev["device"] == "app"].groupby("customer_id").size().reindex(out.index).fillna(0.0)
    out["app_share"] = app / (out[[f"n_{k}" for k in EVENT_TYPES]].sum(axis=1) + 1.0)

    rv = tables.get("reviews", pd.DataFrame(columns=["customer_id", "created_at", "rating"]))
    created = pd.to_datetime(rv["created_at"], utc=True)
    rv = rv[(created < as_of) & (created >= since)]
    out["n_reviews"] = rv.groupby("customer_id").size().reindex(out.index).fillna(0.0)
    out["mean_rating"] = rv.groupby("customer_id")["rating"].mean().reindex(out.index).astype(float).fillna(0.0)
    return out


def message_features(messages: pd.DataFrame) -> pd.DataFrame:
    """Attributes of each message (not its id, so a new message is as known as an old one); indexed by message_id."""
    m = messages.set_index("message_id")
    return pd.DataFrame(
        {
            "m_category": m["product_category"].fillna("unknown").astype(str),
            "m_offer": m["offer_type"].fillna("unknown").astype(str),
            "m_discount": pd.to_numeric(m["discount_pct"], errors="coerce").fillna(0.0),
        },
        index=m.index,
    )


def action_rows(
    actions: pd.DataFrame, customers: pd.DataFrame, messages: pd.DataFrame, recent: pd.Series
) -> pd.DataFrame:
    """Model rows for (customer_id, message_id, channel, send_hour) actions; a null message is sending nothing.

    ``customers`` and ``messages`` come from :func:`customer_features` and :func:`message_features`;
    ``recent`` is the number of sends each action's row had in the 7 days before it (aligned with ``actions``).
    """
    rows = actions[["customer_id", "message_id", "channel", "send_hour"]].reset_index(drop=True)
    frame = customers.reindex(rows["customer_id"]).reset_index(drop=True)
    mf = messages.reindex(rows["message_id"].fillna("")).reset_index(drop=True)
    hold = rows["message_id"].isna().to_numpy()
    frame["is_holdout"] = hold.astype(float)
    frame["channel"] = np.where(hold, HOLDOUT_CHANNEL, rows["channel"].astype(str))
    hour = rows["send_hour"].astype(float).to_numpy()
    frame["hour_sin"] = np.where(hold, 0.0, np.sin(2 * np.pi * hour / 24))
    frame["hour_cos"] = np.where(hold, 0.0, np.cos(2 * np.pi * hour / 24))
    frame["send_hour"] = np.where(hold, -1.0, hour)
    frame["m_category"] = np.where(hold, "none", mf["m_category"].fillna("unknown"))
    frame["m_offer"] = np.where(hold, "none", mf["m_offer"].fillna("unknown"))
    frame["m_discount"] = np.where(hold, 0.0, mf["m_discount"].fillna(0.0))
    # The hand-made match: how much of the customer's browsing falls in the message's category.
    share = frame[[f"share_{c}" for c in CATEGORY_COLUMNS]].to_numpy()
    col = pd.Index(CATEGORY_COLUMNS).get_indexer(frame["m_category"])
    match = np.where(col >= 0, share[np.arange(len(frame)), np.maximum(col, 0)], 1.0 / len(CATEGORY_COLUMNS))
    frame["category_match"] = np.where(hold, 0.0, match)
    consent = np.zeros(len(frame))
    for ch in {c for c in frame["channel"].unique() if f"consent_{c}" in frame}:
        is_ch = (frame["channel"] == ch).to_numpy()
        consent[is_ch] = frame.loc[is_ch, f"consent_{ch}"].to_numpy()
    frame["channel_consented"] = consent
    frame["recent_sends_7d"] = np.asarray(recent, dtype=float)
    return frame


def training_rows(
    tables: dict[str, pd.DataFrame], cutoff: pd.Timestamp, target: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """Logged sends from ``cutoff`` on with customer features as of ``cutoff``; returns (rows, labels)."""
    from pipelines.synthetic.behaviour import local_hour

    sends = tables["sends"].sort_values("sent_at", kind="stable").reset_index(drop=True)
    region = sends["customer_id"].map(tables["customers"].set_index("customer_id")["region"]).to_numpy(object)
    sends["send_hour"] = local_hour(sends["sent_at"], region)
    recent = recent_sends(sends)
    keep = (sends["sent_at"] >= cutoff).to_numpy()
    sends = sends[keep].reset_index(drop=True)
    sends.loc[sends["channel"] == HOLDOUT_CHANNEL, "message_id"] = None
    rows = action_rows(
        sends,
        customer_features(tables, cutoff),
        message_features(tables["messages"]),
        recent[keep],
    )
    return rows, sends[target].fillna(False).astype(int).to_numpy()


def recent_sends(sends: pd.DataFrame) -> np.ndarray:
    """Per logged send, the messages the same customer got in the 7 days before it."""
    from pipelines.synthetic.sends import count_recent

    codes = pd.factorize(sends["customer_id"])[0]
    seconds = sends["sent_at"].astype("int64").to_numpy() // 10**9
    sent = (sends["channel"] != HOLDOUT_CHANNEL).to_numpy()
    return count_recent(codes, seconds, sent, RECENT_DAYS * 86_400)


@dataclass
class PeerModel:
    """A fitted peer: ``predict(rows)`` → P(response) for :func:`action_rows` frames."""

    name: str
    model: Any
    numeric: list[str]
    categories: dict[str, list[str]]

    def frame(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The model's columns: numbers as floats (missing → 0), categories with the training levels."""
        out = rows[[*self.numeric, *self.categories]].copy()
        out[self.numeric] = out[self.numeric].astype(float).fillna(0.0)
        for col, cats in self.categories.items():
            out[col] = pd.Categorical(out[col].astype(str), categories=cats)
        return out

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """P(response) per row."""
        frame = self.frame(rows)
        if self.name == "peer_lightgbm":
            return np.asarray(self.model.predict(frame), dtype=float)
        return np.asarray(self.model.predict_proba(frame)[:, 1], dtype=float)


def fit_peers(rows: pd.DataFrame, labels: np.ndarray, seed: int = 7) -> list[PeerModel]:
    """Logistic regression (one-hot + scaled, with match × channel terms) and LightGBM, both on the same rows.

    LightGBM stops early on the newest 15% of the rows (they are in time order); the logistic
    regression's L2 strength is sklearn's default, as a team would leave it.
    """
    import lightgbm as lgb
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in rows.columns if c not in CATEGORICAL and c != "customer_id"]
    categories = {c: sorted(rows[c].astype(str).unique()) for c in CATEGORICAL}
    template = PeerModel("", None, numeric, categories)
    frame = template.frame(rows)
    logreg = make_pipeline(
        ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL)),
                ("num", StandardScaler(), numeric),
            ]
        ),
        LogisticRegression(max_iter=2000),
    )
    logreg.fit(frame, labels)
    cut = int(len(frame) * 0.85)
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 50,
        "feature_fraction": 0.9,
        "verbose": -1,
        "num_threads": 2,
        "seed": seed,
    }
    booster = lgb.train(
        params,
        lgb.Dataset(frame.iloc[:cut], labels[:cut]),
        600,
        valid_sets=[lgb.Dataset(frame.iloc[cut:], labels[cut:])],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )
    return [
        PeerModel("peer_logreg", logreg, numeric, categories),
        PeerModel("peer_lightgbm", booster, numeric, categories),
    ]
