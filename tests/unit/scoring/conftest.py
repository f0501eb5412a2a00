"""A tiny synthetic world, extracted and prepared for scoring once per session, and a stand-in scorer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.config import HeraldConfig
from pipelines.scoring.prepare import ScoringPlan
from pipelines.training.registry import RegisteredModel

CHAMPION = RegisteredModel("herald-response", "7", "models:/herald-response/7", "stand-in")


def stand_in_scorer(rows: pd.DataFrame) -> np.ndarray:
    """A deterministic P(response): email at 8 helps most, some messages more than others; no MLflow needed."""
    base = 0.03 + 0.02 * (pd.to_numeric(rows.get("evt_n_purchase", 0), errors="coerce").fillna(0) > 0)
    hold = rows["message_id"].isna().to_numpy()
    msg = rows["message_id"].astype(str).str[-1:].map(lambda d: int(d) if d.isdigit() else 0).to_numpy()
    lift = 0.004 * msg + np.where(rows["channel"].to_numpy() == "email", 0.01, 0.002)
    lift = lift + np.where(pd.to_numeric(rows["send_hour"], errors="coerce").to_numpy() == 8, 0.003, 0.0)
    return np.where(hold, base, base + lift).astype(float)


WORLD_DATE = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@dataclass
class TinyWorld:
    cfg: HeraldConfig
    extract_paths: dict[str, str]
    as_of: datetime


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> TinyWorld:
    from pipelines.config import load_config
    from pipelines.synthetic import build_world
    from pipelines.warehouse.extract import extract

    home = tmp_path_factory.mktemp("herald_scoring")
    cfg = load_config(home=home, world={"size": "tiny"})
    # A fixed instant: the world (seeded) is then the same on every run, so tests that draw from it,
    # like the off-policy coverage check, are reproducible rather than right "in most runs".
    now = WORLD_DATE
    build_world(cfg, now=now)
    extracted = extract(cfg, "tiny-extract", "scoring", now)
    return TinyWorld(cfg, extracted.paths, now)


@pytest.fixture(scope="session")
def tiny_plan(tiny_world: TinyWorld) -> ScoringPlan:
    from pipelines.scoring.prepare import prepare

    cfg = tiny_world.cfg.model_copy(update={"scoring_batch_customers": 40})
    return prepare(cfg, "tiny-plan", tiny_world.extract_paths, tiny_world.as_of)


def read_table(cfg: HeraldConfig, table: str) -> pd.DataFrame:
    import duckdb

    with duckdb.connect(str(cfg.duckdb_path), read_only=True) as con:
        return con.sql(f"SELECT * FROM {cfg.dataset}.{table}").df()


@pytest.fixture
def home(tiny_world: TinyWorld) -> Path:
    return tiny_world.cfg.home
