"""Drift inputs: the reference stored with the champion, feature sources, Evidently effect sizes for the report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from pipelines.config import MonitoringSettings

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
    """One drift comparison: what drifted, the evidence, the windows compared and where the report is."""

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
    # What was compared: window names (e.g. "training features as of …") and their row counts.
    windows: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    # Every test, most drifted first (pipelines/monitoring/drift_tests.py ColumnTest as dicts).
    ranked: list[dict[str, object]] = field(default_factory=list)
    # Why nothing was compared (identical windows), else None.
    skipped: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class EffectSizes:
    """Per column, each method's value; which columns the vote calls drifted; the Evidently snapshot."""

    values: dict[str, dict[str, float]]
    drifted: list[str]
    snapshot: object


def drift_columns(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """Shared columns worth comparing; a column NULL on one side only stays in (that is drift)."""
    shared = [c for c in reference.columns if c in current.columns and c not in NOT_DRIFT_FEATURES]
    return [c for c in shared if reference[c].notna().any() or current[c].notna().any()]


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
