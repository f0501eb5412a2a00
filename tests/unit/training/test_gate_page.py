"""The reviewer's gate page: decision, intervals, off-policy verdict with ESS, fairness gaps, shared aliases."""

from __future__ import annotations

import numpy as np

from pipelines.training.gate_page import alias_note, auc_comparison, render_gate_page


def _page(improvement: dict, aliases: dict) -> tuple[str, dict]:
    return render_gate_page(
        {
            "promoted": True,
            "version": "2",
            "reasons": ["beats champion and baselines"],
            "challenger_auc": 0.7,
            "champion_version": "1",
            "champion_auc": 0.68,
            "paired_auc_gap": 0.01,
        },
        model={"name": "herald-response", "version": "2", "estimator": "deep"},
        comparison={
            "deep v2 (challenger)": {"auc": 0.7, "auc_low": 0.68, "auc_high": 0.72},
            "champion v1": {
                "auc": 0.68,
                "auc_low": 0.66,
                "auc_high": 0.7,
                "diff": 0.02,
                "diff_low": 0.005,
                "diff_high": 0.035,
            },
        },
        policy_value={
            "n_rows": 1000,
            "effective_sample_size": 40.0,
            "confidence": 0.9,
            "policy": {"dr": {"estimate": 0.031, "ci_low": 0.02, "ci_high": 0.04}},
            "logging": {"estimate": 0.047, "ci_low": 0.04, "ci_high": 0.05},
            "improvement_dr": improvement,
        },
        review={
            "group_metrics": {
                "gender": {
                    "F": {"n": 500, "auc": 0.7, "mean_prediction": 0.05, "response_rate": 0.05},
                    "M": {"n": 20, "auc": float("nan"), "mean_prediction": 0.04, "response_rate": 0.03},
                }
            },
            "max_group_auc_gap": 0.0,
        },
        protected=["gender", "age_band"],
        aliases=aliases,
        bounds={"margin": 0.002, "max_ece": 0.02, "max_group_auc_gap": 0.05},
    )


def test_page_says_plainly_when_the_promoted_policy_is_worse_than_logging() -> None:
    page, tags = _page({"estimate": -0.016, "ci_low": -0.043, "ci_high": 0.031}, {"champion": "2"})
    assert page.startswith("# Gate: herald-response v2 (deep) — PROMOTED to champion")
    assert "beats champion and baselines" in page and "paired_auc_gap = 0.0100" in page
    assert "**below** the logging policy" in page
    assert "Effective sample size 40 of 1,000 rows (4.0%): few rows carry the estimate" in page
    assert "0.0200 [0.0050, 0.0350]" in page  # challenger − champion with its interval
    assert "age_band: not in the test rows" in page and "AUC of gender = M: too few" in page
    assert "Largest AUC gap between groups: **not computed**" in page
    assert tags["gate.decision"] == "promoted" and tags["ope.effective_sample_size"] == "40 of 1000"
    worse, _ = _page({"estimate": -0.03, "ci_low": -0.05, "ci_high": -0.01}, {"champion": "2"})
    assert "estimated **worse** than the logging policy" in worse


def test_two_aliases_on_one_version_are_explained() -> None:
    assert alias_note({"champion": "3", "challenger": "4"}) == ""
    note = alias_note({"champion": "3", "challenger": "3"})
    assert "`challenger` and `champion` both point at v3" in note and "became champion" in note
    page, _ = _page({"estimate": 0.01, "ci_low": 0.001, "ci_high": 0.02}, {"champion": "2", "challenger": "2"})
    assert "both point at v2" in page


def test_auc_comparison_intervals_are_paired_and_cover_the_difference() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.2).astype(int)
    good = np.clip(0.2 + 0.3 * y + rng.normal(0, 0.2, 3000), 0, 1)
    weak = np.clip(0.2 + 0.1 * y + rng.normal(0, 0.2, 3000), 0, 1)
    out = auc_comparison(y, {"good": good, "weak": weak}, n_boot=100)
    assert out["good"]["auc_low"] < out["good"]["auc"] < out["good"]["auc_high"]
    assert out["weak"]["diff"] > 0 and out["weak"]["diff_low"] > 0  # clearly better beyond noise
    assert "diff" not in out["good"]
