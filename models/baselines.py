"""Classical baselines on aggregated features: logistic regression and LightGBM."""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from models.preprocessing import TabularPreprocessor


@dataclass
class LightGBMResponse:
    """Gradient-boosted trees over category codes and raw-scaled numerics."""

    preprocessor: TabularPreprocessor
    params: dict[str, float | int | str] = field(
        default_factory=lambda: {
            "objective": "binary",
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_data_in_leaf": 50,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "verbose": -1,
            "num_threads": 2,
            "seed": 7,
            "deterministic": True,
        }
    )
    booster: lgb.Booster | None = None
    name: str = "lightgbm"
    # Boosting rounds: the cap under early stopping, the exact count without validation rows.
    rounds: int = 600
    # Rounds up to the lowest validation loss (None when fitted without validation rows).
    best_iterations: int | None = None

    def _matrix(self, rows: pd.DataFrame) -> np.ndarray:
        cats, nums = self.preprocessor.transform(rows)
        return np.hstack([cats.astype(np.float64), nums.astype(np.float64)])

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> LightGBMResponse:
        """Boost on ``train``; with ``valid`` rows, stop 40 rounds after its loss last improved."""
        n_cat = len(self.preprocessor.categorical)
        names = [*self.preprocessor.categorical, *self.preprocessor.numeric]
        dtrain = lgb.Dataset(
            self._matrix(train),
            train["label"].to_numpy(),
            feature_name=names,
            categorical_feature=list(range(n_cat)),
            free_raw_data=False,
        )
        if valid is None or not len(valid):
            self.booster = lgb.train(self.params, dtrain, num_boost_round=self.rounds)
            return self
        dvalid = lgb.Dataset(self._matrix(valid), valid["label"].to_numpy(), reference=dtrain)
        self.booster = lgb.train(
            self.params,
            dtrain,
            num_boost_round=self.rounds,
            valid_sets=[dvalid],
            callbacks=[lgb.early_stopping(40, verbose=False)],
        )
        self.best_iterations = int(self.booster.best_iteration) or self.rounds
        return self

    def input_schema(self) -> dict[str, str]:
        return self.preprocessor.input_schema()

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        assert self.booster is not None, "fit() first"
        best = self.booster.best_iteration
        return self.booster.predict(self._matrix(rows), num_iteration=best if best > 0 else None)


@dataclass
class LogisticResponse:
    """L2 logistic regression on one-hot categories and standardised numerics."""

    preprocessor: TabularPreprocessor
    encoder: OneHotEncoder | None = None
    model: LogisticRegression | None = None
    name: str = "logreg"
    best_iterations: int | None = None  # nothing to stop early

    def _matrix(self, rows: pd.DataFrame, fit: bool = False):  # noqa: ANN202 - scipy sparse
        from scipy import sparse

        cats, nums = self.preprocessor.transform(rows)
        if fit:
            self.encoder = OneHotEncoder(handle_unknown="ignore").fit(cats)
        assert self.encoder is not None
        return sparse.hstack([self.encoder.transform(cats), sparse.csr_matrix(nums)]).tocsr()

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> LogisticResponse:
        """Fit on ``train``; ``valid`` is accepted for a uniform interface and not used."""
        x = self._matrix(train, fit=True)
        self.model = LogisticRegression(C=0.5, max_iter=400).fit(x, train["label"].to_numpy())
        return self

    def input_schema(self) -> dict[str, str]:
        return self.preprocessor.input_schema()

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        assert self.model is not None, "fit() first"
        return self.model.predict_proba(self._matrix(rows))[:, 1]


HOLDOUT_ACTION = "holdout"


def action_keys(rows: pd.DataFrame) -> np.ndarray:
    """One key per row: ``message_id|channel``, or ``holdout`` where no message was sent."""
    message = rows["message_id"].astype("object")
    keys = message.astype(str) + "|" + rows["channel"].astype(str)
    return np.where(message.isna().to_numpy(), HOLDOUT_ACTION, keys.to_numpy())


@dataclass
class FixedActionResponse:
    """P(response) of a row = the logged response rate of its action (message × channel), nothing else.

    What Herald serves when no learned model beats the prior-rate predictor with confidence: every
    customer then gets the same best fixed action by logged outcome (the policy still applies
    consent, quiet hours, caps and channel cost). Rates are shrunk toward the overall rate with
    ``prior_strength`` pseudo-sends (beta-binomial smoothing), so a rarely sent action cannot win
    on a lucky handful of responses. The preprocessor is kept for the serving check and segments.
    """

    preprocessor: TabularPreprocessor
    prior_strength: float = 20.0
    rates: dict[str, float] = field(default_factory=dict)
    overall_rate: float = float("nan")
    name: str = "fixed_action"
    best_iterations: int | None = None

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> FixedActionResponse:
        """Count responses per action in ``train``; ``valid`` is not used."""
        y = train["label"].to_numpy(dtype=float)
        self.overall_rate = float(y.mean())
        counts = pd.DataFrame({"key": action_keys(train), "y": y}).groupby("key")["y"].agg(["sum", "count"])
        shrunk = (counts["sum"] + self.prior_strength * self.overall_rate) / (counts["count"] + self.prior_strength)
        self.rates = {str(k): float(v) for k, v in shrunk.items()}
        return self

    def input_schema(self) -> dict[str, str]:
        """The preprocessor's inputs (for the serving check) plus the two columns an action is."""
        return {**self.preprocessor.input_schema(), "message_id": "string", "channel": "string"}

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        """The smoothed rate of each row's action; an action never logged gets the overall rate."""
        keys = action_keys(rows)
        return np.array([self.rates.get(k, self.overall_rate) for k in keys], dtype=np.float64)

    def best_action(self) -> str:
        """The message|channel with the highest smoothed logged rate (the hold-out never counts)."""
        sent = {k: v for k, v in self.rates.items() if k != HOLDOUT_ACTION}
        return max(sent, key=sent.get) if sent else HOLDOUT_ACTION
