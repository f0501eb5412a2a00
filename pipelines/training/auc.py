"""AUC under row weights for bootstraps: the scores are ranked once, each resample only reweights them.

A bootstrap resample (of rows or of customers) is the same as weighting each row by how often it
was drawn, and the AUC of weighted rows is the Mann–Whitney statistic
Σ w⁺ w⁻ ([s⁺ > s⁻] + ½[s⁺ = s⁻]) / (W⁺ W⁻) (Hanley & McNeil 1982), equal to scikit-learn's
``roc_auc_score(..., sample_weight=w)``. Sorting the scores is the costly part and does not depend
on the weights, so :class:`RankedScores` sorts once and :meth:`RankedScores.auc` costs O(n) per
resample instead of O(n log n) plus scikit-learn's validation per call.
"""

from __future__ import annotations

import numpy as np


class RankedScores:
    """Scores of one predictor ranked once, per block (fold), for AUCs under many weightings.

    ``y`` (0/1), ``scores`` and ``blocks`` have one entry per row; ``blocks`` None = one block.
    Raises ValueError on length mismatch.
    """

    def __init__(self, y: np.ndarray, scores: np.ndarray, blocks: np.ndarray | None = None) -> None:
        y = np.asarray(y, dtype=float)
        scores = np.asarray(scores, dtype=float)
        blocks = np.zeros(len(y), dtype=np.int64) if blocks is None else np.asarray(blocks)
        if len(scores) != len(y) or len(blocks) != len(y):
            raise ValueError("RankedScores: y, scores and blocks need one entry per row")
        self._blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for k in np.unique(blocks):
            rows = np.flatnonzero(blocks == k)
            order = rows[np.argsort(scores[rows], kind="mergesort")]
            ranked = scores[order]
            # Start of each run of tied scores: ties count one half, as in roc_auc_score.
            starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
            self._blocks.append((order, y[order], starts))

    def auc(self, weights: np.ndarray | None = None) -> float:
        """Block-size-weighted mean of each block's weighted AUC; NaN when no block has both classes.

        ``weights`` (one per row, ≥ 0; None = all 1) weigh the rows, and each block counts by its
        total weight. A block whose weighted rows hold one class only is left out, as are its weights.
        """
        total, weight = 0.0, 0.0
        for order, y, starts in self._blocks:
            w = np.ones(len(order)) if weights is None else np.asarray(weights, dtype=float)[order]
            pos = np.add.reduceat(w * y, starts) if len(starts) else np.zeros(0)
            neg = np.add.reduceat(w * (1.0 - y), starts) if len(starts) else np.zeros(0)
            n_pos, n_neg = float(pos.sum()), float(neg.sum())
            if n_pos <= 0.0 or n_neg <= 0.0:
                continue
            below = np.cumsum(neg) - neg  # negative weight strictly below each tie group
            block_auc = float((pos * (below + 0.5 * neg)).sum() / (n_pos * n_neg))
            total += float(w.sum()) * block_auc
            weight += float(w.sum())
        return total / weight if weight else float("nan")
