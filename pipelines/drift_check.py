"""Compare today's customer features and predictions with the champion's references."""

from __future__ import annotations

from datetime import datetime

from pipelines import features
from pipelines.config import HeraldConfig
from pipelines.extract import load_extract
from pipelines.monitor import DriftResult, compute_drift, load_reference
from pipelines.registry import require_champion
from pipelines.warehouse import get_warehouse


def drift_against_champion(
    cfg: HeraldConfig, run_id: str, extract_paths: dict[str, str], as_of: datetime, mlflow_run_id: str
) -> DriftResult:
    """Inputs: the champion's training window vs now. Predictions: its first scoring run vs its latest."""
    champion = require_champion(cfg)
    reference = load_reference(cfg, champion)
    tables = load_extract(extract_paths)
    current = features.customer_features(
        tables["customers"], tables.get("events"), tables.get("reviews"), as_of, cfg.region_timezones,
        cfg.event_history_days,
    )
    reference_predictions = current_predictions = None
    with get_warehouse(cfg) as warehouse:
        if warehouse.has_table("decisions"):
            latest = warehouse.query("latest_decisions")
            first = warehouse.query("reference_decisions",
                                    {"model_name": champion.name, "model_version": champion.version})
            if len(latest) and len(first):
                current_predictions = latest["p_response"].dropna()
                reference_predictions = first["p_response"].dropna()
    return compute_drift(cfg, run_id, reference, current, reference_predictions, current_predictions, mlflow_run_id)
