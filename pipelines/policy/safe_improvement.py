"""Safe policy improvement: personalize only where held-out data shows it beats the best fixed action."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from pipelines.policy import ope
from pipelines.policy.ope_intervals import bootstrap_ci
from pipelines.policy.propensity import check_propensities

Estimator = Literal["ips", "dr"]


@dataclass
class PolicyComparison:
    """The personalized policy against one fixed action on the same rows (paired)."""

    action: int
    value: float  # the fixed action's estimated value
    difference: float  # personalized − fixed
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class SafePolicyDecision:
    """What ``choose_safe_policy`` decided and why; ``apply`` turns it into actions for new customers."""

    personalize: bool  # personalize globally (or, with segments, in at least one segment)
    best_fixed_action: int
    best_fixed_value: float
    personalized_value: float
    difference: float  # personalized − best fixed, on the decision rows
    ci_low: float
    ci_high: float
    estimator: str
    confidence: float
    margin: float
    n_rows: int
    reason: str
    comparisons: list[PolicyComparison] = field(default_factory=list)
    # Actions the logging policy never took in these rows: valued by the model alone, so never the
    # fallback and not a comparison the personalized policy has to win.
    unlogged_actions: list[int] = field(default_factory=list)
    # segment → True where personalization is deployed (None when no segments were given).
    segments: dict[str, bool] | None = None
    segment_details: dict[str, dict[str, float]] | None = None

    @property
    def deployed(self) -> str:
        if self.segments is not None and self.personalize:
            return "personalized_in_segments"
        return "personalized" if self.personalize else "best_fixed"

    def apply(self, personalized: np.ndarray, segments: np.ndarray | None = None) -> np.ndarray:
        """The actions to deploy: the personalized choice where it was shown safe, the best fixed action elsewhere."""
        personalized = np.asarray(personalized)
        fixed = np.full(len(personalized), self.best_fixed_action, dtype=personalized.dtype)
        if self.segments is None:
            return personalized if self.personalize else fixed
        if segments is None:
            raise ValueError("this decision was made per segment: pass each row's segment")
        safe = np.isin(np.asarray(segments).astype(str), [s for s, ok in self.segments.items() if ok])
        return np.where(safe, personalized, fixed)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["deployed"] = self.deployed
        return out


def choose_safe_policy(
    personalized: np.ndarray,
    logged: np.ndarray,
    reward: np.ndarray,
    propensity: np.ndarray,
    n_actions: int,
    *,
    q_hat: np.ndarray | None = None,
    estimator: Estimator = "dr",
    segments: np.ndarray | None = None,
    n_bootstrap: int = 500,
    confidence: float = 0.9,
    margin: float = 0.0,
    min_segment_rows: int = 500,
    seed: int = 0,
) -> SafePolicyDecision:
    """Decide between a personalized policy and the best fixed action on validation data held out from training.

    Inputs are one row per logged decision of customers the model never trained on:
    ``personalized`` the action index the personalized policy picks for the row, ``logged`` the
    action index the logging policy took, ``reward`` the outcome, ``propensity`` the logging
    probability of the logged action, ``n_actions`` the number of actions (hold-out included);
    ``q_hat`` [n, n_actions] the reward model's predictions, needed for ``estimator="dr"``.

    Every fixed policy ("always action k") is valued with the same estimator (pipelines/policy/ope.py);
    the best one by point estimate is the fallback. The paired difference personalized − fixed
    is valued per row and bootstrapped over rows (same resample for both policies), giving a
    two-sided ``confidence`` interval. Personalization is deployed only if its lower bound
    exceeds ``margin`` against *every* fixed action — the best fixed one included — so picking the
    best arm on the same rows cannot make a lucky personalized policy look safe. Otherwise the
    best fixed action is deployed and ``reason`` says why.

    With ``segments`` (one label per row), the same test is run inside each segment with at least
    ``min_segment_rows`` rows: personalization is deployed in the segments where it is safe and the
    best fixed action (chosen on all rows) everywhere else. Many segments mean many tests; keep
    them few (a handful of k-means segments) or raise ``confidence``.

    Wiring into scoring: fit on validation rows at training time, store ``to_dict()`` with the
    model, and in the scoring policy replace each customer's greedy action by
    ``decision.apply(greedy_actions, segments)``.
    """
    personalized = np.asarray(personalized, dtype=np.int64)
    logged = np.asarray(logged, dtype=np.int64)
    reward = np.asarray(reward, dtype=float)
    propensity = np.asarray(propensity, dtype=float)
    n = len(reward)
    if not (len(personalized) == len(logged) == len(propensity) == n):
        raise ValueError("personalized, logged, reward and propensity must have one value per row")
    if n == 0:
        raise ValueError("no validation rows to decide on")
    if estimator == "dr" and q_hat is None:
        raise ValueError("the doubly robust estimator needs q_hat")
    check = check_propensities(propensity)
    if check.n_invalid:
        raise ValueError(
            f"every logged row needs a known propensity in (0, 1]: {check.describe()}; "
            "quarantine them first (pipelines.policy.propensity.split_valid)"
        )

    compare = _compare(
        personalized, logged, reward, propensity, n_actions, q_hat, estimator, n_bootstrap, confidence, seed
    )
    pers_value, comparisons = compare
    counts = np.bincount(logged[(logged >= 0) & (logged < n_actions)], minlength=n_actions)
    unlogged = [k for k in range(n_actions) if counts[k] == 0]
    judged = [c for c in comparisons if c.action not in unlogged]
    best = max(judged, key=lambda c: (c.value, -c.action))
    safe = all(c.ci_low > margin for c in judged)
    level = f"{confidence:.0%}"
    if safe:
        reason = (
            f"personalized {pers_value:.4f} beats the best fixed action {best.action} ({best.value:.4f}) by "
            f"{best.difference:+.4f}, lower {level} bound {best.ci_low:+.4f} > {margin:g} against every fixed action"
        )
    else:
        worst = min(judged, key=lambda c: c.ci_low)
        reason = (
            f"fell back to the best fixed action {best.action} ({best.value:.4f}): personalized {pers_value:.4f} "
            f"differs by {best.difference:+.4f} and its lower {level} bound against action {worst.action} is "
            f"{worst.ci_low:+.4f}, not above {margin:g}"
        )
    decision = SafePolicyDecision(
        personalize=safe,
        best_fixed_action=best.action,
        best_fixed_value=best.value,
        personalized_value=pers_value,
        difference=best.difference,
        ci_low=best.ci_low,
        ci_high=best.ci_high,
        estimator=estimator,
        confidence=confidence,
        margin=margin,
        n_rows=n,
        reason=reason,
        comparisons=comparisons,
        unlogged_actions=unlogged,
    )
    if unlogged:
        decision.reason += f"; never logged, so never the fallback: action(s) {', '.join(map(str, unlogged))}"
    if segments is None:
        return decision

    labels = np.asarray(segments).astype(str)
    decision.segments, decision.segment_details = {}, {}
    for label in sorted(set(labels.tolist())):
        rows = labels == label
        if rows.sum() < min_segment_rows:
            decision.segments[label] = False
            decision.segment_details[label] = {"n_rows": float(rows.sum())}
            continue
        seg_value, seg_comp = _compare(
            personalized[rows],
            logged[rows],
            reward[rows],
            propensity[rows],
            n_actions,
            None if q_hat is None else q_hat[rows],
            estimator,
            n_bootstrap,
            confidence,
            seed,
        )
        # Inside a segment the fallback is the globally best fixed action, so that is the comparison that counts.
        vs_best = next(c for c in seg_comp if c.action == best.action)
        decision.segments[label] = bool(vs_best.ci_low > margin)
        decision.segment_details[label] = {
            "n_rows": float(rows.sum()),
            "personalized_value": seg_value,
            "difference": vs_best.difference,
            "ci_low": vs_best.ci_low,
            "ci_high": vs_best.ci_high,
        }
    safe_segments = [s for s, ok in decision.segments.items() if ok]
    decision.personalize = bool(safe_segments)
    decision.reason += (
        f"; per segment, personalized in {len(safe_segments)} of {len(decision.segments)} "
        f"segment(s): {', '.join(safe_segments) or 'none'}"
    )
    return decision


def _compare(
    personalized: np.ndarray,
    logged: np.ndarray,
    reward: np.ndarray,
    propensity: np.ndarray,
    n_actions: int,
    q_hat: np.ndarray | None,
    estimator: Estimator,
    n_bootstrap: int,
    confidence: float,
    seed: int,
) -> tuple[float, list[PolicyComparison]]:
    """The personalized policy's value and its paired comparison with each fixed action."""
    pers_data = bandit(personalized, logged, reward, propensity, q_hat)
    pers_value = ope.estimate(pers_data, estimator)
    comparisons: list[PolicyComparison] = []
    for k in range(n_actions):
        fixed = np.full(len(reward), k, dtype=np.int64)
        fixed_data = bandit(fixed, logged, reward, propensity, q_hat)
        # A policy difference is itself a (signed) target policy: π_pers − π_fixed per row, so the
        # estimator's per-row terms are the paired differences and one bootstrap resamples both.
        diff = ope.LoggedBandit(
            reward,
            propensity,
            pers_data.target_propensity - fixed_data.target_propensity,
            pers_data.q_logged,
            None if q_hat is None else pers_data.q_target - fixed_data.q_target,
        )
        low, high = bootstrap_ci(diff, estimator, n_bootstrap, confidence, seed)
        comparisons.append(
            PolicyComparison(k, ope.estimate(fixed_data, estimator), ope.estimate(diff, estimator), low, high)
        )
    return pers_value, comparisons


def bandit(
    policy: np.ndarray,
    logged: np.ndarray,
    reward: np.ndarray,
    propensity: np.ndarray,
    q_hat: np.ndarray | None,
    policy_probs: np.ndarray | None = None,
) -> ope.LoggedBandit:
    """Logged rows as OPE input for a deterministic policy (action per row) or a stochastic one (``policy_probs``)."""
    rows = np.arange(len(reward))
    if policy_probs is None:
        probs_logged = (np.asarray(policy) == logged).astype(float)
    else:
        probs_logged = policy_probs[rows, logged]
    q_logged = q_target = None
    if q_hat is not None:
        q_logged = q_hat[rows, logged]
        q_target = q_hat[rows, policy] if policy_probs is None else (policy_probs * q_hat).sum(axis=1)
    return ope.LoggedBandit(
        np.asarray(reward, dtype=float), np.asarray(propensity, dtype=float), probs_logged, q_logged, q_target
    )
