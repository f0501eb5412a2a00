"""Drift of the model's inputs and outputs between the champion's training window and today (Evidently)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import mlflow
import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig, MonitoringSettings
from pipelines.tracking import connect
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import MONITORING_METRICS

# Identifiers, free text and raw dates are not distributions worth comparing.
NOT_DRIFT_FEATURES = ("customer_id", "rev_text", "evt_sequence", "shard", "updated_at", "signup_date")


# Which contract column each customer feature is computed from, so an alert can say where a
# shift came from (longest prefix wins; profile columns map to themselves).
FEATURE_SOURCES: dict[str, tuple[str, ...]] = {
    "events.amount": ("evt_spend",),
    "events.device": ("evt_device_share_",),
    "events.product_category": ("evt_cat_share_", "evt_top_category"),
    "events.event_type": ("evt_n_", "evt_total", "evt_unsubscribed"),
    "events.event_ts": ("evt_days_since_last", "evt_days_since_purchase", "evt_hour_share_"),
    "reviews.rating": ("rev_mean_rating",),
    "reviews.review_id": ("rev_count",),
    "customers.birth_year": ("age_band",),
    "customers.signup_date": ("tenure_days",),
    "decisions.p_response": ("p_response",),
    "decisions.channel": ("channel",),
    "decisions.message_id": ("message_id",),
}


def feature_source(feature: str) -> str:
    """The contract column a feature derives from (``evt_spend`` → ``events.amount``)."""
    best, length = f"customers.{feature}", 0
    for source, prefixes in FEATURE_SOURCES.items():
        for prefix in prefixes:
            if feature.startswith(prefix) and len(prefix) > length:
                best, length = source, len(prefix)
    if feature.startswith("emb_"):
        return "model.embeddings"
    return best


def features_of(source: str, features: list[str]) -> list[str]:
    """The features among ``features`` computed from contract column ``source`` (``table.column``)."""
    return [f for f in features if feature_source(f) == source]


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
    # Every method's value for each drifted column (features and predictions): the alert's evidence.
    evidence: dict[str, dict[str, float]] = field(default_factory=dict)
    drifted_predictions: list[str] = field(default_factory=list)
    prediction_report_path: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class EffectSizes:
    """Per column, each method's value; which columns the vote calls drifted; the Evidently snapshot."""

    values: dict[str, dict[str, float]]
    drifted: list[str]
    snapshot: object


def drift_columns(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    shared = [c for c in reference.columns if c in current.columns and c not in NOT_DRIFT_FEATURES]
    return [c for c in shared if reference[c].notna().any() and current[c].notna().any()]


def methods_for(settings: MonitoringSettings, numeric: bool) -> dict[str, float]:
    """Effect-size methods and thresholds that apply to a column kind (Wasserstein: numbers only)."""
    methods = {settings.drift_method: settings.drift_threshold, **settings.drift_extra_methods}
    return {m: t for m, t in methods.items() if numeric or m != "wasserstein"}


def effect_sizes(settings: MonitoringSettings, reference: pd.DataFrame, current: pd.DataFrame) -> EffectSizes:
    """Every configured effect size of every shared column in one Evidently report, and the vote.

    Statistical tests flag almost everything on large samples and nothing on small ones, so drift
    is an effect size with a threshold; a column is drifted when ``drift_min_votes`` of its methods
    (all of them, if fewer apply) exceed their thresholds.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    columns = list(reference.columns)
    ref, cur = _comparable(reference), _comparable(current)
    numeric = {c: ref[c].dtype == "float64" for c in columns}
    plan = [(c, m, t) for c in columns for m, t in methods_for(settings, numeric[c]).items()]
    metrics: list = [
        DriftedColumnsCount(
            columns=columns,
            drift_share=settings.drift_share_threshold,
            method=settings.drift_method,
            threshold=settings.drift_threshold,
        )
    ]
    metrics += [ValueDrift(column=c, method=m, threshold=t) for c, m, t in plan]
    # Declare column kinds: Evidently's guess turns high-cardinality strings into "text".
    definition = DataDefinition(
        numerical_columns=[c for c in columns if numeric[c]], categorical_columns=[c for c in columns if not numeric[c]]
    )
    snapshot = Report(metrics).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    values: dict[str, dict[str, float]] = {c: {} for c in columns}
    for (c, m, _), result in zip(plan, snapshot.dict()["metrics"][1:]):
        values[c][m] = float(result["value"])
    drifted = []
    for c in columns:
        thresholds = methods_for(settings, numeric[c])
        votes = sum(values[c][m] > t for m, t in thresholds.items())
        if votes >= min(settings.drift_min_votes, len(thresholds)):
            drifted.append(c)
    return EffectSizes(values, sorted(drifted), snapshot)


def embedding_components(
    reference: np.ndarray, current: np.ndarray, k: int, prefix: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Project both embeddings on the reference's top ``k`` principal components (fitted on reference)."""
    mean = reference.mean(axis=0)
    _, _, vt = np.linalg.svd(reference - mean, full_matrices=False)
    basis = vt[: min(k, vt.shape[0])].T
    names = [f"{prefix}_pc{i + 1}" for i in range(basis.shape[1])]
    return (
        pd.DataFrame((reference - mean) @ basis, columns=names),
        pd.DataFrame((current - mean) @ basis, columns=names),
    )


def prediction_frame(decisions: pd.DataFrame) -> pd.DataFrame:
    """What the model and policy put out per customer: P(response) and the chosen channel and message."""
    return pd.DataFrame(
        {
            "p_response": pd.to_numeric(decisions["p_response"], errors="coerce").astype("float64"),
            "channel": decisions["channel"]
            .astype("object")
            .where(decisions["message_id"].notna(), "none")
            .fillna("none"),
            "message_id": decisions["message_id"].astype("object").fillna("none"),
        }
    ).reset_index(drop=True)


def compute_drift(
    cfg: HeraldConfig,
    run_id: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    reference_predictions: pd.DataFrame | None,
    current_predictions: pd.DataFrame | None,
    mlflow_run_id: str | None = None,
    embeddings: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    notes: list[str] | None = None,
) -> DriftResult:
    """Per-feature and prediction drift by effect sizes; HTML reports, MLflow, monitoring_metrics rows.

    ``embeddings`` are extra (reference, current) columns, e.g. principal components of the deep
    model's embeddings; ``*_predictions`` are frames from :func:`prediction_frame`.
    """
    settings = cfg.monitoring
    notes = list(notes or [])
    columns = drift_columns(reference, current)
    thin = [c for c in columns if min(reference[c].notna().sum(), current[c].notna().sum()) < settings.drift_min_rows]
    if thin:
        notes.append(f"not judged, fewer than {settings.drift_min_rows} values: {', '.join(thin)}")
    columns = [c for c in columns if c not in thin]
    ref, cur = reference[columns].reset_index(drop=True), current[columns].reset_index(drop=True)
    if embeddings is not None:
        # Embedding components have their own row counts only when the populations differ in size.
        ref = pd.concat([ref, embeddings[0].reset_index(drop=True)], axis=1)
        cur = pd.concat([cur, embeddings[1].reset_index(drop=True)], axis=1)
    inputs = effect_sizes(settings, ref, cur)
    report_dir = cfg.reports_dir / "drift"
    report_dir.mkdir(parents=True, exist_ok=True)
    report_path = report_dir / f"{_safe(run_id)}.html"
    inputs.snapshot.save_html(str(report_path))

    outputs: EffectSizes | None = None
    prediction_report = None
    if (
        reference_predictions is not None
        and current_predictions is not None
        and len(current_predictions)
        and len(reference_predictions)
    ):
        outputs = effect_sizes(settings, reference_predictions, current_predictions)
        prediction_report = report_dir / f"{_safe(run_id)}_predictions.html"
        outputs.snapshot.save_html(str(prediction_report))
    else:
        notes.append("no prediction drift: the champion has no scoring run to compare yet")

    primary = settings.drift_method
    features = list(inputs.values)
    share = len(inputs.drifted) / max(len(features), 1)
    rows = _metric_rows("data_drift", inputs, settings)
    rows.append(
        {
            "kind": "data_drift",
            "subject": "all_features",
            "metric": "drifted_share",
            "value": share,
            "threshold": settings.drift_share_threshold,
            "breached": share > settings.drift_share_threshold,
        }
    )
    if outputs is not None:
        rows += _metric_rows("prediction_drift", outputs, settings)
    table = pd.DataFrame(rows).assign(run_id=run_id, computed_at=pd.Timestamp(datetime.now(UTC)))
    table = table[MONITORING_METRICS.column_names]
    with get_warehouse(cfg) as warehouse:
        written = 0
        for kind in ("data_drift", "prediction_drift"):
            # Each kind replaces only its own rows of this run: performance and fairness write beside it.
            part = table[table["kind"] == kind]
            written += warehouse.write(
                "monitoring_metrics", part, mode="replace_run", run_filter={"run_id": run_id, "kind": kind}
            )
    drifted_predictions = outputs.drifted if outputs is not None else []
    prediction_drift = outputs.values["p_response"].get(primary) if outputs is not None else None
    breached = bool(inputs.drifted or drifted_predictions or share > settings.drift_share_threshold)
    if mlflow_run_id:
        connect(cfg)
        with mlflow.start_run(run_id=mlflow_run_id):
            mlflow.log_artifact(str(report_path), "drift")
            if prediction_report is not None:
                mlflow.log_artifact(str(prediction_report), "drift")
            mlflow.log_metrics(
                {
                    "drifted_share": share,
                    "drifted_features": float(len(inputs.drifted)),
                    **({"prediction_drift": prediction_drift} if prediction_drift is not None else {}),
                }
            )
    details = {c: v[primary] for c, v in inputs.values.items()}
    worst = sorted(details.items(), key=lambda kv: -kv[1])[:5]
    evidence = {c: inputs.values[c] for c in inputs.drifted}
    if outputs is not None:
        evidence |= {f"prediction:{c}": outputs.values[c] for c in outputs.drifted}
    sources = {c: feature_source(c) for c in [*inputs.drifted, *drifted_predictions]}
    return DriftResult(
        str(report_path),
        share,
        inputs.drifted,
        worst,
        prediction_drift,
        breached,
        written,
        details,
        evidence,
        drifted_predictions,
        str(prediction_report) if prediction_report else None,
        sources,
        notes,
    )


def _metric_rows(kind: str, sizes: EffectSizes, settings: MonitoringSettings) -> list[dict[str, object]]:
    """One row per column and method; a row is breached only when its column lost the vote too."""
    thresholds = methods_for(settings, numeric=True)
    rows = []
    for column, values in sizes.values.items():
        for method, value in values.items():
            threshold = thresholds[method]
            rows.append(
                {
                    "kind": kind,
                    "subject": column,
                    "metric": method,
                    "value": value,
                    "threshold": threshold,
                    "breached": bool(column in sizes.drifted and value > threshold),
                }
            )
    return rows


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
