"""The training protocol: folds by time, no fold trains on its block or later, refit, calibration out of fold."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from pipelines.training import protocol
from pipelines.training.evaluate import expected_calibration_error
from pipelines.training.protocol import (
    ProtocolError,
    cross_fitted_blend,
    cross_fitted_calibration,
    cross_validate,
    run_protocol,
    split_names,
    stopping_slice,
    time_folds,
)


def _rows(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    sent = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 60, n)), unit="D")
    return pd.DataFrame(
        {
            "customer_id": rng.integers(0, n // 3, n).astype(str),
            "sent_at": sent,
            "x": x,
            "label": (rng.random(n) < 1 / (1 + np.exp(-(1.5 * x - 2.5)))).astype(int),
        }
    )


@dataclass
class Recorder:
    """A stand-in model that remembers what it was fitted on and predicts a squashed, overconfident x."""

    iterations: int | None
    fitted_until: pd.Timestamp | None = None
    stop_from: pd.Timestamp | None = None
    n_fit: int = 0
    best_iterations: int | None = None
    log: list = field(default_factory=list)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None) -> Recorder:
        self.fitted_until, self.n_fit = train["sent_at"].max(), len(train)
        self.stop_from = None if valid is None or not len(valid) else valid["sent_at"].min()
        self.best_iterations = None if self.stop_from is None else 10 + self.n_fit // 1000
        return self

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        return 1 / (1 + np.exp(-(4 * rows["x"].to_numpy() - 3)))  # ranks well, probabilities too extreme

    def input_schema(self) -> dict[str, str]:
        return {"x": "double"}


def test_folds_follow_send_time_and_keep_a_warm_up_block() -> None:
    rows = _rows()
    fold = time_folds(rows["sent_at"], 3, 0.2)
    assert list(np.unique(fold)) == [0, 1, 2, 3]
    assert (np.diff(fold) >= 0).all()  # rows are sorted by time, so folds never go back
    shares = pd.Series(fold).value_counts(normalize=True).sort_index()
    assert shares[0] == pytest.approx(0.4, abs=0.01) and shares[3] == pytest.approx(0.2, abs=0.01)
    assert list(split_names(fold, 3)[[0, -1]]) == ["train", "test"]
    tied = pd.Series([pd.Timestamp("2026-01-01", tz="UTC")] * 5 + [pd.Timestamp("2026-02-01", tz="UTC")] * 5)
    assert len(set(time_folds(tied, 1, 0.3)[:5])) == 1  # sends at the same instant stay together
    with pytest.raises(ProtocolError, match="HERALD_CV_FOLDS"):
        time_folds(rows["sent_at"], 5, 0.2)


def test_few_send_times_never_leave_a_fold_empty() -> None:
    # Imported experiments (Gerber) spread sends over a few days: two blocks' quantiles can fall on one day.
    days = pd.to_datetime(["2006-07-24", "2006-07-25", "2006-07-26", "2006-07-27", "2006-07-28"], utc=True)
    sent_at = pd.Series(np.repeat(days, [35, 40, 5, 10, 10]))
    fold = time_folds(sent_at, 3, 0.2)
    assert list(np.unique(fold)) == [0, 1, 2, 3]  # the second block moved to the next day instead of vanishing
    assert all(len(set(fold[(sent_at == day).to_numpy()])) == 1 for day in days)
    with pytest.raises(ProtocolError, match="3 distinct send times.*lower HERALD_CV_FOLDS"):
        time_folds(pd.Series(np.repeat(days[:3], 10)), 3, 0.2)


def test_each_fold_trains_only_on_rows_before_its_block_and_stops_on_its_newest_slice() -> None:
    rows = _rows()
    fold = time_folds(rows["sent_at"], 3, 0.2)
    fits: list[Recorder] = []

    def make(train: pd.DataFrame, n: int | None) -> Recorder:
        fits.append(Recorder(n))
        return fits[-1]

    cv = cross_validate(make, rows, fold, early_stopping=True, stop_share=0.15)
    assert len(fits) == 3
    for k, fitted in enumerate(fits, start=1):
        block_start = rows.loc[fold == k, "sent_at"].min()
        assert fitted.fitted_until < fitted.stop_from < block_start
    assert np.isnan(cv.scores[fold == 0]).all() and np.isfinite(cv.scores[fold > 0]).all()
    assert cv.refit_iterations() == int(np.median([f.best_iterations for f in fits]))
    fit_rows, stop_rows = stopping_slice(rows, 0.15)
    assert fit_rows["sent_at"].max() < stop_rows["sent_at"].min()


def test_the_served_model_is_refitted_on_every_row_for_the_folds_iterations_and_calibrated() -> None:
    rows = _rows()
    fold = time_folds(rows["sent_at"], 3, 0.2)
    made: list[Recorder] = []

    def make(train: pd.DataFrame, n: int | None) -> Recorder:
        made.append(Recorder(n))
        return made[-1]

    result = run_protocol(make, rows, fold, early_stopping=True, stop_share=0.15, calibration="platt")
    served = made[-1]
    assert result.served.base is served and served.n_fit == len(rows) and served.stop_from is None
    assert served.iterations == result.iterations == result.cv.refit_iterations()
    assert result.reviewed.base is made[-2]  # the newest fold's fit, which never saw the newest block
    y, raw = rows["label"].to_numpy(), made[0].predict_proba(rows)
    evaluated = fold > 0
    before = expected_calibration_error(y[evaluated], raw[evaluated])
    after = expected_calibration_error(y[evaluated], result.calibrated[evaluated])
    assert after < before / 2, (before, after)
    served_p = result.served.predict_proba(rows)
    assert pd.Series(served_p).corr(pd.Series(raw), method="spearman") > 0.999  # monotone: ranking kept


def test_cross_fitted_calibration_never_calibrates_a_block_with_its_own_labels(monkeypatch) -> None:
    rows = _rows()
    fold = time_folds(rows["sent_at"], 3, 0.2)
    scores = Recorder(None).predict_proba(rows)
    seen: list[int] = []
    real = protocol.fit_calibrator

    def spy(s: np.ndarray, y: np.ndarray, method: str):
        seen.append(len(s))
        return real(s, y, method)

    monkeypatch.setattr(protocol, "fit_calibrator", spy)
    out = cross_fitted_calibration(scores, rows["label"].to_numpy(), fold, "platt")
    sizes = {k: int((fold == k).sum()) for k in (1, 2, 3)}
    assert seen == [sum(v for j, v in sizes.items() if j != k) for k in (1, 2, 3)]
    assert np.isnan(out[fold == 0]).all() and ((out[fold > 0] > 0) & (out[fold > 0] < 1)).all()


def test_a_fold_with_one_class_only_is_a_clear_error() -> None:
    rows = _rows().assign(label=0)
    rows.loc[rows.index[-5:], "label"] = 1  # responders only in the newest block
    fold = time_folds(rows["sent_at"], 3, 0.2)
    with pytest.raises(ProtocolError, match="one class"):
        cross_validate(lambda r, n: Recorder(n), rows, fold, early_stopping=False, stop_share=0.15)


def test_cross_fitted_blend_never_weighs_a_block_by_its_own_labels() -> None:
    """Member A knows the labels only in block 1, member B everywhere else: block 1 gets B's weights."""
    rng = np.random.default_rng(3)
    n = 6000
    fold = np.repeat([0, 1, 2, 3], n // 4)
    y = (rng.random(n) < 0.3).astype(int)
    knows = np.where(y == 1, 0.6, 0.2) + rng.uniform(-0.05, 0.05, n)
    guess = rng.uniform(0.1, 0.5, n)
    a, b = np.where(fold == 1, knows, guess), np.where(fold == 1, guess, knows)
    a[fold == 0] = b[fold == 0] = np.nan  # warm-up rows are never scored
    out = cross_fitted_blend([a, b], y, fold)
    assert np.isnan(out[fold == 0]).all() and np.isfinite(out[fold > 0]).all()
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y[fold == 1], out[fold == 1]) < 0.6  # weighted toward B, which guesses there
    assert roc_auc_score(y[fold == 2], out[fold == 2]) > 0.95
