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

    def _matrix(self, rows: pd.DataFrame) -> np.ndarray:
        cats, nums = self.preprocessor.transform(rows)
        return np.hstack([cats.astype(np.float64), nums.astype(np.float64)])

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, rounds: int = 600) -> LightGBMResponse:
        n_cat = len(self.preprocessor.categorical)
        names = [*self.preprocessor.categorical, *self.preprocessor.numeric]
        dtrain = lgb.Dataset(
            self._matrix(train),
            train["label"].to_numpy(),
            feature_name=names,
            categorical_feature=list(range(n_cat)),
            free_raw_data=False,
        )
        dvalid = lgb.Dataset(self._matrix(valid), valid["label"].to_numpy(), reference=dtrain)
        self.booster = lgb.train(
            self.params,
            dtrain,
            num_boost_round=rounds,
            valid_sets=[dvalid],
            callbacks=[lgb.early_stopping(40, verbose=False)],
        )
        return self

    def input_schema(self) -> dict[str, str]:
        return self.preprocessor.input_schema()

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        assert self.booster is not None, "fit() first"
        return self.booster.predict(self._matrix(rows), num_iteration=self.booster.best_iteration)


@dataclass
class LogisticResponse:
    """L2 logistic regression on one-hot categories and standardised numerics."""

    preprocessor: TabularPreprocessor
    encoder: OneHotEncoder | None = None
    model: LogisticRegression | None = None
    name: str = "logreg"

    def _matrix(self, rows: pd.DataFrame, fit: bool = False):  # noqa: ANN202 - scipy sparse
        from scipy import sparse

        cats, nums = self.preprocessor.transform(rows)
        if fit:
            self.encoder = OneHotEncoder(handle_unknown="ignore").fit(cats)
        assert self.encoder is not None
        return sparse.hstack([self.encoder.transform(cats), sparse.csr_matrix(nums)]).tocsr()

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> LogisticResponse:
        x = self._matrix(train, fit=True)
        self.model = LogisticRegression(C=0.5, max_iter=400).fit(x, train["label"].to_numpy())
        return self

    def input_schema(self) -> dict[str, str]:
        return self.preprocessor.input_schema()

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        assert self.model is not None, "fit() first"
        return self.model.predict_proba(self._matrix(rows))[:, 1]
