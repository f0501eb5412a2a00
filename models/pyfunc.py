"""The MLflow pyfunc that bundles preprocessing with a response model, so raw rows go in."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import joblib
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import AnyType, ColSpec, Schema


class ResponseModel(Protocol):
    """Anything that maps raw model rows to P(response); baselines and the deep model alike."""

    name: str

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray: ...

    def input_schema(self) -> dict[str, str]: ...


def _as_text(value: object) -> str | None:
    """A category as text: None stays None, whole numbers lose their ``.0`` (9, 9.0, np.int64(9) → "9")."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def to_model_input(rows: pd.DataFrame, schema: dict[str, str]) -> pd.DataFrame:
    """Select the model's raw input columns and give them the signature's types, from whatever a query returns.

    String columns take numbers of any width, nullable integers and floats holding whole numbers
    (a category ``9`` read back as ``9.0`` is still ``"9"``, never an unseen ``"9.0"``); numeric
    columns take ints, nullable ints, decimals, booleans and numeric text as float64. Missing values
    stay missing (None / NaN); a column absent from ``rows`` is an error, because silently scoring
    without an input is how training/serving skew starts.
    """
    missing = [c for c in schema if c not in rows.columns]
    if missing:
        raise KeyError(f"model input lacks column(s) {', '.join(missing)}")
    out = {}
    for col, kind in schema.items():
        series = rows[col]
        if kind == "string":
            out[col] = pd.Series([_as_text(v) for v in series.astype("object")], index=rows.index, dtype="object")
        else:
            values = series.astype("object").map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v)
            out[col] = pd.to_numeric(values, errors="coerce").astype("float64")
    return pd.DataFrame(out, index=rows.index)


def signature_for(schema: dict[str, str]) -> ModelSignature:
    """An MLflow signature from the raw input schema; the output is P(response) per row.

    Columns are declared by name with type ``Any``: MLflow's own check would refuse an int64 or a
    float column for a string input, or a nullable Int64 for a double, before the model sees it,
    while the pyfunc casts every column itself (:func:`to_model_input`) — so rows straight from a
    warehouse query score as they are. The real types are logged as model metadata
    (:func:`schema_metadata`) and are the estimator's ``input_schema()``.
    """
    inputs = Schema([ColSpec(AnyType(), name) for name in schema])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double")]))


ESTIMATOR_ARTIFACT = "estimator"


def schema_metadata(schema: dict[str, str]) -> dict[str, dict[str, str]]:
    """The raw input types (column → string/double) as pyfunc metadata, beside the untyped signature."""
    return {"herald_input_types": dict(schema)}


class HeraldResponsePyfunc(mlflow.pyfunc.PythonModel):
    """Predicts P(response) for raw rows (customer features + action + message attributes)."""

    def __init__(self) -> None:
        self.estimator: ResponseModel | None = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.estimator = load_estimator(Path(context.artifacts[ESTIMATOR_ARTIFACT]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        assert self.estimator is not None
        rows = to_model_input(pd.DataFrame(model_input), self.estimator.input_schema())
        return np.asarray(self.estimator.predict_proba(rows), dtype=np.float64)


def save_estimator(estimator: ResponseModel, path: Path) -> Path:
    """Persist an estimator (and its preprocessor) to one file for the pyfunc's artifacts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, path)
    return path


def load_estimator(path: Path) -> ResponseModel:
    return joblib.load(path)
