"""The bootstrap AUC (rank once, reweight per resample) against scikit-learn's weighted AUC."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pipelines.training.auc import RankedScores


def _data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    scores = np.round(rng.random(n) + 0.3 * y, 1)  # rounded: many tied scores
    blocks = rng.integers(0, 3, n)
    return y, scores, blocks


def test_equals_sklearn_with_ties_and_resampling_weights() -> None:
    y, scores, _ = _data()
    ranked = RankedScores(y, scores)
    assert ranked.auc() == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(5):
        idx = rng.integers(0, len(y), len(y))
        drawn = np.bincount(idx, minlength=len(y)).astype(float)
        assert ranked.auc(drawn) == pytest.approx(roc_auc_score(y[idx], scores[idx]), abs=1e-12)


def test_blocks_are_weighted_by_their_size_and_one_class_blocks_are_left_out() -> None:
    y, scores, blocks = _data()
    w = np.random.default_rng(2).integers(0, 3, len(y)).astype(float)
    expected, total = 0.0, 0.0
    for k in np.unique(blocks):
        m = (blocks == k) & (w > 0)
        expected += w[m].sum() * roc_auc_score(y[m], scores[m], sample_weight=w[m])
        total += w[m].sum()
    assert RankedScores(y, scores, blocks).auc(w) == pytest.approx(expected / total, abs=1e-12)
    only_negatives = np.where(blocks == 0, 0, y)  # block 0 holds one class: it counts for nothing
    sizes = {k: int((blocks == k).sum()) for k in (1, 2)}
    aucs = {k: roc_auc_score(y[blocks == k], scores[blocks == k]) for k in (1, 2)}
    expected = sum(sizes[k] * aucs[k] for k in (1, 2)) / sum(sizes.values())
    assert RankedScores(only_negatives, scores, blocks).auc() == pytest.approx(expected, abs=1e-12)


def test_one_class_or_mismatched_lengths() -> None:
    assert np.isnan(RankedScores(np.zeros(5), np.arange(5.0)).auc())
    with pytest.raises(ValueError, match="one entry per row"):
        RankedScores(np.zeros(5), np.arange(4.0))
