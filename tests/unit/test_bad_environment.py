"""Bad environment input stops with one clear line naming what is wrong, and writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.config import load_config
from pipelines.errors import RegistryError, WarehouseError


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HERALD_HOME", str(tmp_path))
    return load_config()


def test_missing_warehouse_file_is_named(cfg) -> None:
    from pipelines.warehouse.extract import extract

    with pytest.raises(WarehouseError) as info:
        extract(cfg, "run-1", "training", datetime.now(UTC))
    assert str(cfg.duckdb_path) in str(info.value) and "\n" not in str(info.value)
    assert not cfg.duckdb_path.exists(), "a failed extract must not create an empty warehouse"


def test_missing_required_table_is_named(cfg) -> None:
    import pandas as pd

    from pipelines.warehouse import get_warehouse
    from pipelines.warehouse.extract import extract

    with get_warehouse(cfg, must_exist=False) as warehouse:
        warehouse.write("customers", pd.DataFrame({"customer_id": ["c1"]}))
    with pytest.raises(WarehouseError, match=r"herald\.messages"):
        extract(cfg, "run-1", "training", datetime.now(UTC))


def test_unreachable_mlflow_is_one_line(cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.tracking import connect

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    unreachable = cfg.model_copy(update={"mlflow_tracking_uri": "http://127.0.0.1:9"})
    with pytest.raises(RegistryError) as info:
        connect(unreachable)
    assert "http://127.0.0.1:9" in str(info.value) and "\n" not in str(info.value)


def test_scoring_without_a_champion_says_what_to_run(cfg) -> None:
    from pipelines.training.registry import load_champion

    with pytest.raises(RegistryError, match="herald_training"):
        load_champion(cfg)
