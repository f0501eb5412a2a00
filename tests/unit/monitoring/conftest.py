"""Monitoring fixtures: tiny worlds at a fixed instant and a scratch warehouse (receivers: tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest

from pipelines.config import HeraldConfig, WorldSettings, load_config

T = datetime(2026, 3, 1, tzinfo=UTC)


@lru_cache(maxsize=8)
def world(seed: int = 7, drift: float = 0.0, bias: float = 0.0):
    from pipelines.synthetic import generate_world

    cfg = load_config()
    return generate_world(
        WorldSettings(size="tiny", seed=seed, drift=drift, bias=bias), cfg.channels, cfg.policy.send_hours, T
    )


def features_at(w, at: datetime) -> pd.DataFrame:
    """Customer features as the pipelines compute them, for customers who had signed up by ``at``."""
    from pipelines.training.profiles import customer_features

    customers = w.customers[pd.to_datetime(w.customers["signup_date"]) < pd.Timestamp(at.date())]
    return customer_features(customers, w.events, w.reviews, at, load_config().region_timezones, 60)


def days(n: float) -> timedelta:
    return timedelta(days=n)


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HeraldConfig:
    monkeypatch.setenv("HERALD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HERALD_WORLD__SIZE", "tiny")
    config = load_config()
    write_tables(config, world().tables())
    return config


def write_tables(cfg: HeraldConfig, tables: dict[str, pd.DataFrame]) -> None:
    from pipelines.warehouse import get_warehouse

    with get_warehouse(cfg, must_exist=False) as warehouse:
        for name, frame in tables.items():
            warehouse.write(name, frame, mode="truncate")
