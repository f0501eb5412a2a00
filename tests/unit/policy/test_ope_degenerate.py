"""Off-policy estimation on the inputs real logs produce: tiny or missing propensities, no overlap, no rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.policy.ope import LoggedBandit, clip_level, estimate, shrink, truncation_bias, tune_shrinkage
from pipelines.policy.ope_intervals import evaluate
from pipelines.policy.propensity import check_propensities, split_valid
from pipelines.policy.safe_improvement import choose_safe_policy
from pipelines.training.evidence import policy_evidence


def extreme_log() -> LoggedBandit:
    """The issue's reproduction: 4,000 rows at 3% response, one converted row with logging propensity 1e-4."""
    rng = np.random.default_rng(0)
    n = 4000
    reward = (rng.random(n) < 0.03).astype(float)
    logging = np.full(n, 0.5)
    target = np.full(n, 0.5)
    reward[0], logging[0], target[0] = 1.0, 1e-4, 1.0
    q = np.full(n, 0.03)
    return LoggedBandit(reward, logging, target, q, q)


def test_extreme_propensity_is_not_computed_and_rates_stay_in_bounds() -> None:
    data = extreme_log()
    assert data.effective_sample_size() < 3
    for name, r in evaluate(data, n_boot=100, min_ess=100).items():
        assert r["status"].startswith("not computed: effective sample size"), name
        assert np.isnan(r["estimate"]) and r["reliable"] is False
    # Forced to estimate anyway, every value is a rate in [0, 1]; truncation keeps IPS near the data.
    forced = evaluate(data, n_boot=100, min_ess=100, floor_ess=0.0)
    assert forced["ips"]["clamped"] is True  # raw IPS is 2.5 here
    for name, r in forced.items():
        assert 0.0 <= r["ci_low"] <= r["estimate"] <= r["ci_high"] <= 1.0, name
        assert r["status"].startswith("unreliable"), name
    assert forced["ips_clip"]["estimate"] < 0.1


def test_truncated_ips_interval_reaches_up_to_what_truncation_cut_off() -> None:
    """Truncation only lowers IPS: the interval's upper end carries the cut-off mass, lower end unchanged."""
    rng = np.random.default_rng(1)
    n = 3000
    rare = rng.random(n) < 0.002
    logging = np.where(rare, 1e-4, 0.5)  # a few rows with weight 10,000, above τ = mean(w)·√n
    reward = np.where(rare, 1.0, (rng.random(n) < 0.2).astype(float))
    data = LoggedBandit(reward, logging, np.full(n, 1.0))
    tau = clip_level(data.weights)
    assert tau < data.weights.max()  # truncation bites here
    assert truncation_bias(data, tau) >= estimate(data, "ips") - estimate(data, "ips_clip", tau) > 0
    got = evaluate(data, n_boot=100, floor_ess=0.0, bounds=None)["ips_clip"]
    assert got["ci_high"] >= got["estimate"] + truncation_bias(data, tau) - 1e-12
    # Weights under the level: nothing is cut, nothing is added.
    flat = LoggedBandit(reward, np.full(n, 0.5), np.full(n, 1.0))
    assert truncation_bias(flat, clip_level(flat.weights)) == 0.0


def test_zero_null_or_above_one_propensities_are_refused_and_counted() -> None:
    with pytest.raises(ValueError, match=r"\(0, 1\].*1 non_positive"):
        LoggedBandit(np.array([1.0, 0.0]), np.array([0.0, 0.5]), np.array([1.0, 1.0]))
    check = check_propensities([0.5, None, 0.0, -0.1, 1.2, float("nan"), 1.0])
    assert check.counts == {"null": 2, "non_positive": 2, "above_one": 1}
    rows = pd.DataFrame({"send_id": list("abcd"), "propensity": [0.2, None, 0.0, 3.0]})
    kept, rejected, _ = split_valid(rows)
    assert kept["send_id"].tolist() == ["a"]
    assert rejected.set_index("send_id")["reject_reason"].to_dict() == {
        "b": "null",
        "c": "non_positive",
        "d": "above_one",
    }


def test_no_rows_or_no_overlap_is_not_computed() -> None:
    empty = np.zeros(0)
    for data in (
        LoggedBandit(empty, empty, empty, empty, empty),
        LoggedBandit(np.ones(5), np.full(5, 0.5), np.zeros(5), np.full(5, 0.1), np.full(5, 0.9)),
    ):
        for name, r in evaluate(data, n_boot=20).items():
            assert r["status"].startswith("not computed"), name
            assert np.isnan(r["estimate"]) and r["reliable"] is False


def test_estimates_ignore_row_order_and_repeat_exactly() -> None:
    rng = np.random.default_rng(3)
    n = 800
    p = rng.choice([0.1, 0.3, 0.6], n)
    data = LoggedBandit((rng.random(n) < 0.2).astype(float), p, rng.random(n), rng.random(n) * 0.3, rng.random(n) * 0.3)
    perm = rng.permutation(n)
    shuffled = LoggedBandit(
        data.reward[perm],
        data.logging_propensity[perm],
        data.target_propensity[perm],
        data.q_logged[perm],
        data.q_target[perm],
    )
    first = evaluate(data, n_boot=100, seed=4)
    assert evaluate(data, n_boot=100, seed=4) == first
    again = evaluate(shuffled, n_boot=100, seed=4)
    for name in first:
        for key in ("estimate", "ci_low", "ci_high"):
            assert again[name][key] == pytest.approx(first[name][key], rel=1e-9, abs=1e-12), (name, key)


def test_clipping_and_shrinkage_rules() -> None:
    w = np.array([1.0, 1.0, 1.0, 97.0])
    assert clip_level(w) == pytest.approx(25.0 * 2.0)  # mean(w)·√n (Ionides 2008)
    assert np.array_equal(shrink(w, np.inf), w)
    assert shrink(w, 10.0)[-1] < 1.0  # λw/(w²+λ) pulls a huge weight right down
    data = LoggedBandit(np.ones(4), 1 / w, np.ones(4), np.zeros(4), np.zeros(4))
    assert tune_shrinkage(data) > 0


def test_gate_takes_an_unreliable_estimate_as_no_evidence() -> None:
    unreliable = {
        "n_rows": 4000,
        "effective_sample_size": 14.5,
        "improvement": {"estimate": -0.05, "ci_low": -0.08, "ci_high": -0.02, "status": "unreliable: ESS 14.5 < 100"},
    }
    check = policy_evidence(unreliable)
    assert check.passed and "no evidence" in check.reason
    reliable = {**unreliable, "effective_sample_size": 900.0}
    reliable["improvement"] = {**unreliable["improvement"], "status": "ok", "estimator": "dr_os"}
    assert not policy_evidence(reliable).passed
    assert policy_evidence(reliable, block_when_worse=False).passed


def test_an_arm_never_logged_is_never_the_safe_fallback() -> None:
    rng = np.random.default_rng(5)
    n = 600
    logged = rng.integers(0, 2, n)  # arm 2 is never taken by the logging policy
    reward = (rng.random(n) < 0.1).astype(float)
    q_hat = np.column_stack([np.full(n, 0.1), np.full(n, 0.1), np.full(n, 0.9)])  # the model loves arm 2
    decision = choose_safe_policy(np.full(n, 2), logged, reward, np.full(n, 0.5), 3, q_hat=q_hat, n_bootstrap=50)
    assert decision.unlogged_actions == [2]
    assert decision.best_fixed_action != 2
    assert "never logged" in decision.reason
