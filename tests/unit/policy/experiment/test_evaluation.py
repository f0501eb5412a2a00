"""Held-out evaluation identities on the sample, uplift curves, and the safe-policy decision on constructed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.policy import ope, uplift_eval
from pipelines.policy.safe_improvement import bandit, choose_safe_policy
from pipelines.warehouse.hillstrom.csv_file import read_hillstrom
from pipelines.warehouse.hillstrom.importer import to_contract

from .conftest import NOW


@pytest.fixture(scope="module")
def logged() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[uplift_eval.Action]]:
    from .conftest import SAMPLE

    sends = to_contract(read_hillstrom(SAMPLE), "visit", NOW)["sends"]
    actions = uplift_eval.logged_actions(sends)
    return (
        uplift_eval.action_index(sends, actions),
        sends["converted"].to_numpy(dtype=float),
        sends["propensity"].to_numpy(dtype=float),
        actions,
    )


def test_actions_are_read_from_the_log(logged) -> None:
    arm, _, _, actions = logged
    assert [a.name for a in actions] == ["holdout", "hillstrom_mens@email", "hillstrom_womens@email"]
    assert (arm >= 0).all()


def test_ips_of_fixed_policies_is_the_arm_mean_weighted_by_three(logged) -> None:
    arm, y, p, actions = logged
    n = len(y)
    for k in range(len(actions)):
        data = bandit(np.full(n, k), arm, y, p, None)
        # IPS = Σ_{rows of arm k} y / (1/3) / n = 3 · (n_k / n) · mean_k; the sample is stratified, so = mean_k.
        expected = 3 * (arm == k).sum() / n * y[arm == k].mean()
        assert ope.estimate(data, "ips") == pytest.approx(expected)
        assert ope.estimate(data, "ips") == pytest.approx(y[arm == k].mean())
        assert ope.estimate(data, "snips") == pytest.approx(y[arm == k].mean())
        # DR with a zero reward model is IPS; with the arm means as the model it is the arm mean too.
        zero = bandit(np.full(n, k), arm, y, p, np.zeros((n, len(actions))))
        assert ope.estimate(zero, "dr") == pytest.approx(expected)
    uniform = np.full((n, len(actions)), 1 / len(actions))
    assert ope.estimate(bandit(np.zeros(n, dtype=int), arm, y, p, None, policy_probs=uniform), "ips") == pytest.approx(
        y.mean()
    )


def test_greedy_policy_picks_best_uplift_or_nothing() -> None:
    q = np.array([[0.10, 0.15, 0.12], [0.10, 0.08, 0.12], [0.20, 0.19, 0.18]])
    assert uplift_eval.greedy_policy(q, 0, 0.0, None).tolist() == [1, 2, 0]
    assert uplift_eval.greedy_policy(q, 0, 0.03, None).tolist() == [1, 0, 0]
    # The channel cost is part of the rule: a costly arm loses to a cheaper one with less uplift.
    assert uplift_eval.greedy_policy(q, 0, 0.0, np.array([0.0, 0.04, 0.0])).tolist() == [2, 2, 0]


def test_greedy_policy_threshold_is_inclusive_like_the_deployed_policy() -> None:
    q = np.array([[0.5, 0.75]])
    assert uplift_eval.greedy_policy(q, 0, 0.25, None).tolist() == [1]
    assert uplift_eval.greedy_policy(q, 0, 0.25, None, inclusive=False).tolist() == [0]


def test_counterfactual_rows_swap_only_the_action() -> None:
    rows = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "message_id": ["m1", None],
            "channel": ["email", "none"],
            "is_holdout": [False, True],
            "msg_category": ["mens", None],
            "recency": [3, 4],
        }
    )
    msgs = pd.DataFrame({"message_id": ["m1", "m2"], "msg_category": ["mens", "womens"]})
    m2 = uplift_eval.counterfactual_rows(rows, msgs, uplift_eval.Action("m2", "email"))
    assert m2["msg_category"].tolist() == ["womens", "womens"] and m2["channel"].tolist() == ["email", "email"]
    assert not m2["is_holdout"].any() and m2["recency"].tolist() == [3, 4]
    hold = uplift_eval.counterfactual_rows(rows, msgs, uplift_eval.Action(None, "none"))
    assert hold["msg_category"].isna().all() and hold["message_id"].isna().all() and hold["is_holdout"].all()


def test_customer_split_keeps_customers_whole_and_shares_roughly_right() -> None:
    ids = pd.Series([f"c{i}" for i in range(4000)] * 2)
    split = uplift_eval.customer_split(ids, validation_share=0.25, test_share=0.25, early_stop_share=0.2, seed=1)
    frame = pd.DataFrame({"id": ids, "split": split})
    assert (frame.groupby("id")["split"].nunique() == 1).all()
    shares = pd.Series(split[:4000]).value_counts(normalize=True)
    assert shares["test"] == pytest.approx(0.25, abs=0.03) and shares["stop"] == pytest.approx(0.1, abs=0.03)


def test_qini_of_a_perfect_ranking_beats_random() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    responsive = rng.random(n) < 0.5
    treated = rng.random(n) < 0.5
    y = (treated & responsive & (rng.random(n) < 0.6)) | (rng.random(n) < 0.05)
    frac, q = uplift_eval.qini_curve(responsive.astype(float), treated, ~treated, y.astype(float))
    assert frac[0] == 0 and frac[-1] == 1
    assert uplift_eval.qini_coefficient(frac, q) > 0.02
    frac_r, q_r = uplift_eval.qini_curve(rng.random(n), treated, ~treated, y.astype(float))
    assert abs(uplift_eval.qini_coefficient(frac_r, q_r)) < uplift_eval.qini_coefficient(frac, q) / 3


# ---- safe policy improvement ------------------------------------------------------------------
def _experiment(n: int, personal_gain: float, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Three arms logged at 1/3; arm 1 is best for everyone except type-B customers, who answer arm 2 better."""
    rng = np.random.default_rng(seed)
    type_b = rng.random(n) < 0.3
    logged = rng.integers(0, 3, n)
    rate = np.where(logged == 0, 0.10, np.where(logged == 1, 0.18, 0.15))
    rate = np.where(type_b & (logged == 2), 0.18 + personal_gain, rate)
    reward = (rng.random(n) < rate).astype(float)
    return logged, reward, np.full(n, 1 / 3), type_b


def test_spi_falls_back_to_the_best_fixed_arm_when_personalization_is_not_significantly_better() -> None:
    logged, reward, prop, type_b = _experiment(6000, personal_gain=0.0)
    # A personalized policy that sends arm 2 to type B: no better than arm 1 for them here.
    personalized = np.where(type_b, 2, 1)
    decision = choose_safe_policy(personalized, logged, reward, prop, 3, estimator="ips", n_bootstrap=300, seed=1)
    assert not decision.personalize and decision.deployed == "best_fixed"
    assert decision.best_fixed_action == 1
    assert decision.ci_low <= 0 < decision.ci_high or decision.difference <= 0
    assert "fell back to the best fixed action 1" in decision.reason
    deployed = decision.apply(personalized)
    assert (deployed == 1).all()


def test_spi_personalizes_when_the_lower_bound_clears_zero() -> None:
    logged, reward, prop, type_b = _experiment(30000, personal_gain=0.15)
    personalized = np.where(type_b, 2, 1)
    q = np.tile([0.10, 0.18, 0.15], (len(reward), 1))
    q[type_b, 2] = 0.33
    decision = choose_safe_policy(
        personalized, logged, reward, prop, 3, q_hat=q, estimator="dr", n_bootstrap=300, seed=1
    )
    assert decision.personalize and decision.ci_low > 0
    # Arm 2 is now the best fixed arm (0.7·0.15 + 0.3·0.33 = 0.204); personalized is 0.7·0.18 + 0.3·0.33 = 0.225.
    assert decision.best_fixed_action == 2
    assert decision.difference == pytest.approx(0.225 - 0.204, abs=0.012)
    assert (decision.apply(personalized) == personalized).all()


def test_spi_per_segment_personalizes_only_where_safe() -> None:
    logged, reward, prop, type_b = _experiment(60000, personal_gain=0.04)  # arm 1 stays the best fixed arm
    rng = np.random.default_rng(3)
    # Segment "x" holds the type-B customers who gain; in segment "y" the policy sends arm 2 to no one who gains.
    segment = np.where(type_b, "x", "y")
    personalized = np.where(type_b, 2, np.where(rng.random(len(reward)) < 0.5, 2, 1))
    decision = choose_safe_policy(
        personalized, logged, reward, prop, 3, estimator="ips", segments=segment, n_bootstrap=300, seed=1
    )
    assert decision.best_fixed_action == 1
    assert decision.segments == {"x": True, "y": False}
    deployed = decision.apply(personalized, segment)
    assert (deployed[segment == "x"] == 2).all() and (deployed[segment == "y"] == 1).all()
    with pytest.raises(ValueError, match="segment"):
        decision.apply(personalized)


def test_spi_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="q_hat"):
        choose_safe_policy(np.zeros(3), np.zeros(3), np.zeros(3), np.ones(3), 2, estimator="dr")
    with pytest.raises(ValueError, match="propensity"):
        choose_safe_policy(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3), 2, estimator="ips")
