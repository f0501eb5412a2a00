"""A clean tiny world, written to DuckDB and extracted once, that each validation test copies and breaks."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines.config import HeraldConfig, load_config

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


@dataclass
class CleanWorld:
    """Where the shared world lives and its clean scoring extract."""

    root: Path
    db: Path
    assets: Path
    extracted: dict[str, Any]
    frames: dict[str, pd.DataFrame]

    def config(self, home: Path) -> HeraldConfig:
        """A config with its own HERALD_HOME (reports, runs, volume baseline) over the shared warehouse."""
        return load_config(home=home, warehouse_path=self.db, assets_uri=str(self.assets), world={"size": "tiny"})

    def extract(
        self, cfg: HeraldConfig, run_id: str, mutate: Callable[[dict[str, pd.DataFrame]], None] | None = None
    ) -> dict[str, Any]:
        """A copy of the clean extract in ``run_id``'s folder, after ``mutate`` edited the frames in place."""
        frames = {name: frame.copy() for name, frame in self.frames.items()}
        if mutate:
            mutate(frames)
        out = cfg.run_dir(run_id) / "extract"
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, frame in frames.items():
            paths[name] = str(out / f"{name}.parquet")
            frame.to_parquet(paths[name], index=False)
        return {
            # The clean extract's row accounting does not describe edited frames: hand them over uncounted.
            **{k: v for k, v in self.extracted.items() if k != "accounting"},
            "run_dir": str(cfg.run_dir(run_id)),
            "paths": paths,
            "rows": {n: len(f) for n, f in frames.items()},
        }


@pytest.fixture(scope="session")
def clean_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CleanWorld]:
    from pipelines.synthetic import generate_world, write_world
    from pipelines.warehouse import get_warehouse
    from pipelines.warehouse.extract import extract

    root = tmp_path_factory.mktemp("herald_validation")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HERALD_HOME", str(root / "home"))
        cfg = load_config(world={"size": "tiny"})
        world = generate_world(cfg.world, cfg.channels, cfg.policy.send_hours, NOW)
        with get_warehouse(cfg, must_exist=False) as warehouse:
            write_world(world, warehouse, cfg.assets_dir)
        extracted = extract(cfg, "clean", "scoring", NOW).to_dict()
        frames = {n: pd.read_parquet(p) for n, p in extracted["paths"].items()}
        yield CleanWorld(root, cfg.duckdb_path, cfg.assets_dir, extracted, frames)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def case_cfg(clean_world: CleanWorld, tmp_path: Path) -> HeraldConfig:
    """A fresh HERALD_HOME per test so volume baselines and reports never leak between cases."""
    return clean_world.config(tmp_path / "home")
