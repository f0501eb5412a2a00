"""`make bench SECTION=statistics`: off-policy estimators against known truth, drift false alarms and power.

OPE: synthetic contextual bandits whose expected rewards are known, logged by a uniform random policy
(as Open Bandit Pipeline's random-logging dataset) and by a low-overlap policy that rarely takes
the actions the target policy prefers; each estimator's relative error |V̂ − V| / V (mean and sd
over draws) and the share of draws whose interval covers V. Open Bandit Pipeline's published
relative errors on its random-logging Open Bandit Dataset (Saito et al. 2021) are quoted beside
them as a reference, not re-measured: the data differ.

Drift: reports over frames drawn from one distribution (the share of reports that flag anything,
per sample size) and with injected shifts (the share that flag the shifted column).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.monitoring.drift_tests import drift_tests
from pipelines.policy.ope import ESTIMATORS, LoggedBandit
from pipelines.policy.ope_intervals import evaluate

# Open Bandit Pipeline's published relative estimation errors (mean ± sd) on its random-logging
# dataset (Saito et al. 2021, "Open Bandit Dataset and Pipeline"), as quoted in issue #16: reference only.
OBP_PUBLISHED = {
    "dr": {"mean": 0.29, "sd": 0.32},
    "snips": {"mean": 0.31, "sd": 0.34},
    "dr_os": {"mean": 0.16, "sd": 0.11},
}
N_ACTIONS, N_FEATURES = 10, 5
OPE_DRAWS, OPE_ROWS, OPE_BOOT = 500, 3000, 200
DRIFT_SIZES = (30, 100, 1000, 10_000, 100_000)


def _bandit_draw(seed: int, logging: str) -> tuple[LoggedBandit, float]:
    """One logged bandit and the target policy's true value on its contexts."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(OPE_ROWS, N_FEATURES))
    theta = rng.normal(scale=0.6, size=(N_FEATURES, N_ACTIONS))
    bias = rng.normal(-2.2, 0.5, N_ACTIONS)
    # Expected reward: logistic in a nonlinear context effect, so a linear reward model is misspecified.
    p = 1.0 / (1.0 + np.exp(-(np.tanh(x) @ theta + 0.3 * (x[:, :1] ** 2) + bias)))
    noisy = p + rng.normal(scale=0.02, size=p.shape)  # the target acts on a noisy estimate, like a learned policy
    greedy = noisy.argmax(axis=1)
    target = np.full((OPE_ROWS, N_ACTIONS), 0.1 / N_ACTIONS)
    target[np.arange(OPE_ROWS), greedy] += 0.9
    if logging == "uniform":
        behaviour = np.full((OPE_ROWS, N_ACTIONS), 1.0 / N_ACTIONS)
    else:  # low overlap: a softmax that avoids what the target likes
        logits = -8.0 * noisy / noisy.std()
        behaviour = np.exp(logits - logits.max(axis=1, keepdims=True))
        behaviour /= behaviour.sum(axis=1, keepdims=True)
        behaviour = 0.98 * behaviour + 0.02 / N_ACTIONS  # every action possible, some at ~0.2%
    u = rng.random(OPE_ROWS)[:, None]
    a = (behaviour.cumsum(axis=1) < u).sum(axis=1).clip(0, N_ACTIONS - 1)
    rows = np.arange(OPE_ROWS)
    r = (rng.random(OPE_ROWS) < p[rows, a]).astype(float)
    q_hat = _linear_reward_model(x, a, r)
    data = LoggedBandit(
        reward=r,
        logging_propensity=behaviour[rows, a],
        target_propensity=target[rows, a],
        q_logged=q_hat[rows, a],
        q_target=(target * q_hat).sum(axis=1),
    )
    return data, float((target * p).sum(axis=1).mean())


def _linear_reward_model(x: np.ndarray, a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Per-action least squares on the logged rows (misspecified on purpose), clipped to [0, 1]."""
    design = np.c_[np.ones(len(x)), x]
    q = np.zeros((len(x), N_ACTIONS))
    for k in range(N_ACTIONS):
        rows = a == k
        if rows.sum() > N_FEATURES + 1:
            coef, *_ = np.linalg.lstsq(design[rows], r[rows], rcond=None)
            q[:, k] = design @ coef
        else:
            q[:, k] = r.mean()
    return q.clip(0.0, 1.0)


def ope_figures(confidence: float) -> dict[str, Any]:
    """Relative error (mean, sd) and interval coverage of every estimator, per logging policy."""
    out: dict[str, Any] = {}
    for logging in ("uniform", "low_overlap"):
        errors: dict[str, list[float]] = {k: [] for k in ESTIMATORS}
        covered: dict[str, list[bool]] = {k: [] for k in ESTIMATORS}
        not_computed: dict[str, int] = {k: 0 for k in ESTIMATORS}
        ess: list[float] = []
        for seed in range(OPE_DRAWS):
            data, truth = _bandit_draw(seed, logging)
            ess.append(data.effective_sample_size())
            for name, e in evaluate(data, OPE_BOOT, confidence, seed).items():
                if str(e["status"]).startswith("not computed"):
                    not_computed[name] += 1
                    continue
                errors[name].append(abs(float(e["estimate"]) - truth) / truth)
                covered[name].append(bool(e["ci_low"] <= truth <= e["ci_high"]))
        out[logging] = {
            name: {
                "relative_error": {"mean": float(np.mean(errors[name])), "sd": float(np.std(errors[name]))},
                "coverage": float(np.mean(covered[name])),
                "not_computed": not_computed[name],
            }
            for name in ESTIMATORS
        }
        out[logging]["effective_sample_size_median"] = float(np.median(ess))
    return out


def _drift_frame(n: int, rng: np.random.Generator, shift: str | None = None) -> pd.DataFrame:
    """Six columns of the kinds customer features have; ``shift`` moves one of them."""
    spend = rng.lognormal(3.0, 1.0, n)
    segment_p = [0.4, 0.3, 0.15, 0.1, 0.05]
    score = rng.normal(0, 1, n)
    missing = 0.05
    if shift == "spend_0.1sd":
        spend = spend + 0.1 * np.exp(3.5) * np.sqrt(np.e - 1)  # + 0.1 sd of the lognormal
    elif shift == "spend_0.5sd":
        spend = spend + 0.5 * np.exp(3.5) * np.sqrt(np.e - 1)
    elif shift == "segment_mix_10pts":
        segment_p = [0.3, 0.3, 0.15, 0.1, 0.15]
    elif shift == "missing_share_plus_10pts":
        missing = 0.15
    return pd.DataFrame(
        {
            "spend": spend,
            "count": rng.poisson(2.0, n),
            "segment": rng.choice(list("abcde"), n, p=segment_p),
            "flag": rng.random(n) < 0.2,
            "score": np.where(rng.random(n) < missing, np.nan, score),
            "tenure": rng.integers(0, 2000, n).astype(float),
        }
    )


SHIFT_COLUMN = {
    "spend_0.1sd": "spend",
    "spend_0.5sd": "spend",
    "segment_mix_10pts": "segment",
    "missing_share_plus_10pts": "score",
}


def drift_figures(cfg: HeraldConfig) -> dict[str, Any]:
    """False-alarm rate of a whole report under no change, and power on injected shifts, by sample size."""
    s = cfg.monitoring
    draws = {30: 200, 100: 200, 1000: 200, 10_000: 60, 100_000: 20}
    false_alarm: dict[str, float] = {}
    power: dict[str, dict[str, float]] = {k: {} for k in SHIFT_COLUMN}
    for n in DRIFT_SIZES:
        rng = np.random.default_rng(n)
        kw = {"alpha": s.drift_alpha, "permutations": 199, "min_effect": s.drift_min_effect, "min_rows": 30}
        alarms = 0
        for _ in range(draws[n]):
            ref, cur = _drift_frame(n, rng), _drift_frame(n, rng)
            tests, _ = drift_tests(ref, cur, list(ref.columns), **kw)
            alarms += any(t.drifted for t in tests)
        false_alarm[str(n)] = alarms / draws[n]
        print(f"drift n={n}: false alarms {alarms}/{draws[n]}", flush=True)
        for shift, column in SHIFT_COLUMN.items():
            hits, k = 0, min(draws[n], 50 if n <= 1000 else 10)
            for _ in range(k):
                ref, cur = _drift_frame(n, rng), _drift_frame(n, rng, shift)
                tests, _ = drift_tests(ref, cur, list(ref.columns), **kw)
                hits += any(t.drifted and t.column == column for t in tests)
            power[shift][str(n)] = hits / k
            print(f"drift n={n} {shift}: {hits}/{k}", flush=True)
    return {
        "false_alarm_rate": false_alarm,
        "power": power,
        "draws": {str(n): d for n, d in draws.items()},
        "alpha": s.drift_alpha,
    }


def run(cfg: HeraldConfig) -> dict[str, Any]:
    """The statistics section's JSON (DESIGN §8 keys: ope.<estimator>.relative_error.{mean,sd}, .coverage; drift.*)."""
    start = time.perf_counter()
    ope = ope_figures(cfg.policy.ope_confidence)
    ope_seconds = time.perf_counter() - start
    print(f"ope done in {ope_seconds:.0f}s: {ope}", flush=True)
    drift = drift_figures(cfg)
    return {
        "ope": {
            **{name: ope["uniform"][name] for name in ESTIMATORS},
            "low_overlap": ope["low_overlap"],
            "uniform_effective_sample_size_median": ope["uniform"]["effective_sample_size_median"],
            "obp_published_reference": OBP_PUBLISHED,
            "nominal_coverage": cfg.policy.ope_confidence,
            "draws": OPE_DRAWS,
            "rows_per_draw": OPE_ROWS,
            "actions": N_ACTIONS,
        },
        "drift": drift,
        "seconds": {"ope": round(ope_seconds, 1), "total": round(time.perf_counter() - start, 1)},
        "note": (
            "OPE: synthetic bandits with known expected rewards (10 actions, 3,000 rows, 500 draws); target = "
            "0.9-greedy on a noisy copy of the truth; reward model = per-action least squares (misspecified). "
            "Top-level ope.<estimator> = uniform logging; ope.low_overlap = a logging policy that avoids the "
            "target's actions (min propensity 0.2%). OBP figures are Saito et al. (2021)'s published relative "
            "errors on the Open Bandit Dataset (random logging), quoted for reference only. Drift: share of "
            "reports flagging anything with no change (false_alarm_rate.<n>, reference and current n rows each, "
            "6 columns; draws per size in drift.draws) and share flagging the shifted column "
            "(power.<shift>.<n>: 50 draws "
            "up to n=1,000, 10 above)."
        ),
    }
