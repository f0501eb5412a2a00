"""Rolling-origin validation, refit on all labelled rows and out-of-fold calibration (no MLflow here).

The protocol (Hyndman & Athanasopoulos, "Forecasting: principles and practice", §5.10, time-series
cross-validation): the labelled window is cut by send time into a warm-up block and ``n_folds``
validation blocks. Fold k trains on every row before block k (its newest slice steering early
stopping) and predicts block k, which it never saw. The out-of-fold predictions of all folds are
the evidence for model choice and calibration; the served model is then refitted on every labelled
row with the iteration count the folds chose, and calibrated on the out-of-fold predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.calibration import BlendResponse, CalibratedResponse, Calibrator, stacking_weights
from pipelines.errors import HeraldError

# (training rows, iteration count or None = choose by early stopping) -> an unfitted estimator.
EstimatorFactory = Callable[[pd.DataFrame, "int | None"], Any]


class ProtocolError(HeraldError):
    """The labelled window cannot support the configured folds (too few rows or one class only)."""


def time_folds(sent_at: pd.Series, n_folds: int, fold_share: float) -> np.ndarray:
    """Fold index per row: 0 = warm-up block (training only), 1..n_folds = validation blocks by time.

    Each validation block holds about ``fold_share`` of the rows, the newest block last; sends at
    the same instant stay in one block, so when few distinct instants make two blocks start at the
    same one, the later block starts at the next instant instead (no block is ever empty). Raises
    ProtocolError when the blocks leave no warm-up, or the sends have too few distinct instants.
    """
    if n_folds < 1 or not 0 < fold_share or n_folds * fold_share >= 1:
        raise ProtocolError(
            f"{n_folds} folds of {fold_share:.0%} leave no warm-up rows; "
            "set HERALD_CV_FOLDS x HERALD_CV_FOLD_SHARE below 1"
        )
    ts = pd.to_datetime(sent_at, utc=True).astype("datetime64[ns, UTC]").astype("int64").to_numpy()
    instants = np.unique(ts)
    starts: list[int] = []  # index into instants of each block's first instant
    for j in range(n_folds):
        first = int(np.searchsorted(instants, np.quantile(ts, 1 - (n_folds - j) * fold_share)))
        starts.append(max(first, starts[-1] + 1) if starts else first)
    if starts[0] < 1 or starts[-1] >= len(instants):
        raise ProtocolError(
            f"the {len(ts):,} labelled sends fall on {len(instants)} distinct send times; a warm-up block and "
            f"{n_folds} validation blocks need at least {n_folds + 1}: lower HERALD_CV_FOLDS, or import the "
            "sends' real times"
        )
    return np.searchsorted(instants[starts], ts, side="right").astype(np.int64)


def split_names(fold: np.ndarray, n_folds: int) -> np.ndarray:
    """The newest block is "test", the one before "valid", the rest "train" (what reports call them)."""
    return np.where(fold == n_folds, "test", np.where(fold == n_folds - 1, "valid", "train"))


def stopping_slice(rows: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit rows, early-stopping rows): the newest ``share`` of ``rows`` by send time stops training."""
    ts = pd.to_datetime(rows["sent_at"], utc=True)
    newest = (ts >= ts.quantile(1 - share)).to_numpy()
    if newest.all() or not newest.any():
        return rows, rows.iloc[0:0]
    return rows[~newest], rows[newest]


@dataclass
class CrossValidation:
    """Out-of-fold scores (raw, uncalibrated) with their fold, and what each fold's fit chose."""

    scores: np.ndarray  # [n rows], NaN on warm-up rows
    fold: np.ndarray  # [n rows]
    best_iterations: list[int | None]
    last_estimator: Any  # the newest fold's fit: reviewed on the newest block, which it never saw

    def refit_iterations(self) -> int | None:
        """Median of the folds' early-stopping choices (None when the model does not stop early)."""
        chosen = [i for i in self.best_iterations if i is not None]
        return int(np.median(chosen)) if chosen else None


def cross_validate(
    make: EstimatorFactory, rows: pd.DataFrame, fold: np.ndarray, early_stopping: bool, stop_share: float
) -> CrossValidation:
    """Fit one model per fold on the rows before its block and score the block.

    ``early_stopping``: the fold's newest ``stop_share`` of training rows steers the stopping
    (never the block it is scored on, whose figures would then flatter it).
    """
    scores = np.full(len(rows), np.nan)
    chosen: list[int | None] = []
    estimator: Any = None
    for k in range(1, int(fold.max()) + 1):
        train, block = rows[fold < k], rows[fold == k]
        if train["label"].nunique() < 2:
            raise ProtocolError(f"fold {k}: the {len(train)} training rows hold one class only; lower HERALD_CV_FOLDS")
        fit_rows, stop_rows = stopping_slice(train, stop_share) if early_stopping else (train, None)
        estimator = make(fit_rows, None).fit(fit_rows, stop_rows)
        chosen.append(getattr(estimator, "best_iterations", None))
        scores[fold == k] = estimator.predict_proba(block)
    return CrossValidation(scores, fold, chosen, estimator)


def refit(make: EstimatorFactory, rows: pd.DataFrame, iterations: int | None) -> Any:
    """The served model: fitted on every labelled row, for the folds' iteration count (no stopping slice)."""
    return make(rows, iterations).fit(rows, None)


def cross_fitted_blocks(fold: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(block, others) row masks for each validation block: fit on ``others``, apply to ``block``.

    With one validation block there is nothing else to fit on, and ``others`` is the block itself.
    """
    blocks = [k for k in np.unique(fold) if k > 0]
    for k in blocks:
        yield fold == k, ((fold > 0) & (fold != k) if len(blocks) > 1 else fold == k)


def cross_fitted_calibration(scores: np.ndarray, y: np.ndarray, fold: np.ndarray, method: str) -> np.ndarray:
    """Calibrated out-of-fold probabilities: each block through a calibrator fitted on the other blocks.

    So calibration quality (ECE, log loss) is measured on rows the calibrator never saw. With one
    validation block there is nothing else to fit on and the block is calibrated in-sample.
    """
    out = np.full(len(scores), np.nan)
    for block, others in cross_fitted_blocks(fold):
        out[block] = fit_calibrator(scores[others], y[others], method).transform(scores[block])
    return out


def cross_fitted_blend(raws: list[np.ndarray], y: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Out-of-fold blend scores: each block's members combined with weights stacked on the other blocks.

    ``raws`` are the members' out-of-fold probabilities (each (n,), NaN on warm-up rows), ``y`` and
    ``fold`` the rows' labels and blocks. As in :func:`cross_fitted_calibration`, the weights that
    score a block never saw its labels, so the blend's evidence is no more flattering than its members'.
    """
    out = np.full(len(y), np.nan)
    for block, others in cross_fitted_blocks(fold):
        weights = stacking_weights([r[others] for r in raws], y[others])
        out[block] = BlendResponse.combine([r[block] for r in raws], weights)
    return out


def fit_calibrator(scores: np.ndarray, y: np.ndarray, method: str) -> Calibrator:
    """A calibrator on out-of-fold scores; ProtocolError when those rows hold one class only."""
    try:
        return Calibrator(method).fit(scores, y)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ProtocolError(f"{exc}; widen HERALD_CV_FOLD_SHARE or the label window") from None


@dataclass
class ProtocolResult:
    """What one model's run through the protocol leaves: served and reviewed models, evidence."""

    served: CalibratedResponse  # refitted on all rows, calibrated on all out-of-fold scores
    reviewed: CalibratedResponse  # newest fold's fit, calibrated without the newest block's scores
    cv: CrossValidation
    calibrated: np.ndarray  # cross-fitted calibrated out-of-fold probabilities, NaN on warm-up rows
    iterations: int | None


def run_protocol(
    make: EstimatorFactory,
    rows: pd.DataFrame,
    fold: np.ndarray,
    *,
    early_stopping: bool,
    stop_share: float,
    calibration: str,
) -> ProtocolResult:
    """Rolling-origin folds, refit on all rows, out-of-fold calibration: the whole protocol for one model."""
    y = rows["label"].to_numpy().astype(int)
    cv = cross_validate(make, rows, fold, early_stopping, stop_share)
    evaluated = fold > 0
    calibrator = fit_calibrator(cv.scores[evaluated], y[evaluated], calibration)
    newest = int(fold.max())
    earlier = evaluated & (fold < newest)
    review_calibrator = (
        fit_calibrator(cv.scores[earlier], y[earlier], calibration)
        if earlier.any() and len(np.unique(y[earlier])) == 2
        else calibrator
    )
    iterations = cv.refit_iterations()
    served = CalibratedResponse(refit(make, rows, iterations), calibrator)
    calibrated = cross_fitted_calibration(cv.scores, y, fold, calibration)
    return ProtocolResult(served, CalibratedResponse(cv.last_estimator, review_calibrator), cv, calibrated, iterations)
