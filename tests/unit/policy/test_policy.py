"""Policy rules, threshold, channel cost, epsilon-greedy propensities and the campaign budget."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from pipelines.config import HeraldConfig, PolicySettings, load_config
from pipelines.policy.allocation import allocate_budget, apply_allocation, keep_allocatable
from pipelines.policy.choice import (
    BELOW_THRESHOLD,
    CAMPAIGN_BUDGET,
    EXPLOIT,
    FREQUENCY_CAP,
    NO_ACTIVE_MESSAGE,
    NO_CONSENT,
    QUIET_HOURS,
    UNSUBSCRIBED,
    allowed_channels,
    allowed_send_hours,
    blocking_reason,
    choose_actions,
)


@pytest.fixture
def cfg(tmp_path) -> HeraldConfig:
    return load_config(home=tmp_path)


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["ok", "unsub", "tired", "silent", "nulls"],
            "consent_email": [True, True, True, False, None],
            "consent_push": [False, True, False, False, None],
            "consent_sms": [False, False, True, False, None],
            "evt_unsubscribed": [False, True, False, False, False],
            "recent_sends_7d": [0, 0, 5, 0, 0],
        }
    )


def test_rules_block_before_any_score(cfg: HeraldConfig) -> None:
    customers = _customers()
    allowed = allowed_channels(customers, cfg)
    assert allowed.loc[0].tolist() == [True, False, False]
    assert not allowed.loc[4].any(), "missing consent is no consent"
    reason = blocking_reason(customers, allowed, cfg.policy, n_active_messages=3)
    assert reason.tolist() == [None, UNSUBSCRIBED, FREQUENCY_CAP, NO_CONSENT, NO_CONSENT]


def test_implied_consent_and_missing_column(tmp_path) -> None:
    cfg = load_config(home=tmp_path, channels=["email", "push", "whatsapp"], implied_consent_channels=["push"])
    allowed = allowed_channels(_customers(), cfg)
    assert allowed["push"].all() and not allowed["whatsapp"].any()


def test_quiet_hours_and_empty_catalogue_block_with_a_reason(cfg: HeraldConfig) -> None:
    customers = _customers().head(1)
    allowed = allowed_channels(customers, cfg)
    quiet = cfg.policy.model_copy(update={"quiet_hours": list(range(24))})
    assert allowed_send_hours(quiet) == []
    assert blocking_reason(customers, allowed, quiet).tolist() == [QUIET_HOURS]
    assert blocking_reason(customers, allowed, cfg.policy, n_active_messages=0).tolist() == [NO_ACTIVE_MESSAGE]
    assert 22 not in allowed_send_hours(cfg.policy.model_copy(update={"send_hours": [8, 22]}))


def _scored() -> tuple[pd.DataFrame, pd.Series]:
    scored = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b"],
            "message_id": ["m1", "m2", "m1", "m1", "m2"],
            "channel": ["email", "email", "sms", "email", "push"],
            "send_hour": [8, 8, 12, 8, 18],
            "p_response": [0.050, 0.045, 0.0525, 0.0305, 0.0301],
        }
    )
    return scored, pd.Series({"a": 0.04, "b": 0.03})


def test_best_net_uplift_wins_and_threshold_means_nothing() -> None:
    scored, holdout = _scored()
    settings = PolicySettings(exploration="none", min_uplift=0.002)
    out = choose_actions(scored, holdout, settings, np.random.default_rng(0)).set_index("customer_id")
    # sms has the highest raw uplift (0.0125) but its cost (0.004) leaves email m1 (0.01 − 0.0005) ahead.
    assert (out.loc["a", "message_id"], out.loc["a", "channel"]) == ("m1", "email")
    assert out.loc["a", "uplift"] == pytest.approx(0.01)
    assert out.loc["b", "message_id"] is None and out.loc["b", "reason"] == BELOW_THRESHOLD
    assert out.loc["b", "p_response"] == pytest.approx(0.03)
    assert (out["propensity"] == 1.0).all() and (out["policy"] == EXPLOIT).all()


def test_epsilon_greedy_propensities_are_the_true_choice_probabilities() -> None:
    scored, holdout = _scored()
    settings = PolicySettings(epsilon=0.3)
    rng = np.random.default_rng(1)
    counts: Counter = Counter()
    logged: dict[tuple, float] = {}
    draws = 1200
    for _ in range(draws):
        row = choose_actions(scored, holdout, settings, rng).set_index("customer_id").loc["a"]
        key = (row["message_id"], row["channel"], row["send_hour"])
        counts[key] += 1
        logged.setdefault(key, row["propensity"])
        assert logged[key] == pytest.approx(row["propensity"])
    k = 4  # three candidates + send nothing
    assert len(logged) == k
    assert sum(logged.values()) == pytest.approx(1.0)
    assert logged[("m1", "email", 8)] == pytest.approx(0.7 + 0.3 / k)
    for key, p in logged.items():
        assert counts[key] / draws == pytest.approx(p, abs=0.05)


def _offers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["c1", "c1", "c2", "c3", "c3", "c4"],
            "campaign_id": ["A", "B", "A", "A", "B", "B"],
            "message_id": ["a1", "b1", "a1", "a2", "b2", "b1"],
            "channel": "email",
            "send_hour": 8,
            "p_response": [0.09, 0.08, 0.07, 0.06, 0.05, 0.04],
            "uplift": [0.05, 0.04, 0.03, 0.02, 0.015, 0.01],
            "net": [0.05, 0.04, 0.03, 0.02, 0.015, 0.01],
        }
    )


def test_budget_goes_to_the_highest_uplifts_one_message_each() -> None:
    got = allocate_budget(_offers(), budget=1)
    assert sorted(zip(got["customer_id"], got["campaign_id"])) == [("c1", "A"), ("c3", "B")]
    got = allocate_budget(_offers(), budget=2)
    assert sorted(zip(got["customer_id"], got["campaign_id"])) == [("c1", "A"), ("c2", "A"), ("c3", "B"), ("c4", "B")]
    got = allocate_budget(_offers(), budget=1, already_used={"A": 1})
    assert sorted(zip(got["customer_id"], got["campaign_id"])) == [("c1", "B")]


def test_truncating_offers_per_shard_is_exact() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    offers = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in rng.integers(0, 800, n)],
            "campaign_id": [f"k{i}" for i in rng.integers(0, 4, n)],
            "message_id": "m",
            "channel": "email",
            "send_hour": 8,
            "p_response": 0.1,
            "net": rng.random(n),
        }
    ).drop_duplicates(["customer_id", "campaign_id"])
    offers["uplift"] = offers["net"]
    full = allocate_budget(offers, budget=20)
    shards = np.array([hash(c) % 3 for c in offers["customer_id"]])
    kept = pd.concat([keep_allocatable(offers[shards == s], 20, 4) for s in range(3)], ignore_index=True)
    assert len(kept) < len(offers)
    truncated = allocate_budget(kept, budget=20)
    key = ["customer_id", "campaign_id"]
    assert full[key].sort_values(key).values.tolist() == truncated[key].sort_values(key).values.tolist()


def test_applying_the_allocation_recomputes_reasons_and_propensities() -> None:
    eps, k = 0.2, 5
    decisions = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4", "c9"],
            "message_id": ["a1", "a1", "b9", None, None],
            "channel": ["email", "email", "email", None, None],
            "send_hour": [8, 8, 8, None, None],
            "p_response": [0.09, 0.07, 0.05, 0.03, np.nan],
            "uplift": [0.05, 0.03, 0.01, 0.0, np.nan],
            "propensity": [0.84, 0.84, eps / k, 0.84, 1.0],
            "policy": ["exploit", "exploit", "explore", "exploit", "rule"],
            "reason": [None, None, None, BELOW_THRESHOLD, NO_CONSENT],
            "n_actions": [k, k, k, k, 1],
        }
    )
    for col in ("message_id", "channel", "send_hour"):
        decisions[f"greedy_{col}"] = decisions[col]
    allocated = allocate_budget(_offers(), budget=1)  # c1 → A, c3 → B
    out = apply_allocation(decisions, allocated, PolicySettings(epsilon=eps)).set_index("customer_id")
    assert out.loc["c1", "message_id"] == "a1" and out.loc["c1", "propensity"] == pytest.approx(1 - eps + eps / k)
    assert out.loc["c2", "message_id"] is None and out.loc["c2", "reason"] == CAMPAIGN_BUDGET
    assert out.loc["c2", "p_response"] == pytest.approx(0.04) and out.loc["c2", "uplift"] == 0.0
    assert out.loc["c3", "message_id"] == "b9" and out.loc["c3", "propensity"] == pytest.approx(eps / k)
    assert out.loc["c4", "reason"] == BELOW_THRESHOLD
    assert out.loc["c9", "reason"] == NO_CONSENT and out.loc["c9", "propensity"] == 1.0


def test_randomized_control_holds_out_a_share_and_propensities_stay_the_true_probabilities() -> None:
    from pipelines.policy.choice import CONTROL, RANDOMIZED_CONTROL

    scored, holdout = _scored()
    settings = PolicySettings(epsilon=0.3, control_share=0.2)
    rng = np.random.default_rng(2)
    counts: Counter = Counter()
    logged: dict[tuple, float] = {}
    controls = 0
    draws = 1500
    for _ in range(draws):
        row = choose_actions(scored, holdout, settings, rng).set_index("customer_id").loc["a"]
        key = (row["message_id"], row["channel"], row["send_hour"])
        counts[key] += 1
        logged.setdefault(key, row["propensity"])
        assert logged[key] == pytest.approx(row["propensity"])
        if row["policy"] == CONTROL:
            controls += 1
            assert row["message_id"] is None and row["reason"] == RANDOMIZED_CONTROL and row["uplift"] == 0.0
    k = 4
    assert sum(logged.values()) == pytest.approx(1.0)
    assert logged[(None, None, None)] == pytest.approx(0.2 + 0.8 * 0.3 / k)
    assert controls / draws == pytest.approx(0.2, abs=0.03)
    for key, p in logged.items():
        assert counts[key] / draws == pytest.approx(p, abs=0.05)
    # A share of 0 changes nothing: same draws, same decisions.
    plain = choose_actions(scored, holdout, PolicySettings(epsilon=0.3), np.random.default_rng(5))
    zero = choose_actions(scored, holdout, PolicySettings(epsilon=0.3, control_share=0.0), np.random.default_rng(5))
    pd.testing.assert_frame_equal(plain, zero)
