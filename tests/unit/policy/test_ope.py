"""Off-policy estimators on a toy bandit whose true policy value is known."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.policy.ope import LoggedBandit, estimate
from pipelines.policy.ope_intervals import evaluate, on_policy_value

# Two contexts, three arms: true reward probabilities, the logging policy and the deterministic target.
REWARD = np.array([[0.10, 0.30, 0.20], [0.40, 0.05, 0.15]])
LOGGING = np.array([[0.6, 0.2, 0.2], [0.2, 0.4, 0.4]])
TARGET = np.array([1, 0])
TRUE_VALUE = float(np.mean([REWARD[0, 1], REWARD[1, 0]]))


def toy_log(n: int, seed: int, model_bias: float = 0.05) -> LoggedBandit:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    a = np.array([rng.choice(3, p=LOGGING[c]) for c in x])
    r = (rng.random(n) < REWARD[x, a]).astype(float)
    q = np.clip(REWARD + model_bias, 0, 1)  # a wrong reward model: DR must still be unbiased
    return LoggedBandit(
        reward=r,
        logging_propensity=LOGGING[x, a],
        target_propensity=(a == TARGET[x]).astype(float),
        q_logged=q[x, a],
        q_target=q[x, TARGET[x]],
    )


def test_estimators_recover_the_known_value() -> None:
    data = toy_log(40_000, seed=0)
    for name in ("ips", "ips_clip", "snips", "dr"):
        assert estimate(data, name) == pytest.approx(TRUE_VALUE, abs=0.01), name
    # Shrinkage trades a little bias (the wrong reward model's) for variance.
    assert estimate(data, "dr_os") == pytest.approx(TRUE_VALUE, abs=0.015)
    assert on_policy_value(data.reward)["estimate"] == pytest.approx(
        float(np.mean([LOGGING[c] @ REWARD[c] for c in (0, 1)])), abs=0.01
    )


def test_intervals_cover_the_true_value_in_most_seeds() -> None:
    seeds = range(30)
    hits = {name: 0 for name in ("ips", "ips_clip", "snips", "dr", "dr_os")}
    for seed in seeds:
        result = evaluate(toy_log(1500, seed), n_boot=200, confidence=0.9, seed=seed)
        for name, r in result.items():
            assert r["ci_low"] <= r["estimate"] <= r["ci_high"]
            hits[name] += r["ci_low"] <= TRUE_VALUE <= r["ci_high"]
    for name, hit in hits.items():
        assert hit / len(seeds) >= 0.8, f"{name} covered the truth in {hit} of {len(seeds)} seeds"


def test_a_perfect_reward_model_makes_dr_tighter_than_ips() -> None:
    data = toy_log(3000, seed=1, model_bias=0.0)
    result = evaluate(data, n_boot=300, seed=1)
    width = {k: v["ci_high"] - v["ci_low"] for k, v in result.items()}
    assert width["dr"] < width["ips"]
    assert data.effective_sample_size() < len(data.reward)
