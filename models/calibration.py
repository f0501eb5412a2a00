"""Post-hoc calibration and blending of response models, picklable so they travel inside the pyfunc."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

EPS = 1e-6
# Below this many positives isotonic regression overfits its steps; Platt's two parameters do not
# (Niculescu-Mizil & Caruana, "Predicting good probabilities with supervised learning", ICML 2005).
ISOTONIC_MIN_POSITIVES = 1000


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    """Maps a model's scores to probabilities: Platt scaling (a logistic fit on the score's logit;
    Platt 1999) or isotonic regression (Zadrozny & Elkan 2002), fitted on out-of-fold predictions.

    ``method="auto"`` takes isotonic from ``ISOTONIC_MIN_POSITIVES`` positives up, Platt below.
    """

    method: Literal["auto", "platt", "isotonic"] = "auto"
    chosen: str = ""
    model: Any = None

    def fit(self, scores: np.ndarray, y: np.ndarray) -> Calibrator:
        """Fit on scores in [0, 1] and 0/1 labels of rows the scoring model never trained on.

        Raises ValueError when the labels hold one class only (nothing to calibrate against).
        """
        y = np.asarray(y).astype(int)
        if len(np.unique(y)) < 2:
            raise ValueError("calibration needs both responders and non-responders among out-of-fold rows")
        method = self.method
        if method == "auto":
            method = "isotonic" if int(y.sum()) >= ISOTONIC_MIN_POSITIVES else "platt"
        self.chosen = method
        if method == "isotonic":
            self.model = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip").fit(scores, y)
        else:
            # Nearly unregularised: two parameters need no shrinkage, and C=1 would pull the slope to 0.
            self.model = LogisticRegression(C=1e4, max_iter=1000).fit(_logit(scores).reshape(-1, 1), y)
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, one per score."""
        if self.model is None:
            raise ValueError("Calibrator.fit() first")
        if self.chosen == "isotonic":
            return np.asarray(self.model.predict(np.asarray(scores, dtype=np.float64)), dtype=np.float64)
        return self.model.predict_proba(_logit(scores).reshape(-1, 1))[:, 1]


@dataclass
class CalibratedResponse:
    """A fitted response model whose scores pass through a calibrator: what gets registered.

    Everything else (input schema, preprocessor, embeddings, attributions) is the inner model's, so
    scoring, segments and monitoring treat it as the model it wraps.
    """

    base: Any
    calibrator: Calibrator

    @property
    def name(self) -> str:
        return str(self.base.name)

    def input_schema(self) -> dict[str, str]:
        return self.base.input_schema()

    def raw_proba(self, rows: pd.DataFrame) -> np.ndarray:
        """The inner model's uncalibrated scores."""
        return np.asarray(self.base.predict_proba(rows), dtype=np.float64)

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        """Calibrated P(response) per row."""
        if not len(rows):
            return np.zeros(0, dtype=np.float64)
        return self.calibrator.transform(self.raw_proba(rows))

    def __getattr__(self, item: str) -> Any:
        # Only reached for attributes the wrapper lacks; never during unpickling (no "base" yet).
        if item.startswith("__") or "base" not in self.__dict__:
            raise AttributeError(item)
        return getattr(self.__dict__["base"], item)


@dataclass
class BlendResponse:
    """Weighted mean of its members' logits (e.g. deep, LightGBM, logreg), served as one model.

    The first member speaks for the blend where one representation is needed (embeddings,
    attributions): put the deep model first. ``weights`` come from :func:`stacking_weights` on
    out-of-fold scores (equal when none are given), so a member that adds nothing weighs nothing.
    """

    members: list[Any]
    weights: list[float] = field(default_factory=list)
    name: str = "blend"

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("a blend needs at least one member")
        if not self.weights:
            self.weights = [1.0 / len(self.members)] * len(self.members)

    def input_schema(self) -> dict[str, str]:
        """Every member's inputs together."""
        schema: dict[str, str] = {}
        for member in self.members:
            schema.update(member.input_schema())
        return schema

    @staticmethod
    def combine(predictions: list[np.ndarray], weights: list[float]) -> np.ndarray:
        """Weighted mean of logits, back to a probability."""
        z = sum(w * _logit(p) for w, p in zip(weights, predictions, strict=True)) / sum(weights)
        return 1.0 / (1.0 + np.exp(-z))

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        """The blended score per row (calibrate it with CalibratedResponse)."""
        return self.combine([np.asarray(m.predict_proba(rows), dtype=np.float64) for m in self.members], self.weights)

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__") or "members" not in self.__dict__:
            raise AttributeError(item)
        return getattr(self.__dict__["members"][0], item)


def stacking_weights(predictions: list[np.ndarray], y: np.ndarray) -> list[float]:
    """Non-negative weights for :class:`BlendResponse` from the members' out-of-fold probabilities.

    A logistic regression of ``y`` (n,) on the members' logits (each (n,)) with coefficients held
    at zero or above, the coefficients scaled to sum to one: stacked generalisation with the
    non-negativity that keeps the blend a blend (Wolpert 1992; Breiman, "Stacked regressions",
    Machine Learning 1996; LeBlanc & Tibshirani 1996). Where it has nothing to learn from (one
    class only, or no coefficient above zero) the weights are equal. Raises ValueError on
    mismatched lengths.
    """
    x = np.column_stack([_logit(p) for p in predictions])
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] != len(y):
        raise ValueError(f"{x.shape[0]} out-of-fold scores for {len(y)} labels")
    equal = [1.0 / x.shape[1]] * x.shape[1]
    if len(np.unique(y)) < 2:
        return equal

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:-1] + theta[-1]
        # log(1 + e^z) - y z, written so that large |z| neither overflows nor loses the gradient
        value = np.logaddexp(0.0, z) - y * z
        residual = 1.0 / (1.0 + np.exp(-z)) - y
        return float(value.mean()), np.append(x.T @ residual, residual.sum()) / len(y)

    start = np.append(np.asarray(equal), 0.0)
    bounds = [(0.0, None)] * x.shape[1] + [(None, None)]
    coef = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds).x[:-1]
    return [float(c / coef.sum()) for c in coef] if coef.sum() > 0 else equal
