"""Pull the contract tables for one run from the warehouse into Parquet files in the run's folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.errors import RowAccountingError, WarehouseError
from pipelines.warehouse import Warehouse, get_warehouse
from pipelines.warehouse.contract import INPUT_TABLES, SUPPRESSED_CUSTOMERS

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
    # Per table: source_rows = extracted (in_window + no_timestamp) + out_of_window, checked here.
    accounting: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def extract(cfg: HeraldConfig, run_id: str, purpose: Purpose, as_of: datetime) -> ExtractResult:
    """Run each ``extract_<table>.sql`` for the run's windows and save the rows as Parquet.

    Required tables (customers, messages, sends) must exist; optional ones (events, reviews) are
    skipped when absent, which switches their modality off downstream. Each table is counted too
    (``count_<table>.sql``): rows a window cannot place (a NULL timestamp) are extracted for the
    gate to reject, and extracted + out of window must equal the source rows, else
    RowAccountingError.
    """
    windows = extract_windows(cfg, purpose, as_of)
    out_dir = cfg.run_dir(run_id) / "extract"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    rows: dict[str, int] = {}
    accounting: dict[str, dict[str, int]] = {}
    with get_warehouse(cfg) as warehouse:
        present = set(warehouse.list_tables())
        ensure_suppression_table(warehouse, present)
        for name, table in INPUT_TABLES.items():
            if name not in present:
                if table.required:
                    raise WarehouseError(
                        f"table {cfg.dataset}.{name} does not exist in the {cfg.warehouse_backend} warehouse "
                        f"({_where(cfg)}); it is required by the data contract — map it and run "
                        "`herald import --mapping FILE` (or `herald world` for the demo)"
                    )
                continue
            frame = warehouse.query(f"extract_{name}", windows.params()[name])
            counted = warehouse.query(f"count_{name}", windows.params()[name]).iloc[0]
            accounting[name] = _account(name, len(frame), counted)
            path = out_dir / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            paths[name] = str(path)
            rows[name] = len(frame)
    result = ExtractResult(
        run_dir=str(cfg.run_dir(run_id)),
        paths=paths,
        rows=rows,
        windows={k: v.isoformat() for k, v in asdict(windows).items()},
        accounting=accounting,
    )
    (out_dir / "manifest.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result


def _account(table: str, extracted: int, counted: pd.Series) -> dict[str, int]:
    """The extract's row accounting of one table, checked: what the query returned is what the counts say."""
    source = int(counted["source_rows"])
    in_window, no_timestamp = int(counted["in_window"]), int(counted["no_timestamp"])
    suppressed = int(counted.get("suppressed", 0))  # forgotten customers' rows: left out on purpose
    if extracted != in_window + no_timestamp:
        raise RowAccountingError(
            f"extract of {table}: the query returned {extracted} rows but {in_window} are in the window and"
            f" {no_timestamp} have no timestamp; extract_{table}.sql and count_{table}.sql disagree"
        )
    return {
        "source_rows": source,
        "extracted": extracted,
        "in_window": in_window,
        "no_timestamp": no_timestamp,
        "suppressed": suppressed,
        "out_of_window": source - in_window - no_timestamp - suppressed,
    }


def ensure_suppression_table(warehouse: Warehouse, present: set[str] | None = None) -> None:
    """Create the empty ``suppressed_customers`` table when missing: every extract query reads it."""
    if SUPPRESSED_CUSTOMERS.name in (present if present is not None else set(warehouse.list_tables())):
        return
    empty = pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=object),
            "requested_at": pd.Series(dtype="datetime64[ns, UTC]"),
            "request_id": pd.Series(dtype=object),
            "actor": pd.Series(dtype=object),
        }
    )
    warehouse.write(SUPPRESSED_CUSTOMERS.name, empty, mode="truncate")


def load_extract(paths: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Read back the Parquet files of an extract (absent optional tables stay absent)."""
    return {name: pd.read_parquet(Path(path)) for name, path in paths.items()}


def _where(cfg: HeraldConfig) -> str:
    if cfg.warehouse_backend == "duckdb":
        return str(cfg.duckdb_path)
    return f"project {cfg.bigquery_project}"
