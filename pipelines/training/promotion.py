"""Promotion rules as pure functions: predictions and bounds in, a decision with its reasons out.

Nothing here touches MLflow; ``release.py`` applies the decisions. Every comparison is a paired
bootstrap over the same rows (Efron & Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13),
resampling customers rather than sends because one customer's sends are not independent. AUC is
averaged over the validation blocks (a block-wise mean, so a rate shift between blocks does not
count as ranking skill); log loss is pooled over all out-of-fold rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pipelines.training.auc import RankedScores
from pipelines.training.evidence import Check

EPS = 1e-6
FIXED_ACTION = "fixed_action"


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None: Airflow's XCom is strict JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value


def _log_loss(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    p = np.clip(p, EPS, 1 - EPS)
    return float(-(w * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum() / w.sum())


@dataclass
class Bootstrap:
    """Point estimates and bootstrap replicates of block-mean AUC and pooled log loss per predictor."""

    auc: dict[str, float]
    log_loss: dict[str, float]
    auc_samples: dict[str, np.ndarray]
    log_loss_samples: dict[str, np.ndarray]
    confidence: float

    def interval(self, samples: np.ndarray) -> tuple[float, float]:
        """Two-sided percentile interval at ``confidence``; NaN replicates (one-class resamples) dropped."""
        finite = samples[np.isfinite(samples)]
        if not len(finite):
            return float("nan"), float("nan")
        tail = (1 - self.confidence) / 2 * 100
        return float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))

    def auc_difference(self, a: str, b: str) -> tuple[float, float, float]:
        """AUC(a) − AUC(b): point estimate and interval, paired on the same resamples."""
        lo, hi = self.interval(self.auc_samples[a] - self.auc_samples[b])
        return self.auc[a] - self.auc[b], lo, hi

    def log_loss_gain(self, a: str, b: str) -> tuple[float, float, float]:
        """Log loss(b) − log loss(a): how much better a's probabilities are than b's (> 0: a better)."""
        lo, hi = self.interval(self.log_loss_samples[b] - self.log_loss_samples[a])
        return self.log_loss[b] - self.log_loss[a], lo, hi


def paired_bootstrap(
    y: np.ndarray,
    predictions: dict[str, np.ndarray],
    fold: np.ndarray,
    clusters: np.ndarray,
    n_boot: int = 200,
    confidence: float = 0.9,
    seed: int = 7,
) -> Bootstrap:
    """Resample clusters (customers) with replacement ``n_boot`` times; score every predictor on each.

    All arrays have one entry per out-of-fold row. Raises ValueError on length mismatch.
    """
    y = np.asarray(y).astype(int)
    if any(len(p) != len(y) for p in predictions.values()) or len(fold) != len(y) or len(clusters) != len(y):
        raise ValueError("paired_bootstrap: every array needs one entry per row")
    _, cluster_idx = np.unique(np.asarray(clusters), return_inverse=True)
    n_clusters = int(cluster_idx.max()) + 1 if len(cluster_idx) else 0
    rng = np.random.default_rng(seed)
    ones = np.ones(len(y))
    ranked = {k: RankedScores(y, p, fold) for k, p in predictions.items()}  # sorted once, reweighted per resample
    auc = {k: r.auc() for k, r in ranked.items()}
    loss = {k: _log_loss(y, p, ones) for k, p in predictions.items()}
    auc_s = {k: np.empty(n_boot) for k in predictions}
    loss_s = {k: np.empty(n_boot) for k in predictions}
    for b in range(n_boot):
        # Each customer drawn c times weighs its rows by c: the same as copying them, at no cost.
        w = rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters))[cluster_idx].astype(float)
        for k, p in predictions.items():
            auc_s[k][b] = ranked[k].auc(w)
            loss_s[k][b] = _log_loss(y, p, w)
    return Bootstrap(auc, loss, auc_s, loss_s, confidence)


@dataclass
class Selection:
    """Which candidate becomes the challenger, the order of the rest, and why."""

    challenger: str
    eligible: list[str]  # beat the prior-rate predictor with confidence, preferred first
    evidence: dict[str, dict[str, float]]
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))


def select_challenger(
    boot: Bootstrap, candidates: list[str], preference: list[str], prior: str = "prior", min_gain: float = 0.0
) -> Selection:
    """The challenger: among candidates that beat the prior-rate predictor with confidence (the lower
    bound of their AUC gain over it, whose AUC is 0.5, above ``min_gain``), the most preferred one
    that no other eligible candidate beats on AUC with confidence. None eligible: the fixed-action
    model, so a run never leaves nothing to serve. The log-loss gain over the prior is reported.
    """
    evidence: dict[str, dict[str, float]] = {}
    reasons: list[str] = []
    eligible: list[str] = []
    for name in candidates:
        gain, lo, hi = boot.log_loss_gain(name, prior)
        auc_lo, auc_hi = boot.interval(boot.auc_samples[name])
        evidence[name] = {"auc": boot.auc[name], "auc_low": auc_lo, "auc_high": auc_hi}
        evidence[name].update({"log_loss_gain": gain, "log_loss_gain_low": lo, "log_loss_gain_high": hi})
        d, d_lo, d_hi = boot.auc_difference(name, prior)
        if d_lo > min_gain:
            eligible.append(name)
        else:
            reasons.append(
                f"{name} does not beat the prior-rate predictor with confidence "
                f"(AUC gain {d:+.4f} [{d_lo:+.4f}, {d_hi:+.4f}], needs low > {min_gain})"
            )
    beaten = {a: [b for b in eligible if b != a and boot.auc_difference(b, a)[1] > 0] for a in eligible}
    rank = {name: i for i, name in enumerate(preference)}
    order = sorted(eligible, key=lambda n: (bool(beaten[n]), rank.get(n, len(rank)), -boot.auc[n]))
    for name in order:
        if beaten[name]:
            d, lo, hi = boot.auc_difference(beaten[name][0], name)
            reasons.append(
                f"{name} is beaten by {beaten[name][0]} on AUC with confidence ({d:+.4f} [{lo:+.4f}, {hi:+.4f}])"
            )
    if not order:
        reasons.append(f"no candidate beats the prior-rate predictor with confidence: serving {FIXED_ACTION}")
        return Selection(FIXED_ACTION, [], evidence, reasons)
    chosen = order[0]
    tied = [n for n in order if not beaten[n] and n != chosen]
    reasons.append(
        f"{chosen} beats the prior-rate predictor with confidence and no candidate beats it on AUC with confidence"
        + (f" (tied within intervals: {', '.join(tied)}; preference order decides)" if tied else "")
    )
    return Selection(chosen, order, evidence, reasons)


@dataclass
class GateDecision:
    """The gate's verdict on one registered version, with every reason (promoted or not)."""

    promoted: bool
    version: str
    reasons: list[str] = field(default_factory=list)
    challenger_auc: float = float("nan")
    champion_version: str | None = None
    champion_auc: float | None = None

    def to_dict(self) -> dict[str, object]:
        return json_safe(asdict(self))


@dataclass
class GateInputs:
    """What the gate judges one challenger by; every figure is measured on rows the model never trained on."""

    version: str
    estimator: str
    auc: float
    ece: float
    group_auc_gap: float | None  # None: not computed (groups too small); reported, never a refusal
    champion_version: str | None = None
    champion_estimator: str | None = None
    # Challenger − champion AUC on rows newer than the champion's training data: (point, low, high),
    # or None when there were too few such rows to compare on.
    versus_champion: tuple[float, float, float] | None = None
    champion_auc: float | None = None
    notes: list[str] = field(default_factory=list)  # e.g. the off-policy estimate's reliability
    # Verdicts of the statistics (pipelines/training/evidence.py: fairness, off-policy value): a failed
    # check refuses promotion; every check's reason is recorded.
    checks: list[Check] = field(default_factory=list)


def gate_decision(inputs: GateInputs, *, margin: float, max_ece: float, max_group_auc_gap: float) -> GateDecision:
    """Promote unless a bound is broken or the champion is better with confidence.

    The challenger is refitted on fresher rows than any champion, so it replaces the champion unless
    the upper bound of (challenger − champion) AUC is below ``margin`` (0: unless it is credibly
    worse). The fixed-action model never replaces a champion: it serves only when there is none.
    """
    d = GateDecision(True, inputs.version, challenger_auc=inputs.auc)
    d.champion_version, d.champion_auc = inputs.champion_version, inputs.champion_auc
    if inputs.champion_version is None:
        d.reasons.append("no champion yet")
    elif inputs.estimator == FIXED_ACTION:
        d.promoted = False
        d.reasons.append(f"the fixed-action model never replaces champion v{inputs.champion_version}")
    elif inputs.versus_champion is None:
        d.reasons.append(
            f"too few rows newer than champion v{inputs.champion_version}'s training data to compare; "
            "the model refitted on fresher data replaces it"
        )
    else:
        point, lo, hi = inputs.versus_champion
        versus = f"AUC vs champion v{inputs.champion_version} {point:+.4f} [{lo:+.4f}, {hi:+.4f}]"
        if hi < margin:
            d.promoted = False
            d.reasons.append(f"{versus}: upper bound below margin {margin}")
        else:
            d.reasons.append(f"{versus}: not worse beyond the interval (margin {margin})")
    if inputs.estimator != FIXED_ACTION and inputs.ece > max_ece:
        d.promoted = False
        d.reasons.append(f"calibration error {inputs.ece:.4f} > bound {max_ece} after calibration")
    judged_fairness = any(c.name == "fairness" for c in inputs.checks)
    if inputs.group_auc_gap is None:
        if not judged_fairness:
            d.reasons.append("group AUC gap not computed (groups too small)")
    elif inputs.group_auc_gap > max_group_auc_gap:
        d.promoted = False
        d.reasons.append(f"AUC gap between protected groups {inputs.group_auc_gap:.4f} > bound {max_group_auc_gap}")
    for check in inputs.checks:
        d.promoted = d.promoted and check.passed
        d.reasons.append(check.reason)
    d.reasons.extend(inputs.notes)
    if d.promoted:
        d.reasons.append("calibration within bound and every check passed")
    return d
