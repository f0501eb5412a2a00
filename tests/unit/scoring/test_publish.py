"""Publication: a scoring run's decisions appear whole, once per logical date, and never from a partial run."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.errors import WarehouseError
from pipelines.scoring.prepare import ScoringPlan
from pipelines.scoring.publish import (
    COMPLETE,
    FAILED,
    REPLACED,
    RUNNING,
    begin_run,
    mark_failed,
    publish,
    read_ledger,
)
from pipelines.scoring.shard import score_shard
from pipelines.warehouse import get_warehouse
from tests.unit.scoring.conftest import CHAMPION, TinyWorld, read_table, stand_in_scorer


def _plan(plan: ScoringPlan, day: str) -> ScoringPlan:
    # Each test publishes under a date of its own: the session's tiny world is shared.
    return replace(plan, logical_date=day)


def _score(world: TinyWorld, plan: ScoringPlan, run_id: str, shards: list[int] | None = None) -> None:
    for shard in plan.shards if shards is None else shards:
        score_shard(world.cfg, run_id, shard, plan, CHAMPION, scorer=stand_in_scorer)


def _published(world: TinyWorld, day: str) -> pd.DataFrame:
    with get_warehouse(world.cfg) as warehouse:
        if not warehouse.has_table("decisions"):
            return pd.DataFrame()  # nothing was ever published
        frame = warehouse.query("published_decisions")
    return frame[frame["logical_date"] == date.fromisoformat(day)]


def _assert_one_complete_set(world: TinyWorld, plan: ScoringPlan, run_id: str) -> None:
    day = date.fromisoformat(plan.logical_date)
    decisions = read_table(world.cfg, "decisions")
    mine = decisions[decisions["logical_date"] == pd.Timestamp(day)]
    assert set(mine["run_id"]) == {run_id}
    assert len(mine) == plan.n_customers and mine["customer_id"].is_unique
    assert len(_published(world, plan.logical_date)) == plan.n_customers
    view = read_table(world.cfg, "published_decisions")  # the view consumers query in the warehouse
    assert (view["logical_date"] == pd.Timestamp(day)).sum() == plan.n_customers
    runs = read_table(world.cfg, "scoring_runs")
    complete = runs[(runs["logical_date"] == pd.Timestamp(day)) & (runs["status"] == COMPLETE)]
    assert complete["run_id"].tolist() == [run_id]
    assert int(complete["decisions"].iloc[0]) == plan.n_customers


def test_a_partial_run_is_not_published_and_the_missing_shard_completes_it(
    tiny_world: TinyWorld, tiny_plan: ScoringPlan
) -> None:
    plan = _plan(tiny_plan, "2030-01-01")
    begin_run(tiny_world.cfg, "partial", plan.as_of)
    _score(tiny_world, plan, "partial", plan.shards[1:])  # the process died before the first shard
    with pytest.raises(WarehouseError, match=rf"shards \[{plan.shards[0]}\] staged no decisions.*re-run"):
        publish(tiny_world.cfg, "partial", plan, CHAMPION, with_segments=False)
    assert _published(tiny_world, plan.logical_date).empty
    assert read_ledger(tiny_world.cfg, "partial")["status"] == RUNNING
    _score(tiny_world, plan, "partial", plan.shards[:1])
    publish(tiny_world.cfg, "partial", plan, CHAMPION, with_segments=False)
    _assert_one_complete_set(tiny_world, plan, "partial")


def test_a_failed_shard_retried_never_duplicates(
    tiny_world: TinyWorld, tiny_plan: ScoringPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan(tiny_plan, "2030-01-02")
    calls = {"n": 0}

    def flaky(rows: pd.DataFrame) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 2:  # the second batch of the shard fails after the first was scored
            raise RuntimeError("worker lost")
        return stand_in_scorer(rows)

    target = plan.shards[1]
    _score(tiny_world, plan, "flaky", [s for s in plan.shards if s != target])
    with pytest.raises(RuntimeError, match="worker lost"):
        score_shard(tiny_world.cfg, "flaky", target, plan, CHAMPION, scorer=flaky)
    for _ in range(2):  # Airflow's retry, then a manual clear of the same task
        score_shard(tiny_world.cfg, "flaky", target, plan, CHAMPION, scorer=stand_in_scorer)
    publish(tiny_world.cfg, "flaky", plan, CHAMPION, with_segments=False)
    _assert_one_complete_set(tiny_world, plan, "flaky")


def test_the_same_date_twice_keeps_one_set_the_latest(tiny_world: TinyWorld, tiny_plan: ScoringPlan) -> None:
    plan = _plan(tiny_plan, "2030-01-03")
    for run_id in ("first", "second"):
        begin_run(tiny_world.cfg, run_id, plan.as_of)
        _score(tiny_world, plan, run_id)
        publish(tiny_world.cfg, run_id, plan, CHAMPION, with_segments=False)
    _assert_one_complete_set(tiny_world, plan, "second")
    assert read_ledger(tiny_world.cfg, "first")["status"] == REPLACED
    staged = read_table(tiny_world.cfg, "decisions_staging")
    assert not (staged["logical_date"] == pd.Timestamp(plan.logical_date)).any()  # staging cleared


def test_publication_is_one_transaction(tiny_world: TinyWorld, tiny_plan: ScoringPlan) -> None:
    plan = _plan(tiny_plan, "2030-01-04")
    _score(tiny_world, plan, "kept")
    publish(tiny_world.cfg, "kept", plan, CHAMPION, with_segments=False)
    _score(tiny_world, plan, "broken")
    day = date.fromisoformat(plan.logical_date)
    ledger = {"logical_date": day, "run_id": "broken", "status": COMPLETE, "started_at": pd.Timestamp.now("UTC")}
    # The decisions swap runs first; the segments count is wrong, so everything must roll back.
    with get_warehouse(tiny_world.cfg) as warehouse, pytest.raises(WarehouseError, match="customer_segments"):
        warehouse.publish_run(
            day,
            "broken",
            {"decisions": "decisions_staging", "customer_segments": "customer_segments_staging"},
            {"decisions": plan.n_customers, "customer_segments": plan.n_customers},
            ledger,
        )
    _assert_one_complete_set(tiny_world, plan, "kept")


def test_ledger_marks_failed_runs_but_never_downgrades_a_published_one(
    tiny_world: TinyWorld, tiny_plan: ScoringPlan
) -> None:
    plan = _plan(tiny_plan, "2030-01-05")
    record = begin_run(tiny_world.cfg, "dies", plan.as_of)
    assert record["logical_date"] == pd.Timestamp(plan.as_of).date().isoformat()
    mark_failed(tiny_world.cfg, "dies", "score_shard: worker lost")
    assert read_ledger(tiny_world.cfg, "dies")["status"] == FAILED
    _score(tiny_world, plan, "lives")
    publish(tiny_world.cfg, "lives", plan, CHAMPION, with_segments=False)
    mark_failed(tiny_world.cfg, "lives", "a late callback")
    begin_run(tiny_world.cfg, "lives", plan.as_of)  # Airflow re-running a finished run
    assert read_ledger(tiny_world.cfg, "lives")["status"] == COMPLETE
    _assert_one_complete_set(tiny_world, plan, "lives")
