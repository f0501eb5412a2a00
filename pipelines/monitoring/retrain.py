"""Decide from the monitoring history whether to retrain: persistent breaches, outside a cooldown."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import MONITORING_METRICS

TRAINING_DAG = "herald_training"


@dataclass
class RetrainDecision:
    """Whether to trigger retraining, why, and how many recent monitoring runs breached."""

    trigger: bool
    reason: str
    breached_runs: int
    last_trigger: str | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def should_retrain(cfg: HeraldConfig, run_id: str, now: datetime | None = None) -> RetrainDecision:
    """Trigger when the last ``breaches_before_retrain`` monitoring runs (this one included) all breached
    drift or performance, and no trigger was recorded within ``retrain_cooldown_days``.

    A yes is recorded at once as a ``kind=retrain`` row of this run, so the cooldown holds even if
    the run is retried. Fairness breaches alert but do not retrain: a new fit on the same data
    would not remove them.
    """
    settings = cfg.monitoring
    now_ts = pd.Timestamp(now or datetime.now(UTC))
    now_ts = now_ts.tz_convert("UTC") if now_ts.tzinfo else now_ts.tz_localize("UTC")
    with get_warehouse(cfg) as warehouse:
        if not warehouse.has_table("monitoring_metrics"):
            return RetrainDecision(False, "no monitoring history yet", 0, None)
        history = warehouse.query("monitoring_run_breaches")
        history["computed_at"] = pd.to_datetime(history["computed_at"], utc=True)
        triggers = history.loc[history["triggered"] == 1, "computed_at"]
        last_trigger = triggers.max() if len(triggers) else None
        if run_id in set(history.loc[history["triggered"] == 1, "run_id"]):
            return RetrainDecision(False, "this run already triggered retraining", 0, str(last_trigger))
        recent = history.head(settings.breaches_before_retrain)
        streak = int((recent["breached"] == 1).cumprod().sum())
        if len(recent) < settings.breaches_before_retrain or streak < settings.breaches_before_retrain:
            return RetrainDecision(
                False,
                f"{streak} of the last {settings.breaches_before_retrain} runs breached",
                streak,
                str(last_trigger) if last_trigger is not None else None,
            )
        if last_trigger is not None and now_ts - last_trigger < pd.Timedelta(days=settings.retrain_cooldown_days):
            return RetrainDecision(
                False,
                f"cooldown: retraining was triggered at {last_trigger:%Y-%m-%d %H:%M} "
                f"(< {settings.retrain_cooldown_days} days ago)",
                streak,
                str(last_trigger),
            )
        row = pd.DataFrame(
            [
                {
                    "run_id": run_id,
                    "computed_at": now_ts,
                    "kind": "retrain",
                    "subject": TRAINING_DAG,
                    "metric": "triggered",
                    "value": 1.0,
                    "threshold": float(settings.breaches_before_retrain),
                    "breached": False,
                }
            ]
        )[MONITORING_METRICS.column_names]
        warehouse.write("monitoring_metrics", row, mode="replace_run", run_filter={"run_id": run_id, "kind": "retrain"})
    return RetrainDecision(True, f"drift or performance breached in the last {streak} runs", streak, str(now_ts))
