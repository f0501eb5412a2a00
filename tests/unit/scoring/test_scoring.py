"""Batch scoring on the tiny world: consent, robustness to odd history, idempotent and crash-safe writes, budgets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pipelines.errors import WarehouseError
from pipelines.policy.choice import CAMPAIGN_BUDGET, EXPLORE, NO_CONSENT
from pipelines.scoring.budget import allocate_budget
from pipelines.scoring.decisions import decision_summary
from pipelines.scoring.prepare import ScoringPlan, iter_shard, prepare
from pipelines.scoring.publish import publish
from pipelines.scoring.shard import score_shard
from pipelines.warehouse.contract import DECISIONS
from tests.unit.scoring.conftest import CHAMPION, TinyWorld, read_table, stand_in_scorer


def _run(world: TinyWorld, plan: ScoringPlan, run_id: str, cfg=None) -> list[dict]:
    cfg = cfg or world.cfg
    results = [score_shard(cfg, run_id, s, plan, CHAMPION, scorer=stand_in_scorer) for s in plan.shards]
    allocate_budget(cfg, run_id, plan, CHAMPION)
    return results


def _decisions(world: TinyWorld, run_id: str) -> pd.DataFrame:
    # Shards stage their decisions; publication (tests/unit/scoring/test_publish.py) makes them visible.
    frame = read_table(world.cfg, "decisions_staging")
    return frame[frame["run_id"] == run_id].sort_values("customer_id").reset_index(drop=True)


def test_shards_stream_in_bounded_batches(tiny_plan: ScoringPlan) -> None:
    sizes = [len(b) for s in tiny_plan.shards for b in iter_shard(tiny_plan, s)]
    assert max(sizes) <= tiny_plan.batch_customers == 40
    assert sum(sizes) == tiny_plan.n_customers
    assert all(tiny_plan.shard_path(s).is_file() for s in tiny_plan.shards)


def test_no_message_ever_goes_out_without_consent(tiny_world: TinyWorld, tiny_plan: ScoringPlan) -> None:
    _run(tiny_world, tiny_plan, "consent")
    decisions = _decisions(tiny_world, "consent")
    customers = read_table(tiny_world.cfg, "customers")
    assert sorted(decisions["customer_id"]) == sorted(customers["customer_id"])
    merged = decisions.merge(customers, on="customer_id")
    for channel in tiny_world.cfg.channels:
        refused = ~merged[f"consent_{channel}"].fillna(False).astype(bool)
        assert not (refused & (merged["channel"] == channel)).any(), f"a {channel} message without consent"
    nobody = ~merged[[f"consent_{c}" for c in tiny_world.cfg.channels]].fillna(False).astype(bool).any(axis=1)
    assert nobody.any(), "the tiny world should hold customers without any consent"
    blocked = merged[nobody]
    assert blocked["message_id"].isna().all()
    # Unsubscribed customers are reported as such even when they also lack consent; everyone else: no_consent.
    assert set(blocked["reason"]) <= {NO_CONSENT, "unsubscribed", "frequency_cap"}
    assert (blocked["reason"] == NO_CONSENT).any()
    assert decisions.loc[decisions["message_id"].isna(), "reason"].notna().all()
    assert ((decisions["propensity"] > 0) & (decisions["propensity"] <= 1)).all()
    assert (decisions["model_name"] == CHAMPION.name).all() and (decisions["model_version"] == CHAMPION.version).all()


def test_unknown_message_in_history_does_not_crash(tiny_world: TinyWorld, tmp_path) -> None:
    paths = dict(tiny_world.extract_paths)
    sends = pd.read_parquet(paths["sends"])
    odd = sends.head(3).assign(send_id=["x1", "x2", "x3"], message_id="m_not_in_catalogue", channel="email")
    path = tmp_path / "sends.parquet"
    pd.concat([sends, odd], ignore_index=True).to_parquet(path, index=False)
    paths["sends"] = str(path)
    plan = prepare(tiny_world.cfg, "odd-history", paths, tiny_world.as_of)
    results = _run(tiny_world, plan, "odd-history")
    assert sum(r["decisions"] for r in results) == plan.n_customers


def test_same_run_twice_leaves_the_table_unchanged(tiny_world: TinyWorld, tiny_plan: ScoringPlan) -> None:
    _run(tiny_world, tiny_plan, "twice")
    first = _decisions(tiny_world, "twice")
    _run(tiny_world, tiny_plan, "twice")
    second = _decisions(tiny_world, "twice")
    assert first["customer_id"].is_unique and len(first) == tiny_plan.n_customers
    pd.testing.assert_frame_equal(first, second)


def test_crash_mid_write_rolls_back_and_retry_leaves_one_copy(
    tiny_world: TinyWorld, tiny_plan: ScoringPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.scoring.decisions as decisions

    shard = tiny_plan.shards[0]
    score_shard(tiny_world.cfg, "crash", shard, tiny_plan, CHAMPION, scorer=stand_in_scorer)
    before = _decisions(tiny_world, "crash")
    real = decisions._decision_table

    def broken(*args, **kwargs) -> pd.DataFrame:
        # A NULL in a NOT NULL column fails the INSERT after the DELETE ran, inside the transaction.
        table = real(*args, **kwargs)
        table.loc[table.index[-1], "customer_id"] = None
        return table

    monkeypatch.setattr(decisions, "_decision_table", broken)
    with pytest.raises(WarehouseError):
        score_shard(tiny_world.cfg, "crash", shard, tiny_plan, CHAMPION, scorer=stand_in_scorer)
    pd.testing.assert_frame_equal(_decisions(tiny_world, "crash"), before)
    monkeypatch.setattr(decisions, "_decision_table", real)
    score_shard(tiny_world.cfg, "crash", shard, tiny_plan, CHAMPION, scorer=stand_in_scorer)
    after = _decisions(tiny_world, "crash")
    assert after["customer_id"].is_unique and len(after) == len(before)
    assert list(after.columns) == DECISIONS.column_names


def test_campaign_budget_holds_across_shards(tiny_world: TinyWorld, tiny_plan: ScoringPlan) -> None:
    budget = 6
    greedy = tiny_world.cfg.model_copy(update={"policy": tiny_world.cfg.policy.model_copy(update={"epsilon": 0.0})})
    cfg = greedy.model_copy(update={"policy": greedy.policy.model_copy(update={"campaign_budget_per_run": budget})})
    results = _run(tiny_world, tiny_plan, "budget", cfg)
    assert all(r["budget_pending"] for r in results)
    decisions = _decisions(tiny_world, "budget")
    assert len(decisions) == tiny_plan.n_customers and decisions["customer_id"].is_unique
    messages = read_table(tiny_world.cfg, "messages").set_index("message_id")["campaign_id"]
    per_campaign = decisions["message_id"].dropna().map(messages).value_counts()
    assert (per_campaign <= budget).all()
    assert (decisions["reason"] == CAMPAIGN_BUDGET).any(), "the budget should bind on the tiny world"
    # The unconstrained policy would have sent more: the budget removed sends, it did not add any.
    # Its run is made here, so the test does not depend on another test's staged rows.
    _run(tiny_world, tiny_plan, "budget-free", greedy)
    free = _decisions(tiny_world, "budget-free")
    assert decisions["message_id"].notna().sum() < free["message_id"].notna().sum()
    assert ((decisions["propensity"] - 1.0).abs() < 1e-12).all()  # ε = 0: every action is the greedy one


def test_summary_reports_mix_and_estimated_value(tiny_world: TinyWorld, tiny_plan: ScoringPlan) -> None:
    plan = replace(tiny_plan, logical_date="2031-01-01")  # a date of its own: publishing replaces a date's run
    _run(tiny_world, plan, "summary")
    publish(tiny_world.cfg, "summary", plan, CHAMPION, with_segments=False)
    summary = decision_summary(tiny_world.cfg, "summary")
    assert summary["decisions"] == tiny_plan.n_customers
    assert set(summary["per_channel"]) <= set(tiny_world.cfg.channels)
    assert 0.0 <= summary["holdout_share"] <= 1.0 and 0.0 <= summary["explored_share"] <= 1.0
    assert summary["estimated_policy_value"] >= summary["estimated_holdout_value"] - 1e-12
    assert np.isfinite(summary["estimated_policy_value"])


def test_explored_share_is_near_epsilon(tiny_world: TinyWorld, tiny_plan: ScoringPlan) -> None:
    cfg = tiny_world.cfg.model_copy(update={"policy": tiny_world.cfg.policy.model_copy(update={"epsilon": 0.5})})
    _run(tiny_world, tiny_plan, "explore", cfg)
    decisions = _decisions(tiny_world, "explore")
    scored = decisions[decisions["policy"].isin(["exploit", EXPLORE])]
    assert 0.35 < (scored["policy"] == EXPLORE).mean() < 0.65
