"""Pull the contract tables for one run from the warehouse into Parquet files in the run's folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.errors import WarehouseError
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import INPUT_TABLES

Purpose = Literal["training", "scoring", "monitoring"]


@dataclass(frozen=True)
class ExtractWindows:
    """Time windows of one extract; features are always taken as of ``feature_cutoff``."""

    as_of: datetime
    feature_cutoff: datetime
    events_from: datetime
    sends_from: datetime

    def params(self) -> dict[str, dict[str, datetime]]:
        return {
            "customers": {},
            "messages": {},
            # Up to as_of, not the cutoff: training also computes today's features as drift reference.
            "events": {"history_start": self.events_from, "as_of": self.as_of},
            "reviews": {"as_of": self.as_of},
            "sends": {"since": self.sends_from, "until": self.as_of},
        }


def extract_windows(cfg: HeraldConfig, purpose: Purpose, as_of: datetime) -> ExtractWindows:
    """Training labels come from the last label window; scoring features are as of now."""
    as_of = as_of.astimezone(UTC) if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    if purpose == "training":
        cutoff = as_of - timedelta(days=cfg.label_window_days)
    else:
        cutoff = as_of
    # A week of sends before the cutoff feeds the fatigue feature (recent sends) of the first labels.
    sends_from = (cutoff if purpose == "training" else as_of - timedelta(days=cfg.label_window_days)) - timedelta(
        days=7
    )
    return ExtractWindows(
        as_of=as_of,
        feature_cutoff=cutoff,
        events_from=cutoff - timedelta(days=cfg.event_history_days),
        sends_from=sends_from,
    )


@dataclass
class ExtractResult:
    """What an extract wrote: one Parquet file per table present, and its row counts."""

    run_dir: str
    paths: dict[str, str]
    rows: dict[str, int]
    windows: dict[str, str]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def extract_tables(cfg: HeraldConfig, run_id: str, purpose: Purpose, as_of: datetime) -> ExtractResult:
    """Run each ``extract_<table>.sql`` for the run's windows and save the rows as Parquet.

    Required tables (customers, messages, sends) must exist; optional ones (events, reviews) are
    skipped when absent, which switches their modality off downstream.
    """
    windows = extract_windows(cfg, purpose, as_of)
    out_dir = cfg.run_dir(run_id) / "extract"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    rows: dict[str, int] = {}
    with get_warehouse(cfg) as warehouse:
        present = set(warehouse.list_tables())
        for name, table in INPUT_TABLES.items():
            if name not in present:
                if table.required:
                    raise WarehouseError(
                        f"table {cfg.dataset}.{name} does not exist in the {cfg.warehouse_backend} warehouse "
                        f"({_where(cfg)}); it is required by the data contract — map it and run `herald import --mapping FILE` (or `herald world` for the demo)"
                    )
                continue
            frame = warehouse.query(f"extract_{name}", windows.params()[name])
            path = out_dir / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            paths[name] = str(path)
            rows[name] = len(frame)
    result = ExtractResult(
        run_dir=str(cfg.run_dir(run_id)),
        paths=paths,
        rows=rows,
        windows={k: v.isoformat() for k, v in asdict(windows).items()},
    )
    (out_dir / "manifest.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result


def load_extract(paths: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Read back the Parquet files of an extract (absent optional tables stay absent)."""
    return {name: pd.read_parquet(Path(path)) for name, path in paths.items()}


def _where(cfg: HeraldConfig) -> str:
    if cfg.warehouse_backend == "duckdb":
        return str(cfg.duckdb_path)
    return f"project {cfg.bigquery_project}"
