"""Tests of the world family's structural knobs: presets, sizes, response weights, logging policies, new messages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from pipelines.config import WORLD_STRUCTURES, WorldSettings
from pipelines.synthetic import REGION_TIMEZONES, World, generate_world, load_oracle

NOW = dt.datetime(2025, 11, 20, 6, 30, tzinfo=dt.UTC)
CHANNELS = ["email", "push", "sms"]
HOURS = [8, 12, 18, 20]


def _world(**kw: Any) -> World:
    return generate_world(WorldSettings(size="tiny", **kw), CHANNELS, HOURS, NOW)


def _fingerprint(world: World) -> dict[str, int]:
    frames = {**world.tables(), "truth": world.oracle.send_truth}
    return {k: int(pd.util.hash_pandas_object(f.astype(str), index=False).sum()) for k, f in frames.items()}


def test_the_default_structure_is_the_default_world() -> None:
    assert WorldSettings(structure="default") == WorldSettings()
    assert _fingerprint(_world(seed=3, structure="default")) == _fingerprint(_world(seed=3))


def test_presets_fill_under_explicit_fields_and_unknown_names_fail() -> None:
    content = WorldSettings(structure="content", response={"tone_weight": 0.5})
    assert content.response.category_match_weight == WORLD_STRUCTURES["content"]["response"]["category_match_weight"]
    assert content.response.tone_weight == 0.5  # the explicit field wins over the preset
    assert content.logging.kind == "uniform"
    with pytest.raises(ValidationError, match="unknown world structure 'nope'"):
        WorldSettings(structure="nope")


def test_counts_scale_with_customers_and_per_customer_rates() -> None:
    s = WorldSettings(size="small", customers=2_000, sends_per_customer=6.0, reveal={"events_per_customer": 5.0})
    assert s.counts == {"customers": 2_000, "messages": 24, "events": 10_000, "sends": 12_000, "reviews": 1_000}


def test_a_trait_weighted_zero_stops_moving_the_response(tmp_path: Path) -> None:
    w = _world(seed=5, response={"channel_weight": 0.0, "annoyance_weight": 0.0})
    cust = w.customers["customer_id"].to_numpy()[:50]
    msg = np.full(50, w.messages["message_id"].iloc[0], dtype=object)
    p = [w.oracle.p_convert(cust, msg, np.full(50, ch), np.full(50, 12), np.zeros(50)) for ch in CHANNELS]
    assert np.allclose(p[0], p[1]) and np.allclose(p[0], p[2])
    default = _world(seed=5)
    p_default = [default.oracle.p_convert(cust, msg, np.full(50, ch), np.full(50, 12), np.zeros(50)) for ch in CHANNELS]
    assert not np.allclose(p_default[0], p_default[2])
    # The weights travel with the saved oracle.
    w.oracle.save(tmp_path)
    back = load_oracle(tmp_path)
    assert back.weights["channel_weight"] == 0.0
    assert np.allclose(back.p_convert(cust, msg, np.full(50, "sms"), np.full(50, 12), np.zeros(50)), p[2])


def _options(world: World) -> tuple[np.ndarray, np.ndarray]:
    """Per logged message send: active messages that local day, and the customer's consented channels."""
    se, ms = world.sends, world.messages
    cu = world.customers.set_index("customer_id")
    region = se["customer_id"].map(cu["region"]).to_numpy()
    dates = np.empty(len(se), dtype=object)
    for r, tz in REGION_TIMEZONES.items():
        mask = region == r
        dates[mask] = se.loc[mask, "sent_at"].dt.tz_convert(tz).dt.date.to_numpy()
    a_from, a_to = ms["active_from"].to_numpy(), ms["active_to"].to_numpy()
    n_active = np.array([((a_from <= d) & (a_to >= d)).sum() for d in dates])
    consents = se["customer_id"].map(cu[[f"consent_{c}" for c in CHANNELS]].sum(axis=1)).to_numpy()
    return n_active, consents


def test_uniform_logging_logs_uniform_propensities() -> None:
    w = _world(seed=4, logging={"kind": "uniform", "holdout_share": 0.2})
    se = w.sends
    hold = se["message_id"].isna().to_numpy()
    assert np.allclose(se.loc[hold, "propensity"], 0.2)
    n_active, consents = _options(w)
    expected = 0.8 / (n_active * consents * len(HOURS))
    assert np.allclose(se["propensity"].to_numpy()[~hold], expected[~hold], rtol=1e-9)


def test_greedy_logging_logs_the_exact_mix_of_greedy_and_exploration() -> None:
    eps = 0.3
    w = _world(seed=6, logging={"kind": "greedy", "epsilon": eps})
    se = w.sends
    sent = se["message_id"].notna().to_numpy()
    n_active, consents = _options(w)
    n_actions = (n_active * consents * len(HOURS))[sent]
    p = se["propensity"].to_numpy()[sent]
    explored = np.isclose(p, 0.9 * eps / n_actions, rtol=1e-9)
    greedy = np.isclose(p, 0.9 * ((1 - eps) + eps / n_actions), rtol=1e-9)
    assert (explored | greedy).all(), "a propensity is neither the greedy nor the exploring probability"
    assert abs(greedy.mean() - (1 - eps)) < 0.05
    # The earlier model the greedy part follows is informative: its sends convert more often in truth.
    p_true = w.oracle.send_truth["p_true"].to_numpy()[sent]
    assert p_true[greedy].mean() > p_true[explored].mean()


def test_new_messages_launch_today_and_were_never_sent() -> None:
    w = _world(seed=8, new_message_share=0.25)
    ms = w.messages
    today = NOW.date()
    launched = ms[ms["active_from"] == today]
    active = ms[(ms["active_from"] <= today) & (ms["active_to"] >= today)]
    assert len(launched) == round(0.25 * len(active)) > 0
    assert not w.sends["message_id"].isin(launched["message_id"]).any()
    assert (launched["active_to"] >= today).all()
    assert _fingerprint(_world(seed=8))["customers"] == _fingerprint(w)["customers"]


def test_copy_noise_changes_only_the_copy() -> None:
    plain, noisy = _world(seed=9), _world(seed=9, reveal={"copy_noise": 1.0})
    assert (plain.messages["title"] != noisy.messages["title"]).any()
    assert plain.messages["offer_type"].equals(noisy.messages["offer_type"])
    assert plain.oracle.message_truth.equals(noisy.oracle.message_truth)


def test_consent_shift_moves_the_channel_mix() -> None:
    base, shifted = _world(seed=2), _world(seed=2, consent_shift={"sms": 2.0})
    assert shifted.customers["consent_sms"].mean() > base.customers["consent_sms"].mean() + 0.1
