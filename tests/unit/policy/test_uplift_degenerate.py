"""Qini curves on degenerate inputs: constant scores, tied scores in any order, arms never logged."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.policy.uplift_eval import Action, qini_coefficient, qini_curve, uplift_curves


def test_constant_scores_give_the_random_line_whatever_the_row_order() -> None:
    rng = np.random.default_rng(0)
    n = 500
    treated = rng.random(n) < 0.5
    y = (rng.random(n) < np.where(treated, 0.2, 0.1)).astype(int)
    frac, q = qini_curve(np.zeros(n), treated, ~treated, y)
    assert qini_coefficient(frac, q) == pytest.approx(0.0)
    perm = rng.permutation(n)
    frac2, q2 = qini_curve(np.zeros(n), treated[perm], ~treated[perm], y[perm])
    np.testing.assert_allclose(q, q2)


def test_tied_scores_do_not_depend_on_row_order() -> None:
    rng = np.random.default_rng(1)
    n = 400
    score = rng.integers(0, 4, n).astype(float)
    treated = rng.random(n) < 0.5
    y = (rng.random(n) < 0.2).astype(int)
    base = qini_coefficient(*qini_curve(score, treated, ~treated, y))
    perm = rng.permutation(n)
    assert qini_coefficient(*qini_curve(score[perm], treated[perm], ~treated[perm], y[perm])) == pytest.approx(base)


def test_an_arm_never_logged_is_not_computed() -> None:
    actions = [Action(None, "none"), Action("m1", "email"), Action("m2", "email")]
    logged = np.array([0, 1, 0, 1, 0, 1])
    y = np.array([0, 1, 0, 0, 1, 1])
    curves = uplift_curves(np.random.default_rng(2).random((6, 3)), logged, y, actions, holdout=0)
    assert curves["m1@email"]["status"] == "ok"
    assert curves["m2@email"]["status"] == "not computed: the arm was never logged"
    assert "qini_coefficient" not in curves["m2@email"]
    with pytest.raises(ValueError, match="treated and hold-out"):
        qini_curve(np.zeros(3), np.ones(3, dtype=bool), np.zeros(3, dtype=bool), np.zeros(3))
