"""The one greedy rule: best net uplift per customer when it clears the threshold, else nothing."""

from __future__ import annotations

import numpy as np

from pipelines.policy.choice import greedy_choice


def test_best_net_uplift_per_group_or_nothing() -> None:
    uplift = np.array([0.05, 0.04, 0.001, 0.01])
    cost = np.array([0.02, 0.0, 0.0, 0.0])
    group = np.array([0, 0, 1, 2])
    # Group 0: net 0.03 vs 0.04 → row 1; group 1: 0.001 < 0.002 → nothing; group 2: row 3.
    assert greedy_choice(uplift, cost, group, 0.002).tolist() == [1, -1, 3]


def test_threshold_rule_is_explicit() -> None:
    uplift, cost, group = np.array([0.5]), np.array([0.25]), np.array([0])
    assert greedy_choice(uplift, cost, group, 0.25).tolist() == [0]
    assert greedy_choice(uplift, cost, group, 0.25, inclusive=False).tolist() == [-1]


def test_nan_never_sends_and_empty_input_is_empty() -> None:
    assert greedy_choice(np.array([np.nan, 0.1]), np.zeros(2), np.array([0, 1]), 0.0).tolist() == [-1, 1]
    assert greedy_choice(np.zeros(0), np.zeros(0), np.zeros(0, dtype=int), 0.0).tolist() == []
