"""Drift of the model's inputs and outputs between the champion's training window and today (Evidently)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.registry import RegisteredModel
from pipelines.tracking import connect
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import MONITORING_METRICS

REFERENCE_ARTIFACTS = "reference"
# Identifiers, free text and raw dates are not distributions worth comparing.
NOT_DRIFT_FEATURES = ("customer_id", "rev_text", "evt_sequence", "shard", "updated_at", "signup_date")


@dataclass
class DriftResult:
    report_path: str
    drifted_share: float
    drifted_features: list[str]
    worst_features: list[tuple[str, float]]
    prediction_drift: float | None
    breached: bool
    metrics_written: int
    details: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def log_reference(parent_run_id: str, customer_features_path: str) -> None:
    """Store the customer features seen at training time with the model, as the drift reference."""
    with mlflow.start_run(run_id=parent_run_id):
        mlflow.log_artifact(customer_features_path, REFERENCE_ARTIFACTS)


def load_reference(cfg: HeraldConfig, champion: RegisteredModel) -> pd.DataFrame:
    """The reference customer features logged by the champion's training run."""
    client = connect(cfg)
    run_id = client.get_model_version(champion.name, champion.version).run_id
    folder = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=REFERENCE_ARTIFACTS,
                                                      tracking_uri=cfg.tracking_uri))
    return pd.read_parquet(folder / "customer_features_reference.parquet")


def drift_columns(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    shared = [c for c in reference.columns if c in current.columns and c not in NOT_DRIFT_FEATURES]
    return [c for c in shared if reference[c].notna().any() and current[c].notna().any()]


def compute_drift(
    cfg: HeraldConfig,
    run_id: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    reference_predictions: pd.Series | None,
    current_predictions: pd.Series | None,
    mlflow_run_id: str | None = None,
) -> DriftResult:
    """Per-feature drift by an effect-size method, the drifted share, and prediction drift.

    Statistical tests flag almost everything on large samples, so the method is an effect size
    (PSI by default) with the threshold from config.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    settings = cfg.monitoring
    columns = drift_columns(reference, current)
    ref, cur = _comparable(reference[columns]), _comparable(current[columns])
    metrics = [DriftedColumnsCount(columns=columns, drift_share=settings.drift_share_threshold,
                                   method=settings.drift_method, threshold=settings.drift_threshold)]
    metrics += [ValueDrift(column=c, method=settings.drift_method, threshold=settings.drift_threshold) for c in columns]
    # Declare column kinds: Evidently's guess turns high-cardinality strings into "text".
    definition = DataDefinition(
        numerical_columns=[c for c in columns if ref[c].dtype == "float64"],
        categorical_columns=[c for c in columns if ref[c].dtype != "float64"],
    )
    snapshot = Report(metrics).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    values = {c: float(m["value"]) for c, m in zip(columns, snapshot.dict()["metrics"][1:])}
    prediction_drift = None
    if reference_predictions is not None and current_predictions is not None and len(current_predictions):
        pred = Report([ValueDrift(column="p_response", method=settings.drift_method, threshold=settings.drift_threshold)]).run(
            current_data=pd.DataFrame({"p_response": current_predictions.astype(float).to_numpy()}),
            reference_data=pd.DataFrame({"p_response": reference_predictions.astype(float).to_numpy()}),
        )
        prediction_drift = float(pred.dict()["metrics"][0]["value"])
    drifted = sorted(c for c, v in values.items() if v > settings.drift_threshold)
    share = len(drifted) / max(len(values), 1)
    report_dir = cfg.reports_dir / "drift"
    report_dir.mkdir(parents=True, exist_ok=True)
    report_path = report_dir / f"{_safe(run_id)}.html"
    snapshot.save_html(str(report_path))
    now = pd.Timestamp(datetime.now(timezone.utc))
    rows = [
        {"kind": "data_drift", "subject": c, "metric": settings.drift_method, "value": v,
         "threshold": settings.drift_threshold, "breached": v > settings.drift_threshold}
        for c, v in values.items()
    ]
    rows.append({"kind": "data_drift", "subject": "all_features", "metric": "drifted_share", "value": share,
                 "threshold": settings.drift_share_threshold, "breached": share > settings.drift_share_threshold})
    if prediction_drift is not None:
        rows.append({"kind": "prediction_drift", "subject": "p_response", "metric": settings.drift_method,
                     "value": prediction_drift, "threshold": settings.drift_threshold,
                     "breached": prediction_drift > settings.drift_threshold})
    table = pd.DataFrame(rows).assign(run_id=run_id, computed_at=now)[MONITORING_METRICS.column_names]
    with get_warehouse(cfg) as warehouse:
        written = warehouse.write("monitoring_metrics", table, mode="replace_run", run_filter={"run_id": run_id})
    breached = bool(table["breached"].any() and (share > settings.drift_share_threshold
                                                 or (prediction_drift or 0.0) > settings.drift_threshold))
    if mlflow_run_id:
        connect(cfg)
        with mlflow.start_run(run_id=mlflow_run_id):
            mlflow.log_artifact(str(report_path), "drift")
            mlflow.log_metrics({"drifted_share": share, **({"prediction_drift": prediction_drift} if prediction_drift is not None else {})})
    worst = sorted(values.items(), key=lambda kv: -kv[1])[:5]
    return DriftResult(str(report_path), share, drifted, worst, prediction_drift, breached, written, values)


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Booleans and objects as strings (categorical), numbers as float, so both sides agree on types."""
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        series = frame[col]
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            out[col] = series.astype("object").where(series.notna(), "missing").astype(str)
        else:
            out[col] = pd.to_numeric(series, errors="coerce").astype("float64")
    return out


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def summarize_values(values: dict[str, float]) -> dict[str, float]:
    return {k: float(np.round(v, 4)) for k, v in values.items()}
