"""Let time pass in the synthetic world: deliver the latest decisions, draw their outcomes, add a drifted week.

``herald demo`` trains and scores at "now"; without this step monitoring would compare a frame
with itself and find no outcomes. ``advance_world`` plays the days after a scoring run:

- every decision of the latest scoring run becomes a row of ``sends``: a message at the next
  occurrence of its local send hour, or a hold-out record (channel ``none``) for a no-send; its
  ``converted`` outcome is drawn from the world's true response (the oracle kept apart from the
  warehouse), with the logged propensity of the decision;
- the week's behaviour is the last ``days`` of events replayed ``days`` later, moved by ``drift``
  the way the world's drift knob moves its current window (purchase amounts grow, the device mix
  tilts to the app, the category mix to electronics).

It returns the instant at which the outcomes of those sends are final (after the attribution
window), which is when monitoring should stand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.errors import HeraldError
from pipelines.synthetic.behaviour import local_to_utc
from pipelines.synthetic.response import load_oracle
from pipelines.synthetic.world import conform
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import HOLDOUT_CHANNEL, INPUT_TABLES


@dataclass
class Advanced:
    """What one step of time did: the new instant, sends and events added, and their conversions."""

    start: str
    now: str
    sends_added: int
    messages_delivered: int
    conversions: int
    events_added: int
    drift: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _next_local_send(decided_at: pd.Series, hours: pd.Series, regions: pd.Series) -> pd.DatetimeIndex:
    """The first instant at or after the decision when the customer's local clock shows the send hour."""
    decided = pd.DatetimeIndex(pd.to_datetime(decided_at, utc=True))
    day = decided.tz_localize(None).normalize().to_numpy()
    hour = pd.to_timedelta(hours.fillna(0).astype(int).to_numpy(), unit="h").to_numpy()
    first = local_to_utc(day + hour, regions.to_numpy(dtype=object))
    return pd.DatetimeIndex(np.where(first < decided, first + pd.Timedelta(days=1), first)).tz_convert("UTC")


def deliver_decisions(
    decisions: pd.DataFrame, customers: pd.DataFrame, oracle, rng: np.random.Generator
) -> pd.DataFrame:
    """``sends`` rows (without send_id) for one run's decisions, outcomes drawn from the true response."""
    region = decisions["customer_id"].map(customers.set_index("customer_id")["region"])
    sent = decisions["message_id"].notna().to_numpy()
    decided = pd.to_datetime(decisions["decided_at"], utc=True)
    sent_at = pd.DatetimeIndex(decided)
    if sent.any():
        at = _next_local_send(decided[sent], decisions.loc[sent, "send_hour"], region[sent])
        sent_at = sent_at.to_series().reset_index(drop=True)
        sent_at[np.flatnonzero(sent)] = at
        sent_at = pd.DatetimeIndex(sent_at)
    hours = decisions["send_hour"].fillna(0).astype(int).to_numpy()
    p = oracle.p_convert(
        decisions["customer_id"].to_numpy(),
        decisions["message_id"].to_numpy(dtype=object),
        decisions["channel"].fillna(HOLDOUT_CHANNEL).to_numpy(dtype=object),
        hours,
        np.zeros(len(decisions)),
    )
    converted = rng.random(len(decisions)) < p
    opened = sent & (converted | (rng.random(len(decisions)) < 0.25))
    clicked = sent & (converted | (opened & (rng.random(len(decisions)) < 0.2)))
    return pd.DataFrame(
        {
            "customer_id": decisions["customer_id"].to_numpy(),
            "message_id": decisions["message_id"].to_numpy(dtype=object),
            "channel": np.where(sent, decisions["channel"].to_numpy(dtype=object), HOLDOUT_CHANNEL),
            "sent_at": sent_at,
            "propensity": decisions["propensity"].astype(float).to_numpy(),
            "opened": opened,
            "clicked": clicked,
            "converted": converted,
            "revenue": np.where(converted, np.round(rng.gamma(2.0, 30.0, len(decisions)), 2), 0.0),
        }
    )


def replay_week(
    events: pd.DataFrame, start: pd.Timestamp, days: int, drift: float, rng: np.random.Generator
) -> pd.DataFrame:
    """The events of [start − days, start) moved ``days`` later, shifted by ``drift`` (0 = unchanged)."""
    recent = events[pd.to_datetime(events["event_ts"], utc=True) >= start - pd.Timedelta(days=days)].copy()
    recent["event_ts"] = pd.to_datetime(recent["event_ts"], utc=True) + pd.Timedelta(days=days)
    if drift > 0:
        u = rng.random((2, len(recent)))
        purchase = recent["amount"].notna().to_numpy()
        recent.loc[purchase, "amount"] = np.round(recent.loc[purchase, "amount"] * (1.0 + 0.8 * drift), 2)
        to_app = recent["device"].notna().to_numpy() & (u[0] < min(0.5 * drift, 1.0))
        recent.loc[to_app, "device"] = "app"
        to_cat = recent["product_category"].notna().to_numpy() & (u[1] < min(0.4 * drift, 1.0))
        recent.loc[to_cat, "product_category"] = "electronics"
    return recent


def advance_world(
    cfg: HeraldConfig,
    start: pd.Timestamp | None = None,
    days: int = 7,
    drift: float = 1.0,
    deliver: bool = True,
    seed: int = 0,
) -> Advanced:
    """Play ``days`` after ``start`` (default: the latest scoring run's decision time).

    Delivers the latest scoring run's decisions (if ``deliver``) and adds a drifted week.

    Returns the new instant ``start + days + 1`` (the sends go out within a day of the decision,
    so their ``attribution_days`` outcome window has closed when ``days`` ≥ attribution_days); the
    replayed behaviour covers the same ``days + 1``.
    Raises HeraldError on a warehouse that is not the synthetic world's.
    """
    if start is None:  # right after the latest scoring run
        with get_warehouse(cfg) as warehouse:
            if not warehouse.has_table("decisions"):
                raise HeraldError("no decisions yet: run herald_scoring before letting time pass")
            start = pd.Timestamp(warehouse.query("latest_decisions")["decided_at"].max())
    start = pd.Timestamp(start)
    start = start.tz_convert("UTC") if start.tzinfo else start.tz_localize("UTC")
    try:
        oracle = load_oracle(cfg.assets_dir.parent / "world")
    except FileNotFoundError as exc:
        raise HeraldError(f"{exc}: time can only pass in the synthetic world; run `herald world` first") from exc
    rng = np.random.default_rng(seed)
    span = days + 1  # the week, and the day the sends go out on
    ever, never = (
        pd.Timestamp("1970-01-01", tz="UTC").to_pydatetime(),
        pd.Timestamp("2262-01-01", tz="UTC").to_pydatetime(),
    )
    with get_warehouse(cfg) as warehouse:
        sends = warehouse.query("extract_sends", {"since": ever, "until": never})
        all_events = warehouse.query("extract_events", {"history_start": ever, "as_of": never})
        new_sends = pd.DataFrame(columns=[*sends.columns, "converted"])
        if deliver and warehouse.has_table("decisions"):
            decisions = warehouse.query("latest_decisions")
            customers = warehouse.query("extract_customers")
            new_sends = deliver_decisions(decisions, customers, oracle, rng)
            first = len(sends) + 1
            new_sends.insert(0, "send_id", [f"s_{i:07d}" for i in range(first, first + len(new_sends))])
        week = replay_week(
            all_events[pd.to_datetime(all_events["event_ts"], utc=True) < start], start, span, drift, rng
        )
        first_event = len(all_events) + 1
        week["event_id"] = [f"e_{i:07d}" for i in range(first_event, first_event + len(week))]
        if len(new_sends):
            merged = pd.concat([sends, new_sends[sends.columns]], ignore_index=True)
            warehouse.write("sends", conform(merged, INPUT_TABLES["sends"]), mode="truncate")
        merged = pd.concat([all_events, week[all_events.columns]], ignore_index=True)
        warehouse.write("events", conform(merged, INPUT_TABLES["events"]), mode="truncate")
    now = start + pd.Timedelta(days=span)
    delivered = int(new_sends["message_id"].notna().sum()) if len(new_sends) else 0
    return Advanced(
        start=start.isoformat(),
        now=now.isoformat(),
        sends_added=len(new_sends),
        messages_delivered=delivered,
        conversions=int(new_sends["converted"].sum()) if len(new_sends) else 0,
        events_added=len(week),
        drift=drift,
    )
