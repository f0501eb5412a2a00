"""Off-policy estimators of a target policy's value from logged sends (point estimates).

Estimators (names as in Open Bandit Pipeline, Saito et al. 2021, which this module re-implements
because its pins would downgrade scikit-learn, scipy and torch here):

- ``ips``: inverse propensity scoring, unclipped (reference only: unbounded when propensities are tiny);
- ``ips_clip``: IPS with weights truncated at ``clip_level`` (Ionides 2008, truncated importance sampling);
- ``snips``: self-normalised IPS (Swaminathan & Joachims 2015), bounded by the rewards' range;
- ``dr``: doubly robust (Dudík et al. 2014), unclipped;
- ``dr_os``: doubly robust with optimistic shrinkage (Su et al. 2020), the headline estimator; its
  shrinkage λ is tuned per dataset by :func:`tune_shrinkage`.

Intervals, reliability and the report of every estimator live in ``pipelines/policy/ope_intervals.py``;
the deployed policy replayed on logged sends lives in ``pipelines/policy/replay.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.policy.propensity import check_propensities

PredictFn = Callable[[pd.DataFrame], np.ndarray]
ESTIMATORS = ("ips", "ips_clip", "snips", "dr", "dr_os")
HEADLINE = "dr_os"
# Candidate shrinkage levels for DR-os, as in OBP's tuning grid (λ = ∞ is plain DR).
SHRINKAGE_GRID = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, np.inf)
NEEDS_MODEL = ("dr", "dr_os")
# Below this many effective rows no estimate is given at all; between it and the configured minimum
# (PolicySettings.ope_min_effective_sample_size) an estimate is shown but marked unreliable.
MIN_ESS_TO_ESTIMATE = 10.0


@dataclass
class LoggedBandit:
    """Logged decisions as OPE sees them: reward, both policies' probabilities of the logged action, model values.

    ``q_logged`` is the reward model's estimate for the logged action and ``q_target`` its expected
    value under the target policy, Σ_a π(a|x)·q̂(x, a); both are needed only by doubly robust.
    ``logging_propensity`` must be in (0, 1] (see :func:`pipelines.policy.propensity.check_propensities`).
    """

    reward: np.ndarray
    logging_propensity: np.ndarray
    target_propensity: np.ndarray
    q_logged: np.ndarray | None = None
    q_target: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.reward = np.asarray(self.reward, dtype=float)
        self.logging_propensity = np.asarray(self.logging_propensity, dtype=float)
        self.target_propensity = np.asarray(self.target_propensity, dtype=float)
        check = check_propensities(self.logging_propensity)
        if check.n_invalid:
            raise ValueError(
                f"logging propensities must be in (0, 1]: {check.describe()}; quarantine those rows first "
                "(pipelines.policy.propensity.check_propensities)"
            )

    @property
    def weights(self) -> np.ndarray:
        return self.target_propensity / self.logging_propensity

    def effective_sample_size(self) -> float:
        """Kish's effective sample size (Σw)²/Σw² of the weights: how many logged rows the estimate is worth."""
        return kish_ess(self.weights)


def kish_ess(w: np.ndarray) -> float:
    """(Σw)²/Σw², 0 when every weight is 0 (Kish 1965)."""
    w = np.asarray(w, dtype=float)
    sq = float((w**2).sum())
    return float(w.sum() ** 2 / sq) if sq > 0 else 0.0


def clip_level(w: np.ndarray) -> float:
    """Truncation level τ = mean(w)·√n of Ionides (2008), "Truncated importance sampling".

    The rule keeps the bias of truncation and the variance of the truncated weights of the same
    order, so the mean squared error falls like 1/n whatever the weights' tails; it needs no tuning.
    """
    w = np.asarray(w, dtype=float)
    return float(w.mean() * np.sqrt(len(w))) if len(w) else np.inf


def shrink(w: np.ndarray, lam: float) -> np.ndarray:
    """Optimistic shrinkage of importance weights, ŵ = λw / (w² + λ) (Su et al. 2020); λ = ∞ leaves w."""
    return w if not np.isfinite(lam) else lam * w / (w**2 + lam)


def shrinkage_bias(data: LoggedBandit, lam: float, delta: float = 0.05) -> float:
    """High-probability upper bound on the bias DR-os accepts for its variance (empirical Bernstein).

    The bias of shrinking is mean((ŵ − w)(r − q̂)) in expectation; its sample mean is noisy, so the
    bound adds the empirical-Bernstein deviation at level ``delta`` (Maurer & Pontil 2009), as OBP's
    ``estimate_high_probability_upper_bound_bias``. It is used to tune λ and widens both interval
    ends: the bootstrap sees only the variance of the shrunk estimator and would under-cover.
    """
    w = data.weights
    n = len(w)
    if n < 2 or not np.isfinite(lam):
        return 0.0
    d = (shrink(w, lam) - w) * (data.reward - _require(data.q_logged))
    log_term = np.log(2.0 / delta)
    return float(
        abs(d.mean()) + np.sqrt(2.0 * d.var(ddof=1) * log_term / n) + 7.0 * np.abs(d).max() * log_term / (3.0 * (n - 1))
    )


def truncation_bias(data: LoggedBandit, tau: float, delta: float = 0.05) -> float:
    """High-probability upper bound on how far truncated IPS sits below IPS (empirical Bernstein).

    Truncating weights at ``tau`` drops d = (w − min(w, τ))·r ≥ 0 per row (rewards ≥ 0), so the
    estimate is biased down by E[d]; its sample mean plus the empirical-Bernstein deviation at level
    ``delta`` (Maurer & Pontil 2009) bounds it. It widens the interval's upper end: the bootstrap
    sees only the variance of the truncated estimator (Ionides 2008) and would miss the truth above.
    """
    w = data.weights
    n = len(w)
    if n < 2 or not np.isfinite(tau):
        return 0.0
    d = (w - np.minimum(w, tau)) * data.reward
    log_term = np.log(2.0 / delta)
    return float(
        d.mean() + np.sqrt(2.0 * d.var(ddof=1) * log_term / n) + 7.0 * np.abs(d).max() * log_term / (3.0 * (n - 1))
    )


def tune_shrinkage(data: LoggedBandit, grid: tuple[float, ...] = SHRINKAGE_GRID) -> float:
    """λ of DR-os minimising variance/n + (bias bound)², as OBP's ``tuning_method="mse"`` (Su et al. 2020).

    The smallest λ attains the lowest variance, the largest (∞, plain DR) no bias; the bias of each
    λ is bounded from above by :func:`shrinkage_bias`, so a lucky small bias estimate cannot pick a λ
    that shrinks away the signal.
    """
    w, resid = data.weights, data.reward - _require(data.q_logged)
    n = len(w)
    best, best_mse = np.inf, np.inf
    for lam in grid:
        terms = _require(data.q_target) + shrink(w, lam) * resid
        mse = float(terms.var() / max(n, 1) + shrinkage_bias(data, lam) ** 2)
        if mse < best_mse - 1e-15:
            best, best_mse = lam, mse
    return float(best)


def _require(values: np.ndarray | None) -> np.ndarray:
    if values is None:
        raise ValueError("doubly robust needs q_logged and q_target (the reward model's values)")
    return values


def estimator_terms(
    data: LoggedBandit, estimator: str, level: float | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-row numerator (and denominator for ratio estimators) whose means make the estimate.

    ``level`` is the clipping level (``ips_clip``) or the shrinkage λ (``dr_os``); None = from the data.
    """
    w = data.weights
    if estimator == "ips":
        return w * data.reward, None
    if estimator == "ips_clip":
        return np.minimum(w, clip_level(w) if level is None else level) * data.reward, None
    if estimator == "snips":
        return w * data.reward, w
    if estimator == "dr":
        return _require(data.q_target) + w * (data.reward - _require(data.q_logged)), None
    if estimator == "dr_os":
        lam = tune_shrinkage(data) if level is None else level
        return _require(data.q_target) + shrink(w, lam) * (data.reward - _require(data.q_logged)), None
    raise ValueError(f"unknown estimator {estimator!r} (one of {', '.join(ESTIMATORS)})")


def estimator_level(data: LoggedBandit, estimator: str) -> float | None:
    """The level an estimator fixes on the full data: the clipping level, the shrinkage λ, else None."""
    if estimator == "ips_clip":
        return clip_level(data.weights)
    if estimator == "dr_os":
        return tune_shrinkage(data)
    return None


def estimate(data: LoggedBandit, estimator: str, level: float | None = None) -> float:
    """Point estimate of the target policy's value (mean reward per decision), unclamped; NaN without rows."""
    num, den = estimator_terms(data, estimator, level)
    if len(num) == 0:
        return float("nan")
    if den is None:
        return float(num.mean())
    return float(num.sum() / den.sum()) if den.sum() > 0 else float("nan")
