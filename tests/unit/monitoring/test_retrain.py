"""Retraining fires once after N breached runs in a row and then respects the cooldown."""

from __future__ import annotations

import pandas as pd

from pipelines.monitoring.retrain import should_retrain

from .conftest import T, days, write_tables


def _record(cfg, run_id: str, at, breached: bool) -> None:
    from pipelines.warehouse import get_warehouse

    row = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "computed_at": pd.Timestamp(at),
                "kind": "data_drift",
                "subject": "all_features",
                "metric": "drifted_share",
                "value": 0.5 if breached else 0.0,
                "threshold": 0.3,
                "breached": breached,
            }
        ]
    )
    with get_warehouse(cfg) as warehouse:
        warehouse.write(
            "monitoring_metrics", row, mode="replace_run", run_filter={"run_id": run_id, "kind": "data_drift"}
        )


def test_retrain_fires_once_after_persistent_breaches_and_respects_cooldown(cfg) -> None:
    assert cfg.monitoring.breaches_before_retrain == 2 and cfg.monitoring.retrain_cooldown_days == 7
    write_tables(cfg, {})
    decisions = []
    for day, breached in enumerate([False, True, True, True, True, False, True, True, True, True, True, True]):
        at = T + days(day)
        _record(cfg, f"mon-{day}", at, breached)
        decisions.append(should_retrain(cfg, f"mon-{day}", at).trigger)
    # Day 2 is the second breach in a row; days 3–8 fall in its cooldown; day 9 is the first
    # streak outside it (day 8 is < 7 days after day 2 … day 9 is exactly 7 days later).
    assert [d for d, fired in enumerate(decisions) if fired] == [2, 9]
    assert should_retrain(cfg, "mon-9", T + days(9)).reason == "this run already triggered retraining"


def test_a_single_breach_does_not_retrain(cfg) -> None:
    _record(cfg, "one", T, True)
    decision = should_retrain(cfg, "one", T)
    assert not decision.trigger and "1 of the last 2" in decision.reason
