"""Promotion rules: paired bootstrap intervals, the challenger's choice and the gate's verdict (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.training.promotion import (
    FIXED_ACTION,
    GateInputs,
    gate_decision,
    paired_bootstrap,
    select_challenger,
)


def _world(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    p_true = 1 / (1 + np.exp(-(1.2 * signal - 2.5)))
    y = (rng.random(n) < p_true).astype(int)
    fold = np.repeat([1, 2, 3], n // 3 + 1)[:n]
    clusters = rng.integers(0, n // 4, n)
    return y, p_true, fold, clusters


def _noisy(p: np.ndarray, scale: float, seed: int) -> np.ndarray:
    z = np.log(p / (1 - p)) + np.random.default_rng(seed).normal(scale=scale, size=len(p))
    return 1 / (1 + np.exp(-z))


def _weaker(p: np.ndarray, scale: float, seed: int) -> np.ndarray:
    """A roughly calibrated prediction from a noisier signal: logit shrunk toward its mean."""
    logit = np.log(p / (1 - p))
    noisy = logit + np.random.default_rng(seed).normal(scale=scale, size=len(p))
    shrink = logit.var() / (logit.var() + scale**2)
    return 1 / (1 + np.exp(-(logit.mean() + shrink * (noisy - logit.mean()))))


def test_paired_intervals_separate_a_real_difference_and_not_a_copy() -> None:
    y, p, fold, clusters = _world()
    prior = np.full(len(y), y.mean())
    boot = paired_bootstrap(
        y, {"good": p, "same": p.copy(), "noise": _noisy(p, 3.0, 1), "prior": prior}, fold, clusters
    )
    point, lo, hi = boot.auc_difference("good", "noise")
    assert lo > 0 and point > lo and hi > point
    assert boot.auc_difference("good", "same") == (0.0, 0.0, 0.0)  # paired: identical rows, identical scores
    gain, gain_lo, _ = boot.log_loss_gain("good", "prior")
    assert gain_lo > 0 and gain > gain_lo
    assert boot.auc["prior"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="one entry per row"):
        paired_bootstrap(y, {"short": p[:10]}, fold, clusters)


def test_customers_not_sends_are_resampled() -> None:
    # 300 customers x 10 sends with one outcome and one score per customer: the rows are not
    # independent, so the customer bootstrap must give a wider interval than a row bootstrap.
    rng = np.random.default_rng(3)
    customer = np.repeat(np.arange(300), 10)
    p = rng.uniform(0.05, 0.4, 300)[customer]
    y = (rng.random(300) < np.unique(p, return_index=True)[0][np.argsort(np.argsort(p[::10]))])[customer].astype(int)
    fold = np.ones(len(y), dtype=int)
    by_customer = paired_bootstrap(y, {"m": p}, fold, customer, n_boot=150)
    by_row = paired_bootstrap(y, {"m": p}, fold, np.arange(len(y)), n_boot=150)
    low_c, high_c = by_customer.interval(by_customer.auc_samples["m"])
    low_r, high_r = by_row.interval(by_row.auc_samples["m"])
    assert high_c - low_c > 2 * (high_r - low_r)


def test_a_tie_goes_to_the_preferred_model_and_a_clear_win_to_the_winner() -> None:
    y, p, fold, clusters = _world()
    prior = np.full(len(y), y.mean())
    tied = {"deep": _noisy(p, 0.30, 2), "lightgbm": _noisy(p, 0.28, 3), "logreg": _noisy(p, 2.5, 4), "prior": prior}
    chosen = select_challenger(paired_bootstrap(y, tied, fold, clusters), ["deep", "lightgbm", "logreg"], ["deep"])
    assert chosen.challenger == "deep" and chosen.eligible[0] == "deep"
    assert "lightgbm" in chosen.eligible and any("tied within intervals: lightgbm" in r for r in chosen.reasons)
    assert any(r.startswith("logreg") for r in chosen.reasons)  # not eligible or beaten, and said so
    clear = {**tied, "deep": _weaker(p, 1.5, 5)}
    won = select_challenger(paired_bootstrap(y, clear, fold, clusters), ["deep", "lightgbm", "logreg"], ["deep"])
    assert "deep" in won.eligible  # it beats the prior, but lightgbm beats it
    assert won.challenger == "lightgbm" and any("deep is beaten by lightgbm" in r for r in won.reasons)


def test_nothing_beats_the_prior_so_the_fixed_action_serves() -> None:
    y, _, fold, clusters = _world()
    rng = np.random.default_rng(9)
    prior = np.full(len(y), y.mean())
    noise = {"deep": rng.uniform(0.05, 0.1, len(y)), "logreg": rng.uniform(0.05, 0.1, len(y)), "prior": prior}
    chosen = select_challenger(paired_bootstrap(y, noise, fold, clusters), ["deep", "logreg"], ["deep"])
    assert chosen.challenger == FIXED_ACTION and chosen.eligible == []
    assert any("no candidate beats the prior-rate predictor" in r for r in chosen.reasons)
    assert chosen.evidence["deep"]["auc_low"] <= 0.5


def _inputs(**changes) -> GateInputs:
    base = {"version": "2", "estimator": "deep", "auc": 0.7, "ece": 0.01, "group_auc_gap": 0.02}
    return GateInputs(**{**base, **changes})


BOUNDS = {"margin": 0.0, "max_ece": 0.05, "max_group_auc_gap": 0.15}


def test_gate_promotes_the_first_model_and_refuses_on_intervals_and_bounds() -> None:
    first = gate_decision(_inputs(), **BOUNDS)
    assert first.promoted and "no champion yet" in first.reasons
    champion = {"champion_version": "1", "champion_auc": 0.72}
    worse = gate_decision(_inputs(versus_champion=(-0.02, -0.035, -0.004), **champion), **BOUNDS)
    assert not worse.promoted and "upper bound below margin" in worse.reasons[0]
    tie = gate_decision(_inputs(versus_champion=(-0.01, -0.03, 0.01), **champion), **BOUNDS)
    assert tie.promoted  # not worse beyond the interval: the fresher refit replaces the champion
    assert not gate_decision(_inputs(ece=0.08), **BOUNDS).promoted
    assert not gate_decision(_inputs(group_auc_gap=0.3), **BOUNDS).promoted
    unknown = gate_decision(_inputs(group_auc_gap=None), **BOUNDS)
    assert unknown.promoted and any("not computed" in r for r in unknown.reasons)


def test_the_fixed_action_serves_only_when_there_is_no_champion() -> None:
    assert gate_decision(_inputs(estimator=FIXED_ACTION, ece=0.2), **BOUNDS).promoted
    kept = gate_decision(_inputs(estimator=FIXED_ACTION, champion_version="1"), **BOUNDS)
    assert not kept.promoted and "never replaces champion v1" in kept.reasons[0]


def test_decisions_travel_as_strict_json_for_xcom() -> None:
    import json

    decision = gate_decision(_inputs(auc=float("nan"), estimator=FIXED_ACTION), **BOUNDS)
    assert json.loads(json.dumps(decision.to_dict(), allow_nan=False))["challenger_auc"] is None
