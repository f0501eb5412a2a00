"""Realised performance: decisions matched to later sends by customer, message and channel in the window."""

from __future__ import annotations

import pandas as pd

from pipelines.monitoring.outcomes import match_outcomes, performance

from .conftest import T, days, world, write_tables


def decisions_from_sends(sends: pd.DataFrame, p: pd.Series, run_id: str) -> pd.DataFrame:
    """Decisions taken an hour before each send, predicting the world's true response probability."""
    sent_at = pd.to_datetime(sends["sent_at"], utc=True)
    holdout = sends["channel"].eq("none")
    return pd.DataFrame(
        {
            "run_id": run_id,
            "shard": 0,
            "decided_at": sent_at - pd.Timedelta(hours=1),
            "customer_id": sends["customer_id"],
            "message_id": sends["message_id"],
            "channel": sends["channel"].where(~holdout, None),
            "send_hour": 8,
            "p_response": p.to_numpy(),
            "uplift": 0.0,
            "propensity": 1.0,
            "policy": "exploit",
            "reason": pd.Series(None, index=sends.index, dtype=object).where(~holdout, "below_threshold"),
            "model_name": "herald-response",
            "model_version": "1",
        }
    ).reset_index(drop=True)


def test_performance_judges_matured_decisions_per_channel(cfg) -> None:
    w = world()
    sends = w.sends
    sent_at = pd.to_datetime(sends["sent_at"], utc=True)
    window = (sent_at >= pd.Timestamp(T - days(21))) & (sent_at < pd.Timestamp(T - days(8)))
    p = w.oracle.send_truth["p_true"]
    write_tables(cfg, {"decisions": decisions_from_sends(sends[window], p[window], "score-1")})

    result = performance(cfg, "perf-1", T)
    assert result.matched == int(window.sum())
    assert result.overall["auc"] > 0.6  # the true probabilities rank outcomes well
    assert set(result.per_channel) <= {"email", "push", "sms"} and result.per_channel
    from pipelines.warehouse import get_warehouse

    with get_warehouse(cfg) as warehouse:
        rows = warehouse.query("decisions_for_run", {"run_id": "score-1"})
    assert len(rows) == int(window.sum())


def test_no_outcomes_yet_writes_nothing_and_says_so(cfg) -> None:
    w = world()
    today = w.sends.tail(50)
    decisions = decisions_from_sends(today, w.oracle.send_truth["p_true"].tail(50), "score-now")
    decisions["decided_at"] = pd.Timestamp(T)  # decided now: no send can have followed yet
    write_tables(cfg, {"decisions": decisions})
    result = performance(cfg, "perf-now", T)
    assert result.matched == 0 and result.metrics_written == 0 and not result.breached
    assert "no outcomes yet" in result.message


def test_matching_respects_message_channel_and_window() -> None:
    decided = pd.Timestamp("2026-02-01 08:00", tz="UTC")
    decisions = pd.DataFrame(
        {
            "customer_id": ["c1", "c1", "c2", "c3"],
            "message_id": ["m1", "m2", None, "m1"],
            "channel": ["email", "push", None, "sms"],
            "decided_at": decided,
            "p_response": [0.1, 0.2, 0.05, 0.3],
        }
    )
    sends = pd.DataFrame(
        {
            "send_id": ["s1", "s2", "s3", "s4"],
            "customer_id": ["c1", "c1", "c2", "c3"],
            "message_id": ["m1", "m2", None, "m1"],
            "channel": ["email", "email", "none", "sms"],
            "sent_at": [
                decided + pd.Timedelta(hours=2),
                decided + pd.Timedelta(hours=2),
                decided + pd.Timedelta(days=1),
                decided + pd.Timedelta(days=8),
            ],
            "converted": [True, False, False, True],
        }
    )
    matched = match_outcomes(decisions, sends, 7, "converted")
    # c1/m2 went out on email, not push; c3's send came after the 7-day window.
    assert sorted(matched["send_id"]) == ["s1", "s3"]
    assert matched.set_index("send_id").loc["s3", "is_holdout"]


def test_degenerate_outcomes_say_not_computed(cfg) -> None:
    import numpy as np

    from pipelines.monitoring.outcomes import performance_metrics

    n = 80
    matched = pd.DataFrame(
        {
            "is_holdout": [False] * n,  # no hold-out outcome at all
            "channel_key": ["email"] * n,
            "label": [0] * n,  # nobody responded: one class
            "p_response": np.linspace(0.01, 0.2, n),
            "decided_at": pd.Timestamp("2025-06-01", tz="UTC"),
        }
    )
    rows, result = performance_metrics(matched, cfg)
    assert any("realised uplift: no hold-out" in m for m in result.not_computed)
    assert any("AUC: one class only" in m for m in result.not_computed)
    assert not any(r["metric"] in ("auc", "realised_uplift", "calibration_ratio") for r in rows)
    assert all(np.isfinite(r["value"]) for r in rows)
    shuffled, result2 = performance_metrics(matched.iloc[::-1].reset_index(drop=True), cfg)
    import json

    assert json.dumps(result2.to_dict(), sort_keys=True) == json.dumps(result.to_dict(), sort_keys=True)
