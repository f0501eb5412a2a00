"""Customer segments: k-means over the model's customer representation, written once per run id."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from models.preprocessing import TabularPreprocessor
from pipelines.scoring.prepare import ScoringPlan, iter_shard
from pipelines.scoring.segments import customer_representation, segments
from tests.unit.scoring.conftest import CHAMPION, TinyWorld, read_table


def _all_customers(plan: ScoringPlan) -> pd.DataFrame:
    return pd.concat([b for s in plan.shards for b in iter_shard(plan, s)], ignore_index=True)


def test_segments_written_once_per_run_with_profiles(tiny_world: TinyWorld, tiny_plan: ScoringPlan) -> None:
    customers = _all_customers(tiny_plan)
    prep = TabularPreprocessor.fit(customers.drop(columns=["evt_sequence"]), exclude=["gender", "age_band"])
    estimator = SimpleNamespace(preprocessor=prep)
    cfg = tiny_world.cfg
    for _ in range(2):  # a retried task replaces its rows
        result = segments(cfg, "seg-run", tiny_plan, CHAMPION, estimator=estimator)
    table = read_table(cfg, "customer_segments_staging")  # visible in customer_segments once published
    mine = table[table["run_id"] == "seg-run"]
    assert len(mine) == tiny_plan.n_customers and mine["customer_id"].is_unique
    assert mine["segment"].nunique() == cfg.policy.segments == result["k"]
    sizes = [p["size"] for p in result["profiles"]]
    assert sum(sizes) == tiny_plan.n_customers and sizes == sorted(sizes, reverse=True)
    assert any(p["top_categories"] for p in result["profiles"])  # a segment of customers without events has none
    assert any(p["response_rate"] is not None for p in result["profiles"])


def test_model_embeddings_are_preferred_when_exposed(tiny_plan: ScoringPlan) -> None:
    class Embedder:
        def customer_embeddings(self, rows: pd.DataFrame) -> np.ndarray:
            return np.column_stack([rows["tenure_days"].to_numpy(float), np.ones(len(rows))])

    batch = next(iter_shard(tiny_plan, tiny_plan.shards[0]))
    x = customer_representation(Embedder(), batch)
    assert x.shape == (len(batch), 2)
