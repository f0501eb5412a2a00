"""Group AUCs that cannot be computed are said to be so, with counts; the gate applies its rule, never a 0 gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.training.evaluate import expected_calibration_error, response_metrics
from pipelines.training.evidence import fairness_evidence
from pipelines.training.publish import model_card
from pipelines.training.review import Review, group_metrics


def _rows(n_small: int = 40) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 2000 + n_small
    gender = np.r_[np.where(rng.random(2000) < 0.5, "f", "m"), np.full(n_small, "x")]
    p = rng.random(n)
    label = (rng.random(n) < p).astype(int)
    rows = pd.DataFrame({"gender": gender, "label": label})
    rows.loc[rows.index[:5], "gender"] = None
    return rows, p


def test_small_group_is_not_computed_with_counts_and_the_gap_covers_the_rest() -> None:
    rows, p = _rows()
    per, gap = group_metrics(rows, p, ["gender"], min_class=50)
    assert per["gender"]["x"]["auc_status"].startswith("not computed:")
    assert np.isnan(per["gender"]["x"]["auc"]) and per["gender"]["x"]["n"] == 40
    assert "unknown" in per["gender"]  # missing values are a group of their own
    assert gap is not None and gap == abs(per["gender"]["f"]["auc"] - per["gender"]["m"]["auc"])
    shuffled = rows.sample(frac=1, random_state=3)
    again, gap2 = group_metrics(shuffled, p[shuffled.index.to_numpy()], ["gender"], min_class=50)
    assert gap2 == pytest.approx(gap)  # order of rows does not matter
    for group, m in per["gender"].items():
        for key, value in m.items():
            expected = value if isinstance(value, str) else pytest.approx(value, nan_ok=True)
            assert again["gender"][group][key] == expected, (group, key)


def test_no_computable_group_gives_no_gap_and_the_rule_decides() -> None:
    rows = pd.DataFrame({"gender": ["f"] * 30 + ["m"] * 30, "label": [0] * 59 + [1]})
    per, gap = group_metrics(rows, np.linspace(0, 1, 60), ["gender"])
    assert gap is None
    review = Review(per, gap)
    waived = fairness_evidence(review, 0.15, "waive")
    assert waived.passed and "fairness.waiver" in waived.tags and "gender=f" in waived.tags["fairness.waiver"]
    blocked = fairness_evidence(review, 0.15, "block")
    assert not blocked.passed and "not computed" in blocked.reason
    card = model_card(
        name="m",
        version="1",
        estimator="e",
        window={},
        schema={},
        excluded=[],
        metrics={},
        champion=None,
        review=review,
        validation="passed",
    )
    assert "Largest AUC gap between groups: not computed" in card and "gap between groups: 0.0000" not in card


def test_a_gap_over_the_bound_blocks() -> None:
    review = Review(
        {"g": {"a": {"auc": 0.9, "n": 100, "positives": 50}, "b": {"auc": 0.6, "n": 100, "positives": 50}}}, 0.3
    )
    assert not fairness_evidence(review, 0.15).passed


def test_calibration_and_metrics_on_degenerate_inputs() -> None:
    y = np.array([0, 0, 0, 0])
    m = response_metrics(y, np.full(4, 0.1))
    assert np.isnan(m["auc"]) and np.isnan(m["pr_auc"])  # one class: not a number, never 0.5 or 1
    assert expected_calibration_error(np.zeros(0), np.zeros(0)) == 0.0
    p = np.array([0.2, 0.2, 0.2, 0.2, 0.8, 0.8])
    yy = np.array([0, 1, 0, 0, 1, 1])
    perm = np.array([5, 3, 1, 0, 2, 4])
    assert expected_calibration_error(yy, p) == expected_calibration_error(yy[perm], p[perm])
