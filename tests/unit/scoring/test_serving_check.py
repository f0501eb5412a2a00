"""Training/serving consistency: scoring stops, naming the column, when rows drift from the champion's training data."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from models.preprocessing import TabularPreprocessor
from pipelines.errors import ModelInputError
from pipelines.scoring import serving_check
from pipelines.scoring.candidates import candidate_rows
from pipelines.scoring.prepare import ScoringPlan, iter_shard
from pipelines.training import features
from pipelines.training.registry import RegisteredModel

CHAMPION = RegisteredModel("herald-response", "7", "models:/herald-response/7", "lightgbm")


@dataclass
class _Estimator:
    preprocessor: TabularPreprocessor


def _training_like_rows(plan: ScoringPlan, cfg) -> pd.DataFrame:
    from datetime import datetime

    customers = next(iter_shard(plan, plan.shards[0]))
    messages = pd.read_parquet(plan.messages_path)
    actions = candidate_rows(customers, messages, cfg, datetime.fromisoformat(plan.as_of))
    actions["recent_sends_7d"] = actions["customer_id"].map(customers.set_index("customer_id")["recent_sends_7d"])
    return features.model_rows(actions, customers.drop(columns=["recent_sends_7d"]), messages)


def _use(monkeypatch: pytest.MonkeyPatch, preprocessor: TabularPreprocessor) -> None:
    monkeypatch.setattr(
        serving_check, "load_scorer", lambda cfg, champion: type("S", (), {"estimator": _Estimator(preprocessor)})()
    )


def test_rows_like_training_pass(tiny_world, tiny_plan, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, TabularPreprocessor.fit(_training_like_rows(tiny_plan, tiny_world.cfg)))
    report = serving_check.check_inputs(tiny_world.cfg, tiny_plan, CHAMPION)
    assert report["checked"] and not report["missing_columns"]


def test_unseen_categories_stop_scoring(tiny_world, tiny_plan, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _training_like_rows(tiny_plan, tiny_world.cfg)
    rows["region"] = "atlantis"  # the model only ever saw one region, none of today's
    _use(monkeypatch, TabularPreprocessor.fit(rows))
    with pytest.raises(ModelInputError, match="column region: .* unseen in training"):
        serving_check.check_inputs(tiny_world.cfg, tiny_plan, CHAMPION)


def test_missing_input_column_stops_scoring(tiny_world, tiny_plan, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _training_like_rows(tiny_plan, tiny_world.cfg).assign(crm_score=1.0)
    _use(monkeypatch, TabularPreprocessor.fit(rows))
    with pytest.raises(ModelInputError, match="column crm_score is missing"):
        serving_check.check_inputs(tiny_world.cfg, tiny_plan, CHAMPION)


def test_the_holdout_is_scored_at_a_send_hour_not_at_midnight(tiny_world, tiny_plan) -> None:
    # An imported experiment logged every send, hold-outs included, at its one mailing hour: a hold-out
    # scored at the run's 00:00 was a category the model never saw (a third of Hillstrom's rows).
    from datetime import datetime

    from pipelines.scoring.candidates import holdout_rows

    cfg = tiny_world.cfg.model_copy(update={"policy": tiny_world.cfg.policy.model_copy(update={"send_hours": [9]})})
    customers = next(iter_shard(tiny_plan, tiny_plan.shards[0]))
    midnight = datetime.fromisoformat(tiny_plan.as_of).replace(hour=0, minute=0)
    held = holdout_rows(customers, cfg, midnight)
    assert (
        set(held["send_hour"])
        == {9}
        == set(candidate_rows(customers, pd.read_parquet(tiny_plan.messages_path), cfg, midnight)["send_hour"])
    )
    assert (held["weekday"] == midnight.weekday()).all()
