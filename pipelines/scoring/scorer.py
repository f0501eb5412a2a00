"""The champion as a scorer: a rows → P(response) function, fed only the columns the model reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.training.registry import RegisteredModel

# Rows → P(response); the loaded champion in production, anything with that shape in tests and benchmarks.
Scorer = Callable[[pd.DataFrame], np.ndarray]


@dataclass
class ChampionScorer:
    """The estimator inside the champion pyfunc, fed only its signature's columns.

    MLflow's per-call schema enforcement and the string re-typing of ``predict_served`` cost more
    than the forward pass itself on candidate grids; the estimator's own preprocessor reads raw
    rows exactly as it did when the training flow evaluated it, so they are skipped here. Missing
    inputs still fail loudly, as in serving.
    """

    estimator: object
    columns: list[str]

    def __call__(self, rows: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in rows.columns]
        if missing:
            raise KeyError(f"model input lacks column(s) {', '.join(missing)}")
        return np.asarray(self.estimator.predict_proba(rows[self.columns]), dtype=np.float64)  # type: ignore[attr-defined]


def load_scorer(cfg: HeraldConfig, champion: RegisteredModel) -> ChampionScorer:
    """The champion (loaded once per task) as a rows → P(response) function."""
    import mlflow

    from pipelines.tracking import connect

    connect(cfg)
    model = mlflow.pyfunc.load_model(champion.model_uri)
    columns = [spec.name for spec in model.metadata.get_input_schema().inputs]
    return ChampionScorer(model.unwrap_python_model().estimator, columns)


def model_inputs(frame: pd.DataFrame, scorer: Scorer, keys: tuple[str, ...]) -> pd.DataFrame:
    """Only the columns the model reads (plus join keys): joins copy every column onto every candidate."""
    needed = getattr(scorer, "columns", None)
    if needed is None:
        return frame
    keep = [c for c in frame.columns if c in keys or c in set(needed)]
    return frame[keep]
