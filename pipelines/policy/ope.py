"""Off-policy estimators of a target policy's value from logged sends, with BCa bootstrap intervals.

Estimators (names as in Open Bandit Pipeline, Saito et al. 2021, which this module re-implements
because its pins would downgrade scikit-learn, scipy and torch here):

- ``ips``: inverse propensity scoring, unclipped (reference only: unbounded when propensities are tiny);
- ``ips_clip``: IPS with weights truncated at ``clip_level`` (Ionides 2008, truncated importance sampling);
- ``snips``: self-normalised IPS (Swaminathan & Joachims 2015), bounded by the rewards' range;
- ``dr``: doubly robust (Dudík et al. 2014), unclipped;
- ``dr_os``: doubly robust with optimistic shrinkage (Su et al. 2020), the headline estimator; its
  shrinkage λ is tuned per dataset by :func:`tune_shrinkage`.

Every estimate comes with the effective sample size of its weights and is marked unreliable below a
configured size; values of a rate are clamped to [0, 1]; an estimate the data cannot support (no
logged row, or a target that never takes a logged action) is reported as "not computed: <reason>".
The deployed policy replayed on logged sends lives in ``pipelines/policy/replay.py``.
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


def _terms(data: LoggedBandit, estimator: str, level: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
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


def _level(data: LoggedBandit, estimator: str) -> float | None:
    if estimator == "ips_clip":
        return clip_level(data.weights)
    if estimator == "dr_os":
        return tune_shrinkage(data)
    return None


def estimate(data: LoggedBandit, estimator: str, level: float | None = None) -> float:
    """Point estimate of the target policy's value (mean reward per decision), unclamped; NaN without rows."""
    num, den = _terms(data, estimator, level)
    if len(num) == 0:
        return float("nan")
    if den is None:
        return float(num.mean())
    return float(num.sum() / den.sum()) if den.sum() > 0 else float("nan")


def bootstrap_ci(
    data: LoggedBandit,
    estimator: str,
    n_boot: int = 200,
    confidence: float = 0.9,
    seed: int = 0,
    level: float | None = None,
) -> tuple[float, float]:
    """Bias-corrected and accelerated (BCa) bootstrap interval over logged rows.

    Importance-weighted rewards are strongly right-skewed (a rare large weight times a rare
    conversion), where plain percentile intervals sit too low and under-cover; BCa shifts the
    percentiles by the resamples' median bias and the statistic's skewness (Efron, 1987). The
    acceleration comes from the estimator's influence values, exact for a mean and first-order
    for the self-normalised ratio, so it costs O(n) instead of a jackknife's O(n²). The clipping or
    shrinkage level is fixed on the full data. Rows are put in a canonical order before resampling,
    so the interval does not depend on the order of the logged rows.
    """
    level = _level(data, estimator) if level is None else level
    num, den = _terms(data, estimator, level)
    n = len(num)
    if n == 0:
        return float("nan"), float("nan")
    order = np.lexsort((num,) if den is None else (den, num))
    num = num[order]
    den = None if den is None else den[order]
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)  # resamples per step: bounds the index matrix
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        if den is None:
            values[start:stop] = num[idx].mean(axis=1)
        else:
            d = den[idx].sum(axis=1)
            values[start:stop] = np.where(d > 0, num[idx].sum(axis=1) / np.where(d > 0, d, 1.0), np.nan)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    theta = estimate(data, estimator, level)
    if den is None:
        influence = num - theta
    else:
        influence = (num - theta * den) / max(float(den.mean()), 1e-12)
    alpha = (1.0 - confidence) / 2.0
    low_q, high_q = _bca_quantiles(values, theta, influence, alpha)
    return float(np.quantile(values, low_q)), float(np.quantile(values, high_q))


def _bca_quantiles(values: np.ndarray, theta: float, influence: np.ndarray, alpha: float) -> tuple[float, float]:
    """The BCa-adjusted lower and upper quantile levels; plain percentiles when undefined."""
    from scipy.stats import norm

    below = (np.sum(values < theta) + 0.5 * np.sum(values == theta)) / len(values)
    if not 0.0 < below < 1.0 or not np.isfinite(theta):
        return alpha, 1.0 - alpha
    z0 = float(norm.ppf(below))
    spread = float(np.sum(influence**2))
    accel = float(np.sum(influence**3) / (6.0 * spread**1.5)) if spread > 0 else 0.0
    levels = []
    for a in (alpha, 1.0 - alpha):
        z = z0 + float(norm.ppf(a))
        levels.append(float(norm.cdf(z0 + z / (1.0 - accel * z))))
    return levels[0], levels[1]


def not_computed(data: LoggedBandit, floor_ess: float = 0.0) -> str | None:
    """Why no estimator can value the target policy on these rows, or None when one can.

    Below ``floor_ess`` effective rows any weighted estimate is the value of a handful of rows
    (one converted row at propensity 1e-4 makes IPS 2.5 on 4,000 rows), so none is given at all.
    """
    if len(data.reward) == 0:
        return "not computed: no logged row with a valid propensity"
    if not np.any(data.target_propensity > 0):
        return "not computed: the target policy never takes an action the log contains"
    ess = data.effective_sample_size()
    if ess < floor_ess:
        return f"not computed: effective sample size {ess:.1f} < {floor_ess:g} (the weights rest on a few rows)"
    return None


def evaluate(
    data: LoggedBandit,
    n_boot: int = 200,
    confidence: float = 0.9,
    seed: int = 0,
    estimators: tuple[str, ...] = ESTIMATORS,
    min_ess: float = 0.0,
    bounds: tuple[float, float] | None = (0.0, 1.0),
    floor_ess: float = MIN_ESS_TO_ESTIMATE,
) -> dict[str, dict[str, object]]:
    """Every estimator's value and interval, each with the effective sample size and a reliability flag.

    ``bounds`` is the range of the value (a rate: [0, 1]); estimates and interval ends outside it are
    clamped and ``clamped`` says so. ``reliable`` is False when the effective sample size of the raw
    weights is below ``min_ess``: the gate then treats the estimate as no evidence. Doubly robust
    estimators are skipped without reward-model values.
    """
    out: dict[str, dict[str, object]] = {}
    reason = not_computed(data, floor_ess)
    ess = data.effective_sample_size()
    for name in estimators:
        if name in NEEDS_MODEL and (data.q_logged is None or data.q_target is None):
            continue
        base: dict[str, object] = {"effective_sample_size": ess, "n_rows": int(len(data.reward))}
        if reason:
            out[name] = {**base, "estimate": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
            out[name].update(reliable=False, status=reason)
            continue
        level = _level(data, name)
        value = estimate(data, name, level)
        low, high = bootstrap_ci(data, name, n_boot, confidence, seed, level)
        bias = shrinkage_bias(data, level) if name == "dr_os" else 0.0
        low, high = low - bias, high + bias
        clamped = False
        if bounds is not None:
            lo_b, hi_b = bounds
            clipped = [float(np.clip(v, lo_b, hi_b)) if np.isfinite(v) else v for v in (value, low, high)]
            clamped = any(a != b for a, b in zip(clipped, (value, low, high)) if np.isfinite(a))
            value, low, high = clipped
        reliable = bool(ess >= min_ess)
        status = "ok" if reliable else f"unreliable: effective sample size {ess:.1f} < {min_ess:g}"
        out[name] = {**base, "estimate": value, "ci_low": low, "ci_high": high, "reliable": reliable, "status": status}
        out[name]["clamped"] = clamped
        if level is not None:
            out[name]["clip_level" if name == "ips_clip" else "shrinkage"] = level
    return out


def on_policy_value(reward: np.ndarray, n_boot: int = 200, confidence: float = 0.9, seed: int = 0) -> dict[str, float]:
    """The logging policy's own value: the mean logged reward, with the same bootstrap interval."""
    reward = np.asarray(reward, dtype=float)
    ones = np.ones(len(reward))
    data = LoggedBandit(reward, ones, ones)
    low, high = bootstrap_ci(data, "ips", n_boot, confidence, seed)
    return {
        "estimate": float(np.mean(reward)) if len(reward) else float("nan"),
        "ci_low": low,
        "ci_high": high,
        "n_rows": int(len(reward)),
    }
