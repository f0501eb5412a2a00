"""Compare today's customer features and predictions with the champion's references."""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.monitoring.drift_report import compute_drift
from pipelines.monitoring.drift_stats import (
    DriftResult,
    embedding_components,
    prediction_frame,
)
from pipelines.monitoring.reference import Reference, load_reference, pool_rare
from pipelines.monitoring.reference import embedding_components as reference_components
from pipelines.tracking import connect
from pipelines.training import features
from pipelines.training.profiles import customer_features_as_of
from pipelines.training.registry import RegisteredModel, load_champion, served_estimator
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.extract import load_extract

log = logging.getLogger(__name__)


def drift(
    cfg: HeraldConfig, run_id: str, extract_paths: dict[str, str], as_of: datetime, mlflow_run_id: str
) -> DriftResult:
    """Inputs: the champion's training window vs now. Predictions: its first scoring run vs its latest."""
    champion = load_champion(cfg)
    stored = load_reference(cfg, champion)
    reference = stored.features
    tables = load_extract(extract_paths)
    current_rows = customer_features_as_of(cfg, tables, as_of)
    # Categories the reference pooled as rare (or never saw) are pooled the same way today.
    current = pool_rare(current_rows, stored.sketch)
    reference_predictions = current_predictions = None
    first = latest = pd.DataFrame()
    notes: list[str] = []
    no_predictions_reason = "the champion has no scoring run to compare yet"
    with get_warehouse(cfg) as warehouse:
        if warehouse.has_table("decisions"):
            latest = warehouse.query("latest_decisions")
            first = warehouse.query(
                "reference_decisions", {"model_name": champion.name, "model_version": champion.version}
            )
    if len(latest) and len(first) and set(first["run_id"]) == set(latest["run_id"]):
        # The champion's first scoring run is also its latest: comparing it with itself proves nothing.
        no_predictions_reason = "the champion has made one scoring run so far"
        first = latest = pd.DataFrame()
    if len(latest) and len(first):
        current_predictions = prediction_frame(latest)
        reference_predictions = prediction_frame(first)
    try:
        estimator = served_estimator(cfg, champion)
    except Exception as exc:  # the summary is optional; the drift check itself must still run
        log.warning("champion could not be loaded for embeddings: %s", exc)
        notes.append(f"embeddings skipped: champion not loadable ({exc})")
        estimator = None
    embeddings = champion_embeddings(
        cfg, estimator, champion.estimator, stored, current_rows, first, latest, tables["messages"], notes
    )
    return compute_drift(
        cfg,
        run_id,
        reference,
        current,
        reference_predictions,
        current_predictions,
        mlflow_run_id,
        embeddings=embeddings,
        notes=notes,
        windows=drift_windows(cfg, champion, as_of),
        no_predictions_reason=no_predictions_reason,
    )


def drift_windows(cfg: HeraldConfig, champion: RegisteredModel, as_of: datetime) -> dict[str, str]:
    """Names of the compared windows: customer features as of the champion's feature cutoff vs as of now.

    Both are named by their instant alone, so the same instant on both sides (monitoring right after
    training) is recognised and refused by ``compute_drift`` instead of compared with itself.
    """
    tags = connect(cfg).get_model_version(champion.name, champion.version).tags
    cutoff = tags.get("feature_cutoff")
    return {
        "reference": f"customer features as of {_instant(cutoff) if cutoff else 'the champion training cutoff'}",
        "current": f"customer features as of {_instant(as_of)}",
        "reference_source": f"stored with {champion.name} v{champion.version} ({champion.estimator})",
        "reference_predictions": f"first scoring run of {champion.name} v{champion.version}",
        "current_predictions": "latest scoring run",
    }


def _instant(value: object) -> str:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.isoformat()


def champion_embeddings(
    cfg: HeraldConfig,
    estimator: object,
    estimator_name: str,
    reference: Reference,
    current: pd.DataFrame,
    reference_decisions: pd.DataFrame,
    current_decisions: pd.DataFrame,
    messages: pd.DataFrame,
    notes: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Top principal components of the champion's customer and message embeddings, when it has any.

    Customers: the reference's components as sketched at training time (the rows themselves are
    never kept) vs today's customers projected on the same basis. Messages: the messages the reference and the latest
    scoring run chose, one row per sent decision, so the mix of what goes out is what is compared.
    Baselines (LightGBM, logistic regression) expose no embeddings and are skipped.
    """
    k = cfg.monitoring.embedding_components
    parts: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    if hasattr(estimator, "customer_embeddings") and reference.customer_embeddings is not None:
        try:
            # Same customers on both sides is not required: components are fitted on the reference.
            cur = np.asarray(estimator.customer_embeddings(current), dtype=np.float64)
            parts.append(reference_components(reference.customer_embeddings, cur))
        except Exception as exc:  # an optional summary must not stop the drift check itself
            log.warning("customer embeddings failed: %s", exc)
            notes.append(f"customer embeddings skipped: {exc}")
    if hasattr(estimator, "message_embeddings") and len(reference_decisions) and len(current_decisions):
        catalogue = features.message_features(messages, cfg.assets_dir)
        sent = [
            d[["message_id"]].dropna().merge(catalogue, on="message_id")
            for d in (reference_decisions, current_decisions)
        ]
        if all(len(s) for s in sent):
            try:
                ref = np.asarray(estimator.message_embeddings(sent[0]), dtype=np.float64)
                cur = np.asarray(estimator.message_embeddings(sent[1]), dtype=np.float64)
                parts.append(embedding_components(ref, cur, k, "emb_message"))
            except Exception as exc:  # as above
                log.warning("message embeddings failed: %s", exc)
                notes.append(f"message embeddings skipped: {exc}")
    if not parts:
        if estimator is not None and not hasattr(estimator, "customer_embeddings"):
            notes.append(f"champion ({estimator_name}) has no embeddings to summarise")
        return None
    # Columns of different lengths (customers vs sent messages) are padded with NaN, which the
    # effect sizes ignore, so one report can hold both.
    ref = pd.concat([p[0] for p in parts], axis=1)
    cur = pd.concat([p[1] for p in parts], axis=1)
    return ref, cur
