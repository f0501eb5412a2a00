"""Off-policy values with their uncertainty: BCa bootstrap intervals, reliability and every estimator's report.

Every estimate comes with the effective sample size of its weights and is marked unreliable below a
configured size; values of a rate are clamped to [0, 1]; an estimate the data cannot support (no
logged row, or a target that never takes a logged action) is reported as "not computed: <reason>".
The estimators themselves are in ``pipelines/policy/ope.py``.
"""

from __future__ import annotations

import numpy as np

from pipelines.policy.ope import (
    ESTIMATORS,
    MIN_ESS_TO_ESTIMATE,
    NEEDS_MODEL,
    LoggedBandit,
    estimate,
    estimator_level,
    estimator_terms,
    shrinkage_bias,
    truncation_bias,
)


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
    level = estimator_level(data, estimator) if level is None else level
    num, den = estimator_terms(data, estimator, level)
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
        level = estimator_level(data, name)
        value = estimate(data, name, level)
        low, high = bootstrap_ci(data, name, n_boot, confidence, seed, level)
        if name == "dr_os":  # shrinking biases either way: widen both ends by the bias bound
            bias = shrinkage_bias(data, level)
            low, high = low - bias, high + bias
        elif name == "ips_clip":  # truncation only lowers the estimate: the truth may lie above
            high += truncation_bias(data, level)
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
