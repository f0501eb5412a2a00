"""The MLflow pyfunc that bundles preprocessing with a response model, so raw rows go in."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import joblib
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema


class ResponseModel(Protocol):
    """Anything that maps raw model rows to P(response); baselines and the deep model alike."""

    name: str

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray: ...

    def input_schema(self) -> dict[str, str]: ...


def to_model_input(rows: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """Select the model's raw input columns and give them the signature's types.

    Missing values stay missing (None / NaN); a column absent from ``rows`` is an error, because
    silently scoring without an input is how training/serving skew starts.
    """
    missing = [c for c in schema if c not in rows.columns]
    if missing:
        raise KeyError(f"model input lacks column(s) {', '.join(missing)}")
    out = {}
    for col, kind in schema.items():
        series = rows[col]
        if kind == "string":
            values = series.astype("object")
            out[col] = values.where(series.notna(), None).map(lambda v: None if v is None else str(v))
        else:
            out[col] = pd.to_numeric(series, errors="coerce").astype("float64")
    return pd.DataFrame(out, index=rows.index)


def signature_for(schema: dict[str, str]) -> ModelSignature:
    """An MLflow signature from the raw input schema; the output is P(response) per row."""
    inputs = Schema([ColSpec(kind, name) for name, kind in schema.items()])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double")]))


ESTIMATOR_ARTIFACT = "estimator"


class HeraldResponsePyfunc(mlflow.pyfunc.PythonModel):
    """Predicts P(response) for raw rows (customer features + action + message attributes)."""

    def __init__(self) -> None:
        self.estimator: ResponseModel | None = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.estimator = load_estimator(Path(context.artifacts[ESTIMATOR_ARTIFACT]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        assert self.estimator is not None
        return np.asarray(self.estimator.predict_proba(model_input), dtype=np.float64)


def save_estimator(estimator: ResponseModel, path: Path) -> Path:
    """Persist an estimator (and its preprocessor) to one file for the pyfunc's artifacts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, path)
    return path


def load_estimator(path: Path) -> ResponseModel:
    """The estimator ``save_estimator`` wrote (joblib)."""
    return joblib.load(path)
