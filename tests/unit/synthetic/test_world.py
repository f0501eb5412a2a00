"""Tests of the synthetic world: determinism, the contract, the logging policy, the oracle and the knobs."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipelines.config import WorldSettings
from pipelines.synthetic import (
    BIASED_GROUP,
    CATEGORIES,
    DRIFT_WINDOW_DAYS,
    DRIFTED_FEATURES,
    HOLDOUT_SHARE,
    RECENT_DAYS,
    World,
    generate_world,
    load_oracle,
    local_hour,
    write_world,
)
from pipelines.synthetic.sends import TARGETED_SHARE
from pipelines.warehouse.base import Warehouse
from pipelines.warehouse.contract import DEVICES, EVENT_TYPES, INPUT_TABLES, LOYALTY_TIERS

NOW = dt.datetime(2025, 11, 20, 6, 30, tzinfo=dt.UTC)
CHANNELS = ["email", "push", "sms"]
HOURS = [8, 12, 18, 20]


def _world(**kw: Any) -> World:
    return generate_world(WorldSettings(size="tiny", **kw), CHANNELS, HOURS, NOW)


@pytest.fixture(scope="module")
def world() -> World:
    return _world(seed=7)


class FakeWarehouse(Warehouse):
    """Keeps written frames in memory; only ``write`` matters to the world."""

    dataset = "test"

    def __init__(self) -> None:
        self.tables: dict[str, pd.DataFrame] = {}
        self.modes: dict[str, str] = {}

    def publish_run(self, *args: Any, **kwargs: Any) -> Any:  # the world never publishes scoring runs
        raise NotImplementedError

    def write(
        self, table: str, frame: pd.DataFrame, mode: str = "truncate", run_filter: Mapping[str, Any] | None = None
    ) -> int:  # type: ignore[override]
        self.tables[table] = frame.copy()
        self.modes[table] = mode
        return len(frame)

    def query(self, name, params=None):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def iter_query(self, name, params=None, batch_rows=50_000):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def list_tables(self) -> list[str]:
        return list(self.tables)

    def describe(self, table: str) -> dict[str, str]:
        raise NotImplementedError


# ---- determinism ---------------------------------------------------------------------------
def test_same_seed_same_world_and_different_seed_differs(world: World) -> None:
    again = _world(seed=7)
    for name, frame in world.tables().items():
        pd.testing.assert_frame_equal(frame, again.tables()[name], obj=name)
    pd.testing.assert_frame_equal(world.oracle.send_truth, again.oracle.send_truth)
    assert world.banners == again.banners
    other = _world(seed=8)
    for name, frame in world.tables().items():
        assert not frame.equals(other.tables()[name]), name


# ---- the contract --------------------------------------------------------------------------
def _check_type(series: pd.Series, bq_type: str) -> None:
    values = series.dropna()
    if bq_type == "STRING":
        assert series.dtype == object and all(isinstance(v, str) for v in values)
        assert not any(v is np.nan for v in series)  # nulls are None, not NaN
    elif bq_type == "INT64":
        assert str(series.dtype) == "Int64"
    elif bq_type == "FLOAT64":
        assert series.dtype == np.float64
    elif bq_type == "BOOL":
        assert series.dtype == bool
    elif bq_type == "DATE":
        assert series.dtype == object and all(type(v) is dt.date for v in values)
    elif bq_type == "TIMESTAMP":
        assert isinstance(series.dtype, pd.DatetimeTZDtype) and str(series.dtype.tz) == "UTC"
    else:  # pragma: no cover - the contract only uses the types above
        raise AssertionError(bq_type)


def test_tables_match_the_contract(world: World) -> None:
    for name, frame in world.tables().items():
        table = INPUT_TABLES[name]
        assert list(frame.columns) == table.column_names, name
        for col in table.columns:
            try:
                _check_type(frame[col.name], col.type)
            except AssertionError as exc:
                raise AssertionError(f"{name}.{col.name} is {frame[col.name].dtype}, want {col.type}") from exc
            if not col.nullable:
                assert frame[col.name].notna().all(), f"{name}.{col.name} has NULLs"
        if table.key:
            assert frame[table.key].is_unique and frame[table.key].notna().all(), name
    assert len(world.customers) == 400 and len(world.messages) == 12 and len(world.sends) == 4000


def test_extra_channel_becomes_an_extra_consent_column() -> None:
    w = generate_world(WorldSettings(size="tiny"), ["email", "whatsapp"], HOURS, NOW)
    assert "consent_whatsapp" in w.customers and "consent_sms" not in w.customers
    assert set(w.sends["channel"]) <= {"email", "whatsapp", "none"}


def test_values_are_plausible(world: World) -> None:
    cu, ev, ms, se, rv = world.customers, world.events, world.messages, world.sends, world.reviews
    now = pd.Timestamp(NOW)
    assert set(cu["loyalty_tier"]) == set(LOYALTY_TIERS)
    assert set(cu["gender"].dropna()) == {"F", "M"} and cu["gender"].isna().any()
    assert cu["birth_year"].isna().any()
    consents = cu[[f"consent_{c}" for c in CHANNELS]]
    assert (~consents.any(axis=1)).mean() > 0.02  # some customers cannot be contacted at all
    assert 0.4 < cu["consent_email"].mean() < 0.9 and cu["consent_sms"].mean() < cu["consent_email"].mean()
    assert set(ev["event_type"]) == set(EVENT_TYPES)
    assert set(ev["device"]) <= set(DEVICES)
    purchase = ev["event_type"] == "purchase"
    assert ev.loc[purchase, "amount"].notna().all() and (ev.loc[purchase, "amount"] >= 0).all()
    assert ev.loc[~purchase, "amount"].isna().all()
    unsub = ev.loc[ev["event_type"] == "unsubscribe", "customer_id"]
    assert unsub.is_unique and 0 < len(unsub) < 0.1 * len(cu)
    assert not cu.set_index("customer_id").loc[unsub, "consent_email"].any()
    for frame, col in ((ev, "event_ts"), (se, "sent_at"), (rv, "created_at"), (cu, "updated_at")):
        assert (frame[col] <= now).all(), col
    assert (ev["event_ts"] >= now - pd.Timedelta(days=WorldSettings().history_days + 1)).all()
    assert rv["rating"].between(1, 5).all() and rv["text"].str.len().gt(5).all()
    # The catalogue: most messages live now, a few expired, some hide their category in the copy.
    active_now = (ms["active_from"] <= NOW.date()) & (ms["active_to"] >= NOW.date())
    assert active_now.mean() > 0.6 and (ms["active_to"] < NOW.date()).any()
    assert (ms["active_from"] <= ms["active_to"]).all()
    assert ms["product_category"].isna().any() and set(ms["product_category"].dropna()) <= set(CATEGORIES)
    assert ms.loc[ms["offer_type"] != "discount", "discount_pct"].isna().all()
    assert ms["discount_pct"].dropna().between(0, 100).all()
    assert ms["campaign_id"].str.fullmatch(r"cmp_\d\d").all() and ms["message_id"].str.fullmatch(r"m_\d{4}").all()
    assert cu["customer_id"].str.fullmatch(r"c_\d{6}").all()


def test_referential_integrity(world: World) -> None:
    cu = world.customers.set_index("customer_id")
    for frame in (world.events, world.sends, world.reviews):
        assert frame["customer_id"].isin(cu.index).all()
    sent = world.sends.dropna(subset=["message_id"])
    assert sent["message_id"].isin(world.messages["message_id"]).all()
    # Nobody acts before signing up.
    signup = world.events["customer_id"].map(cu["signup_date"])
    assert (world.events["event_ts"].dt.date >= signup).all()
    signup = world.sends["customer_id"].map(cu["signup_date"])
    assert (world.sends["sent_at"].dt.date >= signup).all()


# ---- the logging policy --------------------------------------------------------------------
def test_holdout_rows_and_share(world: World) -> None:
    se = world.sends
    hold = se["message_id"].isna()
    assert abs(hold.mean() - HOLDOUT_SHARE) < 0.02
    assert (se.loc[hold, "channel"] == "none").all() and (se.loc[~hold, "channel"].isin(CHANNELS)).all()
    assert not se.loc[hold, ["opened", "clicked"]].to_numpy().any()
    assert np.allclose(se.loc[hold, "propensity"], HOLDOUT_SHARE)


def test_outcomes_are_consistent(world: World) -> None:
    se = world.sends
    assert (~se["converted"] | se["clicked"] | se["message_id"].isna()).all()
    assert (~se["clicked"] | se["opened"]).all()
    assert ((se["revenue"] > 0) == se["converted"]).all() and (se["revenue"] >= 0).all()


def _local_dates_and_hours(world: World) -> tuple[np.ndarray, np.ndarray]:
    region = world.sends["customer_id"].map(world.customers.set_index("customer_id")["region"]).to_numpy()
    hours = local_hour(world.sends["sent_at"], region)
    from pipelines.synthetic import REGION_TIMEZONES

    dates = np.empty(len(region), dtype=object)
    for r, tz in REGION_TIMEZONES.items():
        mask = region == r
        dates[mask] = world.sends.loc[mask, "sent_at"].dt.tz_convert(tz).dt.date.to_numpy()
    return dates, hours


def test_propensities_follow_the_logging_policy(world: World) -> None:
    """Recompute every propensity from the tables alone: hold-out, targeting and uniform parts."""
    se, ms, cu, ev = world.sends, world.messages, world.customers.set_index("customer_id"), world.events
    assert ((se["propensity"] > 0) & (se["propensity"] <= 1)).all()
    dates, hours = _local_dates_and_hours(world)
    assert set(hours) <= set(HOURS)
    counts = (
        ev.dropna(subset=["product_category"]).groupby(["customer_id", "product_category"]).size().unstack(fill_value=0)
    )
    counts = counts.reindex(columns=list(CATEGORIES), fill_value=0)
    top = pd.Series(np.asarray(CATEGORIES)[counts.to_numpy().argmax(axis=1)], index=counts.index)
    truth = world.oracle.message_truth.set_index("message_id")["category"]
    msg_cat = ms["message_id"].map(truth).to_numpy()
    consents = cu[[f"consent_{c}" for c in CHANNELS]].sum(axis=1)
    for i in np.flatnonzero(se["message_id"].notna().to_numpy()):
        row = se.iloc[i]
        d = dates[i]
        active = ((ms["active_from"] <= d) & (ms["active_to"] >= d)).to_numpy()
        assert active[ms.index[ms["message_id"] == row["message_id"]][0]], "a message was sent outside its window"
        assert cu.loc[row["customer_id"], f"consent_{row['channel']}"], "a send broke consent"
        target = active & (msg_cat == top.get(row["customer_id"], None))
        in_t = bool(target[ms.index[ms["message_id"] == row["message_id"]][0]])
        if target.any():
            p_msg = TARGETED_SHARE * in_t / target.sum() + (1 - TARGETED_SHARE) / active.sum()
        else:
            p_msg = 1.0 / active.sum()
        expected = (1 - HOLDOUT_SHARE) * p_msg / consents[row["customer_id"]] / len(HOURS)
        assert row["propensity"] == pytest.approx(expected, rel=1e-9)


# ---- the oracle ----------------------------------------------------------------------------
def _recent_sends(world: World) -> np.ndarray:
    se = world.sends
    out = np.zeros(len(se), dtype=int)
    window = pd.Timedelta(days=RECENT_DAYS)
    for _, idx in se.groupby("customer_id").groups.items():
        rows = se.loc[idx]
        for i, t in zip(idx, rows["sent_at"], strict=True):
            prior = rows[(rows["sent_at"] < t) & (rows["sent_at"] >= t - window) & rows["message_id"].notna()]
            out[i] = len(prior)
    return out


def test_stored_truth_equals_the_oracle(world: World) -> None:
    se, truth, oracle = world.sends, world.oracle.send_truth, world.oracle
    assert (truth["send_id"] == se["send_id"]).all()
    _, hours = _local_dates_and_hours(world)
    recent = _recent_sends(world)
    assert (truth["send_hour"].to_numpy() == hours).all() and (truth["recent_sends"].to_numpy() == recent).all()
    p = oracle.p_convert(se["customer_id"], se["message_id"], se["channel"], hours, recent)
    np.testing.assert_allclose(truth["p_true"], p, rtol=1e-12)
    np.testing.assert_allclose(truth["p_holdout_true"], oracle.p_holdout(se["customer_id"]), rtol=1e-12)
    hold = se["message_id"].isna().to_numpy()
    np.testing.assert_allclose(truth["p_true"][hold], truth["p_holdout_true"][hold])


def test_conversion_rate_matches_true_probabilities(world: World) -> None:
    p = world.oracle.send_truth["p_true"].to_numpy()
    sd = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(world.sends["converted"].mean() - p.mean()) < 4 * sd
    assert 0.01 < p.mean() < 0.12  # a few percent


def test_response_has_heterogeneous_uplift_and_real_interactions(world: World) -> None:
    oracle = world.oracle
    ids = world.customers["customer_id"].to_numpy()
    n = len(ids)
    msgs = world.messages["message_id"].to_numpy()
    rng = np.random.default_rng(0)
    m = rng.choice(msgs, n)
    up = oracle.uplift(ids, m, rng.choice(CHANNELS, n), rng.choice(HOURS, n), np.zeros(n))
    assert 0.55 < (up > 0).mean() < 0.9  # a random action helps most customers and hurts some
    best = np.max(
        [
            oracle.uplift(ids, np.full(n, mid), np.full(n, ch), np.full(n, h), np.zeros(n))
            for mid in msgs
            for ch in CHANNELS
            for h in HOURS
        ],
        axis=0,
    )
    assert 0.8 < (best > 0).mean() < 0.99  # sleeping dogs: nothing helps them
    # Hold-out rows (None / NaN) ignore channel and hour; fatigue lowers the response.
    hold = oracle.p_convert(ids[:3], [None, np.nan, None], ["none"] * 3, [0, 0, 0], [0, 0, 0])
    np.testing.assert_allclose(hold, oracle.p_holdout(ids[:3]))
    fresh = oracle.p_convert(ids, m, np.full(n, "push"), np.full(n, 18), np.zeros(n))
    tired = oracle.p_convert(ids, m, np.full(n, "push"), np.full(n, 18), np.full(n, 4))
    assert (tired <= fresh).all() and (tired < fresh).mean() > 0.9
    # The best message differs across customers: the category/offer interaction matters.
    grid = np.stack(
        [oracle.p_convert(ids, np.full(n, mid), np.full(n, "email"), np.full(n, 12), np.zeros(n)) for mid in msgs]
    )
    assert len(set(grid.argmax(axis=0))) >= 4
    with pytest.raises(KeyError):
        oracle.p_convert(["c_999999"], ["m_0001"], ["email"], [8], [0])


def test_latents_show_through_behaviour(world: World) -> None:
    """Category affinity is visible in events, as a model would need it to be."""
    ct = world.oracle.customer_truth.set_index("customer_id")
    true_top = ct[[f"aff_{c}" for c in CATEGORIES]].to_numpy().argmax(axis=1)
    ev = world.events.dropna(subset=["product_category"])
    counts = (
        ev.groupby(["customer_id", "product_category"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=list(CATEGORIES), fill_value=0)
    )
    seen_top = pd.Series(counts.to_numpy().argmax(axis=1), index=counts.index)
    busy = counts.sum(axis=1) >= 10
    agree = (seen_top[busy] == pd.Series(true_top, index=ct.index).loc[seen_top[busy].index]).mean()
    assert agree > 0.6


# ---- persistence ----------------------------------------------------------------------------
def test_write_world_tables_banners_and_oracle(world: World, tmp_path: Path) -> None:
    wh = FakeWarehouse()
    assets = tmp_path / "assets"
    written = write_world(world, wh, assets)
    assert written == {name: len(f) for name, f in world.tables().items()}
    assert set(wh.modes.values()) == {"truncate"}
    assert not any("p_true" in f.columns or "aff_apparel" in f.columns for f in wh.tables.values())
    for mid, uri in zip(world.messages["message_id"], world.messages["image_uri"], strict=True):
        assert uri == f"banners/{mid}.png"
        img = Image.open(io.BytesIO((assets / uri).read_bytes()))
        assert img.format == "PNG" and img.size == (64, 64)
    oracle = load_oracle(tmp_path / "world")
    pd.testing.assert_frame_equal(oracle.send_truth, world.oracle.send_truth)
    se, tr = world.sends, world.oracle.send_truth
    np.testing.assert_allclose(
        oracle.p_convert(se["customer_id"], se["message_id"], se["channel"], tr["send_hour"], tr["recent_sends"]),
        tr["p_true"],
    )
    with pytest.raises(FileNotFoundError):
        load_oracle(tmp_path / "nowhere")


def test_banner_colour_encodes_category(world: World) -> None:
    from pipelines.synthetic.banners import CATEGORY_COLOURS

    cats = world.oracle.message_truth.set_index("message_id")["category"]
    for mid, png in world.banners.items():
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(int)
        colours, counts = np.unique(pixels, axis=0, return_counts=True)
        background = colours[counts.argmax()]
        nearest = min(CATEGORY_COLOURS, key=lambda c: np.abs(np.array(CATEGORY_COLOURS[c]) - background).sum())
        assert nearest == cats[mid]


# ---- knobs ----------------------------------------------------------------------------------
def test_drift_changes_exactly_the_drifted_features(world: World) -> None:
    drifted = _world(seed=7, drift=1.0)
    now = pd.Timestamp(NOW)
    windows = {
        "events": (world.events["event_ts"] >= now - pd.Timedelta(days=DRIFT_WINDOW_DAYS)).to_numpy(),
        "customers": (world.customers["signup_date"] >= (now - pd.Timedelta(days=DRIFT_WINDOW_DAYS)).date()).to_numpy(),
    }
    for name, base in world.tables().items():
        other = drifted.tables()[name]
        moved = DRIFTED_FEATURES.get(name, ())
        pd.testing.assert_frame_equal(base.drop(columns=list(moved)), other.drop(columns=list(moved)), obj=name)
        for col in moved:
            a, b = base[col], other[col]
            same = (a == b).fillna(False).to_numpy() | (a.isna() & b.isna()).to_numpy()
            assert not same.all(), f"{name}.{col} did not drift"
            assert same[~windows[name]].all(), f"{name}.{col} changed outside the current window"
    pd.testing.assert_frame_equal(world.oracle.send_truth, drifted.oracle.send_truth)
    recent = windows["events"] & world.events["amount"].notna().to_numpy()
    assert drifted.events["amount"][recent].mean() > 1.5 * world.events["amount"][recent].mean()


def test_bias_treats_the_protected_group_differently() -> None:
    fair, biased = _world(seed=7), _world(seed=7, bias=1.0)
    col, value = BIASED_GROUP["column"], BIASED_GROUP["value"]
    for w, expect_gap in ((fair, False), (biased, True)):
        group = w.sends["customer_id"].map(w.customers.set_index("customer_id")[col]) == value
        hold = w.sends["message_id"].isna()
        gap = hold[group].mean() - hold[~group].mean()
        assert (gap > 0.15) if expect_gap else (abs(gap) < 0.05)
    ids = fair.customers["customer_id"].to_numpy()
    n = len(ids)
    args = (np.full(n, "m_0001"), np.full(n, "email"), np.full(n, 12), np.zeros(n))
    diff = fair.oracle.uplift(ids, *args) - biased.oracle.uplift(ids, *args)
    in_group = (fair.customers[col] == value).to_numpy()
    assert (diff[in_group] > 0).all() and np.allclose(diff[~in_group], 0.0)


@pytest.mark.slow
def test_default_size_is_fast() -> None:
    start = time.perf_counter()
    w = generate_world(WorldSettings(size="default"), CHANNELS, HOURS, NOW)
    elapsed = time.perf_counter() - start
    assert len(w.events) >= 400_000 and len(w.sends) == 200_000
    assert elapsed < 30, f"default world took {elapsed:.1f}s"
