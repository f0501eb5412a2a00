"""Drift references as distributions, never rows: per-column sketches logged with the model, rebuilt for the tests.

A training run used to log every customer's features (ids, consent, behaviour) to MLflow as the
drift reference. The drift tests only compare one column's distribution at a time, so a sketch is
enough: exact counts per category (rare ones pooled) and a grid of quantiles per number. From it
:func:`reference_frame` rebuilds a stand-in frame with the same marginal distributions, which the
effect sizes (PSI, Wasserstein, Jensen-Shannon) read as before. The customer embeddings' principal
components are sketched the same way, with the basis they were projected on.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.tracking import connect
from pipelines.training.registry import RegisteredModel

REFERENCE_ARTIFACTS = "reference"
SKETCH_FILE = "customer_features_sketch.json"
SKETCH_VERSION = 1
# Identifiers, free text, event sequences and raw dates are never sketched: they are the personal data.
NOT_SKETCHED = ("customer_id", "rev_text", "evt_sequence", "shard", "updated_at", "signup_date")
RARE = "__rare__"


def column_sketch(series: pd.Series, min_count: int, quantiles: int) -> dict[str, Any] | None:
    """One column as a distribution: counts per category (rare pooled), per value, or quantiles.

    Categories shared by fewer than ``min_count`` rows are pooled (a unique string may be an
    identifier). Numbers with few distinct values keep exact counts per value; others keep
    ``quantiles`` equal-probability steps. A numeric column with fewer than ``min_count`` values
    keeps only its row count: a handful of values would be the people. Datetimes return None.
    """
    n = len(series)
    if pd.api.types.is_datetime64_any_dtype(series):
        return None
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = pd.to_numeric(series, errors="coerce").astype("float64")
        finite = values[np.isfinite(values)]
        if len(finite) < min_count:
            return {"kind": "numeric", "rows": n, "count": 0, "quantiles": []}
        distinct = finite.value_counts().sort_index()
        if len(distinct) <= max(1, min(quantiles, len(finite) // min_count)):
            # Few distinct values (counts, ratings): exact counts per value, so the drift tests see the
            # same histogram (Evidently bins a column with <= 20 values per value, not by range).
            return {
                "kind": "numeric",
                "rows": n,
                "count": int(len(finite)),
                "values": {repr(float(v)): int(c) for v, c in distinct.items()},
            }
        # Midpoints of equal-probability steps: the minimum and maximum are never kept. The inverted
        # CDF returns values that occur, so the rebuilt column holds plausible values.
        grid = (np.arange(quantiles) + 0.5) / quantiles
        return {
            "kind": "numeric",
            "rows": n,
            "count": int(len(finite)),
            "quantiles": np.quantile(finite.to_numpy(), grid, method="inverted_cdf").round(6).tolist(),
        }
    present = series[series.notna()]
    counts = present.astype(str).value_counts()
    common = counts[counts >= min_count]
    return {
        "kind": "boolean" if pd.api.types.is_bool_dtype(series) else "categorical",
        "rows": n,
        "counts": {str(k): int(v) for k, v in common.items()},
        "rare": int(counts[counts < min_count].sum()),
    }


def reference_sketch(frame: pd.DataFrame, min_count: int = 5, quantiles: int = 100) -> dict[str, Any]:
    """The drift reference of a customer-features frame: every distribution column, no row."""
    columns = {}
    for col in frame.columns:
        if col in NOT_SKETCHED:
            continue
        sketch = column_sketch(frame[col], min_count, quantiles)
        if sketch is not None:
            columns[col] = sketch
    return {"version": SKETCH_VERSION, "rows": len(frame), "min_count": min_count, "columns": columns}


def column_values(sketch: dict[str, Any]) -> pd.Series:
    """Rebuild one column with the sketched distribution: ``rows`` values, missing ones as NaN/None."""
    rows = int(sketch["rows"])
    if sketch["kind"] == "numeric":
        m = int(sketch["count"])
        quantiles = np.asarray(sketch.get("quantiles", []), dtype=np.float64)
        values = np.full(rows, np.nan)
        if "values" in sketch:
            exact = np.repeat([float(v) for v in sketch["values"]], list(sketch["values"].values()))
            values[: len(exact)] = exact
        elif m and len(quantiles):
            # Step function of the quantile grid: each value stands for 1/len(quantiles) of the mass.
            step = np.minimum(((np.arange(m) + 0.5) / m * len(quantiles)).astype(int), len(quantiles) - 1)
            values[:m] = quantiles[step]
        return pd.Series(values, dtype="float64")
    parts = [np.repeat(np.array(list(sketch["counts"]), dtype=object), list(sketch["counts"].values()))]
    parts.append(np.array([RARE] * int(sketch["rare"]), dtype=object))
    filled = np.concatenate(parts) if parts else np.empty(0, dtype=object)
    out = np.full(rows, None, dtype=object)
    out[: len(filled)] = filled
    return pd.Series(out, dtype=object)


def reference_frame(sketch: dict[str, Any]) -> pd.DataFrame:
    """A stand-in reference frame with each column's sketched marginal distribution (rows are not people)."""
    return pd.DataFrame({col: column_values(s) for col, s in sketch["columns"].items()})


def pool_rare(current: pd.DataFrame, sketch: dict[str, Any]) -> pd.DataFrame:
    """Pool today's categories the reference pooled (or never saw) the same way, so both sides compare alike."""
    out = current.copy()
    for col, s in sketch["columns"].items():
        if s["kind"] == "numeric" or col not in out:
            continue
        values = out[col].astype("object").where(out[col].notna(), None)
        known = set(s["counts"])
        out[col] = values.map(lambda v, known=known: None if v is None else (str(v) if str(v) in known else RARE))
    return out


def embedding_sketch(
    vectors: np.ndarray, k: int, prefix: str, min_count: int = 5, quantiles: int = 100
) -> dict[str, Any]:
    """Top ``k`` principal components of reference embeddings: the basis, and each component sketched."""
    vectors = np.asarray(vectors, dtype=np.float64)
    mean = vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(vectors - mean, full_matrices=False)
    basis = vt[: min(k, vt.shape[0])].T
    projected = (vectors - mean) @ basis
    names = [f"{prefix}_pc{i + 1}" for i in range(basis.shape[1])]
    return {
        "mean": mean.round(8).tolist(),
        "basis": basis.round(8).tolist(),
        "columns": {
            name: column_sketch(pd.Series(projected[:, i]), min_count, quantiles) for i, name in enumerate(names)
        },
    }


def embedding_components(sketch: dict[str, Any], current: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference, current) principal components: the reference rebuilt, today's projected on its basis."""
    mean = np.asarray(sketch["mean"], dtype=np.float64)
    basis = np.asarray(sketch["basis"], dtype=np.float64)
    names = list(sketch["columns"])
    reference = pd.DataFrame({n: column_values(s) for n, s in sketch["columns"].items()})
    return reference, pd.DataFrame((np.asarray(current, dtype=np.float64) - mean) @ basis, columns=names)


@dataclass
class Reference:
    """What monitoring compares today against: a stand-in frame and the sketch it was rebuilt from."""

    features: pd.DataFrame
    sketch: dict[str, Any]

    @property
    def customer_embeddings(self) -> dict[str, Any] | None:
        return self.sketch.get("embeddings", {}).get("customer")


def log_reference(
    cfg: HeraldConfig, mlflow_run_id: str, customer_features_path: str, estimator: Any | None = None
) -> dict[str, Any]:
    """Log the sketch of today's customer features (and of the model's customer embeddings) with the model.

    Only distributions reach MLflow: no id, no text, no sequence, no row. ``estimator`` is the
    trained model; when it has a customer tower its embeddings are sketched on their top principal
    components (``monitoring.embedding_components``).
    """
    frame = pd.read_parquet(customer_features_path)
    settings = cfg.privacy
    sketch = reference_sketch(frame, settings.reference_min_count, settings.reference_quantiles)
    if estimator is not None and hasattr(estimator, "customer_embeddings") and len(frame):
        vectors = np.asarray(estimator.customer_embeddings(frame), dtype=np.float64)
        sketch["embeddings"] = {
            "customer": embedding_sketch(
                vectors,
                cfg.monitoring.embedding_components,
                "emb_customer",
                settings.reference_min_count,
                settings.reference_quantiles,
            )
        }
    connect(cfg)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_id=mlflow_run_id):
        path = Path(tmp) / SKETCH_FILE
        path.write_text(json.dumps(sketch))
        mlflow.log_artifact(str(path), REFERENCE_ARTIFACTS)
    return sketch


def load_reference(cfg: HeraldConfig, champion: RegisteredModel) -> Reference:
    """The reference sketch logged by the champion's training run, rebuilt as a frame."""
    client = connect(cfg)
    run_id = client.get_model_version(champion.name, champion.version).run_id
    folder = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=REFERENCE_ARTIFACTS, tracking_uri=cfg.tracking_uri
        )
    )
    sketch = json.loads((folder / SKETCH_FILE).read_text())
    return Reference(reference_frame(sketch), sketch)
