"""Promotion evidence from the statistics: pure functions the gate applies (figures in, verdict with reason out).

The gate (``registry.gate_challenger``) refuses a challenger when any check fails, writes every
check's reason into its decision and sets each check's tags on the model version (e.g. a fairness
waiver). A figure the data could not support is never read as a pass: it is "no evidence", and
the configured rule says what that means.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass
class Check:
    """One promotion rule's verdict: whether it lets the challenger through, why, and tags for the version."""

    name: str
    passed: bool
    reason: str
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def policy_evidence(policy_value: dict[str, Any], block_when_worse: bool = True) -> Check:
    """The off-policy improvement over the logging policy as gate evidence.

    ``policy_value`` is :func:`pipelines.policy.replay.evaluate_policy_offline`'s result. An
    estimate that is not computed or unreliable (effective sample size below the configured minimum)
    is no evidence either way: the check passes and says so. A reliable estimate blocks promotion
    only when the whole interval of the improvement lies below zero and ``block_when_worse``.
    """
    imp = policy_value.get("improvement", {})
    status = str(imp.get("status", "not computed: no off-policy estimate"))
    ess, n = policy_value.get("effective_sample_size", 0.0), policy_value.get("n_rows", 0)
    tags = {"ope.status": status[:250], "ope.effective_sample_size": f"{ess:.1f}"}
    if status != "ok":
        return Check("policy_value", True, f"off-policy value is no evidence ({status}; {n} rows)", tags)
    low, high = float(imp["ci_low"]), float(imp["ci_high"])
    interval = f"{imp['estimate']:+.4f} [{low:+.4f}, {high:+.4f}] ({imp.get('estimator', '?')}, ESS {ess:.0f})"
    if high < 0 and block_when_worse:
        return Check("policy_value", False, f"policy shown worse than the logging policy: {interval}", tags)
    return Check("policy_value", True, f"policy improvement over logging {interval}", tags)


def fairness_evidence(review: Any, max_gap: float, not_computed_rule: Literal["block", "waive"] = "waive") -> Check:
    """The largest group AUC gap as gate evidence; groups whose AUC cannot be computed go by the rule.

    ``review`` is a :class:`pipelines.training.review.Review`. A gap over ``max_gap`` blocks. When a
    group's AUC could not be computed (too few rows of a class) the gap covers fewer groups than
    exist, so it is never reported as within bounds: "block" refuses promotion, "waive" passes this
    check and records the waiver (which groups, their counts) as the version tag ``fairness.waiver``.
    """
    gap = review.max_group_auc_gap
    missing = list(review.auc_not_computed)
    parts = []
    if gap is None:
        parts.append("group AUC gap not computed")
    else:
        parts.append(f"group AUC gap {gap:.4f}")
    if gap is not None and gap > max_gap:
        return Check("fairness", False, f"AUC gap between protected groups {gap:.4f} > bound {max_gap}")
    if not missing:
        return Check("fairness", True, f"{parts[0]} within bound {max_gap}")
    listed = "; ".join(missing)
    if not_computed_rule == "block":
        return Check("fairness", False, f"{parts[0]}; AUC not computed for {listed} (rule: block)")
    waiver = f"waived (promotion_fairness_not_computed=waive): AUC not computed for {listed}"
    return Check("fairness", True, f"{parts[0]} over the groups it covers; {waiver}", {"fairness.waiver": waiver[:250]})
