"""Generate the synthetic marketing world (tables, banners, true response) and write it to a warehouse."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig, WorldSettings
from pipelines.errors import HeraldError
from pipelines.synthetic.banners import draw_banner
from pipelines.synthetic.behaviour import make_events, make_reviews
from pipelines.synthetic.latents import CATEGORIES, OFFER_TYPES, TONES, MessageSpec, make_customers, make_message_specs
from pipelines.synthetic.response import TrueResponse
from pipelines.synthetic.sends import SENDS_WINDOW_DAYS, make_sends
from pipelines.synthetic.text import message_copy
from pipelines.warehouse.base import Warehouse
from pipelines.warehouse.contract import INPUT_TABLES, Table

# The drift knob moves exactly these contract columns, and only in the "current" window: events
# with event_ts in the last DRIFT_WINDOW_DAYS before `now`, and customers whose signup_date falls
# in that window. Purchase amounts grow, the device mix tilts to the app, the category mix tilts to
# electronics, and the new cohort is younger. Nothing else changes (a separate random stream is used).
DRIFT_WINDOW_DAYS: Final = 14
DRIFTED_FEATURES: Final[dict[str, tuple[str, ...]]] = {
    "events": ("amount", "device", "product_category"),
    "customers": ("birth_year",),
}
# The bias knob (0..1) treats this group differently: the logging policy holds it back more
# (hold-out share 10% + 30%·bias) and targets it less (targeted share 50%·(1 − bias)), and the
# true effect of any message on its members is lower by 0.8·bias on the logit scale.
BIASED_GROUP: Final[dict[str, str]] = {"column": "gender", "value": "F"}


@dataclass
class World:
    """All tables of one synthetic world, its banner creatives and its true response."""

    customers: pd.DataFrame
    events: pd.DataFrame
    messages: pd.DataFrame
    sends: pd.DataFrame
    reviews: pd.DataFrame
    banners: dict[str, bytes]  # message_id -> PNG bytes
    oracle: TrueResponse
    now: pd.Timestamp
    settings: WorldSettings = field(default_factory=WorldSettings)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "customers": self.customers,
            "events": self.events,
            "messages": self.messages,
            "sends": self.sends,
            "reviews": self.reviews,
        }


def _utc(now: dt.datetime) -> pd.Timestamp:
    ts = pd.Timestamp(now)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def conform(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Order the columns as the contract lists them (extras after) and give each its exact dtype."""
    known = [c for c in table.column_names if c in frame.columns]
    out = frame[known + [c for c in frame.columns if c not in known]].copy()
    for col in table.columns:
        if col.name not in out:
            continue
        s = out[col.name]
        if col.type == "STRING":
            out[col.name] = s.astype(object).where(s.notna(), None)
        elif col.type == "INT64":
            out[col.name] = s.astype("Int64")
        elif col.type == "FLOAT64":
            out[col.name] = s.astype("float64")
        elif col.type == "BOOL":
            out[col.name] = s.astype(bool)
        elif col.type == "DATE":
            out[col.name] = pd.to_datetime(s).dt.date.astype(object)
        elif col.type == "TIMESTAMP":
            out[col.name] = pd.to_datetime(s, utc=True).astype("datetime64[ns, UTC]")
    return out.reset_index(drop=True)


def _apply_drift(rng: np.random.Generator, world: World, drift: float) -> None:
    """Shift DRIFTED_FEATURES in the current window, in place; a no-op when drift is 0."""
    if drift <= 0:
        return
    ev = world.events
    recent = (ev["event_ts"] >= world.now - pd.Timedelta(days=DRIFT_WINDOW_DAYS)).to_numpy()
    u = rng.random((3, len(ev)))
    purchase = recent & ev["amount"].notna().to_numpy()
    ev.loc[purchase, "amount"] = np.round(ev.loc[purchase, "amount"] * (1.0 + 0.8 * drift), 2)
    to_app = recent & ev["device"].notna().to_numpy() & (u[0] < min(0.5 * drift, 1.0))
    ev.loc[to_app, "device"] = "app"
    to_cat = recent & ev["product_category"].notna().to_numpy() & (u[1] < min(0.4 * drift, 1.0))
    ev.loc[to_cat, "product_category"] = "electronics"

    cu = world.customers
    cutoff = (world.now - pd.Timedelta(days=DRIFT_WINDOW_DAYS)).date()
    new = (cu["signup_date"] >= cutoff).to_numpy() & cu["birth_year"].notna().to_numpy()
    youngest = world.now.year - 18
    cu.loc[new, "birth_year"] = np.minimum(cu.loc[new, "birth_year"] + int(round(12 * drift)), youngest)


def launch_new_messages(rng: np.random.Generator, messages: pd.DataFrame, share: float, today: dt.date) -> list[str]:
    """Make ``share`` of the messages active today start today, in place: never sent before scoring.

    They are drawn among the messages active today, never the three evergreen ones that keep every past
    day of the log supplied. Returns their ids (empty when ``share`` is 0; no random draw is made then).
    """
    if share <= 0:
        return []
    a_from = pd.to_datetime(messages["active_from"]).dt.date
    a_to = pd.to_datetime(messages["active_to"]).dt.date
    active_now = np.flatnonzero(((a_from <= today) & (a_to >= today)).to_numpy())
    eligible = active_now[active_now >= 3]
    n_new = min(int(round(share * len(active_now))), len(eligible))
    chosen = np.sort(rng.choice(eligible, size=n_new, replace=False)) if n_new else np.array([], dtype=int)
    messages.loc[chosen, "active_from"] = today
    messages.loc[chosen, "active_to"] = np.maximum(a_to.iloc[chosen].to_numpy(), today + dt.timedelta(days=14))
    return messages["message_id"].iloc[chosen].tolist()


def _content_view(rng: np.random.Generator, spec: MessageSpec, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Category and tone a message's copy or banner shows: the true ones, or random ones for ``noise`` of them."""
    if noise <= 0:
        return spec.category, spec.tone
    m = len(spec.category)
    wrong = rng.random(m) < noise
    category = np.where(wrong, rng.integers(0, len(CATEGORIES), m), spec.category)
    tone = np.where(wrong, rng.integers(0, len(TONES), m), spec.tone)
    return category, tone


def generate_world(settings: WorldSettings, channels: list[str], send_hours: list[int], now: dt.datetime) -> World:
    """Build a world deterministically from ``settings.seed``; history ends at ``now``."""
    counts = settings.counts
    now_ts = _utc(now)
    today = now_ts.date()
    channels = list(channels)
    # The eighth stream only feeds the structural knobs, so the default world draws exactly as before.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(settings.seed).spawn(8)]
    r_cust, r_msg, r_events, r_sends, r_reviews, r_drift, r_art, r_knobs = streams
    window = min(SENDS_WINDOW_DAYS, settings.history_days)
    reveal = settings.reveal

    customers, lat = make_customers(
        r_cust,
        counts["customers"],
        channels,
        now_ts,
        missing_birth_year_share=reveal.missing_birth_year_share,
        no_consent_share=settings.no_consent_share,
        consent_shift=settings.consent_shift,
    )

    spec, messages = make_message_specs(r_msg, counts["messages"], today, window)
    launch_new_messages(r_knobs, messages, settings.new_message_share, today)
    copy_cat, copy_tone = _content_view(r_knobs, spec, reveal.copy_noise)
    banner_cat, banner_tone = _content_view(r_knobs, spec, reveal.banner_noise)
    titles, bodies = message_copy(r_msg, copy_cat, copy_tone, spec.offer, spec.discount)
    messages["title"] = titles
    messages["body"] = bodies
    messages["offer_type"] = np.asarray(OFFER_TYPES, dtype=object)[spec.offer]
    messages["discount_pct"] = np.where(spec.discount > 0, spec.discount, np.nan)
    # A quarter of the catalogue omits the category column, so only the copy and banner tell it.
    hide = r_msg.random(len(messages)) < reveal.hidden_category_share
    messages["product_category"] = np.where(hide, None, np.asarray(CATEGORIES, dtype=object)[spec.category])
    messages["image_uri"] = [f"banners/{mid}.png" for mid in messages["message_id"]]
    banners = {
        mid: draw_banner(r_art, int(banner_cat[i]), int(banner_tone[i]), int(spec.offer[i]), float(spec.discount[i]))
        for i, mid in enumerate(messages["message_id"])
    }

    events, unsub = make_events(
        r_events,
        customers,
        lat,
        channels,
        now_ts,
        settings.history_days,
        counts["events"],
        category_noise=reveal.event_category_noise,
    )
    if len(unsub) and "consent_email" in customers:
        customers.loc[unsub, "consent_email"] = False
        unsub_ts = events.loc[events["event_type"] == "unsubscribe"].set_index("cust")["event_ts"]
        customers.loc[unsub, "updated_at"] = np.maximum(
            customers.loc[unsub, "updated_at"].to_numpy(), unsub_ts.reindex(unsub).to_numpy()
        )
    # The logging policy targets the category each customer browsed most (before any drift).
    has_cat = events["product_category"].notna().to_numpy()
    counts_by_cat = np.zeros((len(customers), len(CATEGORIES)))
    cat_code = pd.Categorical(events["product_category"][has_cat], categories=CATEGORIES).codes
    np.add.at(counts_by_cat, (events["cust"].to_numpy()[has_cat], cat_code), 1.0)
    top_category = np.where(counts_by_cat.sum(axis=1) > 0, counts_by_cat.argmax(axis=1), -1)

    in_group = (customers[BIASED_GROUP["column"]] == BIASED_GROUP["value"]).to_numpy()
    oracle = TrueResponse.from_latents(
        customers,
        lat,
        messages["message_id"].tolist(),
        spec,
        channels,
        settings.bias,
        in_group,
        weights=settings.response.model_dump(),
    )
    sends, truth = make_sends(
        r_sends,
        customers,
        lat,
        spec,
        messages,
        oracle,
        channels,
        send_hours,
        now_ts,
        window,
        counts["sends"],
        top_category,
        in_group,
        settings.bias,
        settings.logging,
    )
    order = np.argsort(sends["sent_at"].to_numpy(), kind="stable")
    sends, truth = sends.iloc[order].reset_index(drop=True), truth.iloc[order].reset_index(drop=True)
    sends.insert(0, "send_id", [f"s_{i:07d}" for i in range(1, len(sends) + 1)])
    truth.insert(0, "send_id", sends["send_id"])
    oracle.send_truth = truth

    events = events.sort_values(["event_ts", "cust"], kind="stable").reset_index(drop=True)
    events.insert(0, "event_id", [f"e_{i:07d}" for i in range(1, len(events) + 1)])
    events.insert(1, "customer_id", customers["customer_id"].to_numpy()[events.pop("cust").to_numpy()])

    reviews = make_reviews(r_reviews, customers, lat, now_ts, counts["reviews"])
    reviews = reviews.sort_values("created_at", kind="stable").reset_index(drop=True)
    reviews.insert(0, "review_id", [f"r_{i:06d}" for i in range(1, len(reviews) + 1)])

    world = World(
        customers=conform(customers, INPUT_TABLES["customers"]),
        events=conform(events, INPUT_TABLES["events"]),
        messages=conform(messages, INPUT_TABLES["messages"]),
        sends=conform(sends, INPUT_TABLES["sends"]),
        reviews=conform(reviews, INPUT_TABLES["reviews"]),
        banners=banners,
        oracle=oracle,
        now=now_ts,
        settings=settings,
    )
    _apply_drift(r_drift, world, settings.drift)
    return world


def write_world(world: World, warehouse: Warehouse, assets_dir: Path) -> dict[str, int]:
    """Write every contract table (truncate), the banners under assets, and the oracle beside them."""
    assets_dir = Path(assets_dir)
    banner_dir = assets_dir / "banners"
    banner_dir.mkdir(parents=True, exist_ok=True)
    for stale in banner_dir.glob("m_*.png"):
        if stale.stem not in world.banners:
            stale.unlink()
    for mid, png in world.banners.items():
        (banner_dir / f"{mid}.png").write_bytes(png)
    written = {name: warehouse.write(name, frame, mode="truncate") for name, frame in world.tables().items()}
    # The oracle lives apart from the warehouse so no training query can ever read it.
    world.oracle.save(assets_dir.parent / "world")
    return written


def build_world(cfg: HeraldConfig, now: dt.datetime | None = None) -> dict[str, int]:
    """Generate the configured synthetic world and write it into the embedded warehouse; returns row counts per table.

    Raises HeraldError when the configured warehouse is not the embedded one.
    """
    from pipelines.warehouse import get_warehouse

    if cfg.warehouse_backend != "duckdb":
        raise HeraldError(
            "the synthetic world is only written to the embedded warehouse (HERALD_WAREHOUSE_BACKEND=duckdb)"
        )
    cfg.home.mkdir(parents=True, exist_ok=True)
    generated = generate_world(cfg.world, cfg.channels, cfg.policy.send_hours, now or dt.datetime.now(dt.UTC))
    with get_warehouse(cfg, must_exist=False) as warehouse:
        return write_world(generated, warehouse, cfg.assets_dir)
