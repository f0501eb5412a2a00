"""The Hillstrom experiment mapped into the warehouse contract and written into a dataset of its own."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.warehouse.hillstrom.csv_file import HillstromFileError, read_hillstrom

# The outcome written into sends.converted, the label Herald trains on.
Target = Literal["visit", "conversion"]
# Each customer was put in one of the three arms at random with equal chance.
PROPENSITY = 1.0 / 3.0
CAMPAIGN_ID = "hillstrom_2008"
SEND_HOUR_UTC = 9  # one mailing hour: the send time carries no information in this experiment
MAPPING = "hillstrom"  # pipelines/warehouse/imports/mappings/hillstrom.yaml


def hillstrom_config(cfg: HeraldConfig) -> HeraldConfig:
    """The config a Hillstrom run uses: its own dataset, run state and MLflow experiment, same MLflow store.

    The MLflow store stays the caller's, so ``herald ui mlflow`` shows the experiment. Runs,
    reports, the validation volume baseline and (unless HERALD_WAREHOUSE_PATH names one) the
    embedded warehouse file move under ``HOME/hillstrom``: the real data never compares itself
    with the synthetic world, and never waits on another process's DuckDB write lock.
    """
    h = cfg.hillstrom
    return cfg.model_copy(
        update={
            "home": cfg.home / h.home_subdir,
            "mlflow_tracking_uri": cfg.tracking_uri,
            "dataset": h.dataset,
            "mlflow_experiment": h.mlflow_experiment,
            "target": "converted",
        }
    )


def campaign_window(now: datetime, days: int, end_days_ago: int) -> tuple[datetime, datetime]:
    """[start, end) of the campaign: it ends ``end_days_ago`` days before now so outcomes are complete."""
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    end = (now - timedelta(days=end_days_ago)).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=days), end


def mapping_variables(target: Target, start: datetime, days: int, seed: int) -> dict[str, Any]:
    """The ``${variables}`` of mappings/hillstrom.yaml for one campaign starting at ``start``."""
    return {
        "target": target,
        "campaign_start": start,
        "send_start": start + timedelta(hours=SEND_HOUR_UTC),
        "first_day": start.date(),
        "last_day": (start + timedelta(days=days - 1)).date(),
        "active_to": (start + timedelta(days=days - 1)).date(),  # the experiment values the campaign only
        "days": days,
        "seed": seed,
    }


def to_contract(
    raw: pd.DataFrame, target: Target, now: datetime, *, days: int = 14, end_days_ago: int = 8, seed: int = 7
) -> dict[str, pd.DataFrame]:
    """Map validated Hillstrom rows to customers, messages and sends through mappings/hillstrom.yaml.

    The mapping says how (one row = one customer = one logged decision; the arm's e-mail or the
    hold-out with propensity 1/3; the chosen outcome, ``visit`` or ``conversion``, in
    ``sends.converted``; profile columns as extra customer columns). This function only dates the
    campaign: it ends ``end_days_ago`` days before ``now``, so the 7-day attribution window is closed.
    """
    from pipelines.warehouse.imports.importer import build_tables
    from pipelines.warehouse.imports.mapping import load_mapping
    from pipelines.warehouse.imports.sources import ROW_COLUMN

    if target not in ("visit", "conversion"):
        raise HillstromFileError(f"unknown Hillstrom target {target!r}: use visit or conversion")
    start, _ = campaign_window(now, days, end_days_ago)
    mapping = load_mapping(MAPPING, mapping_variables(target, start, days, seed))
    built = build_tables(None, mapping, frames={"file": raw})
    rejected = {name: t.rejected for name, t in built.items() if t.rejected}
    if rejected:  # read_hillstrom validated every value, so a reject here is a mapping bug
        raise HillstromFileError(f"the Hillstrom mapping rejected rows of a validated file: {rejected}")
    return {name: t.frame.drop(columns=[ROW_COLUMN]) for name, t in built.items()}


@dataclass
class ImportResult:
    """What an import wrote, small enough for XCom."""

    path: str
    dataset: str
    target: str
    rows: dict[str, int]
    campaign_start: str
    campaign_end: str
    arms: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_file(
    cfg: HeraldConfig, path: str | Path | None = None, target: Target | None = None, now: datetime | None = None
) -> ImportResult:
    """Validate the CSV and write customers, messages and sends (truncate) into ``cfg``'s warehouse dataset.

    ``cfg`` is used as given (a DAG task passes its own); ``hillstrom_config(cfg)`` gives the
    isolated dataset the CLI uses. Events and reviews are not written, so those modalities are off.
    """
    from pipelines.warehouse import get_warehouse
    from pipelines.warehouse.imports.importer import write_tables
    from pipelines.warehouse.imports.mapping import load_mapping

    h = cfg.hillstrom
    source = Path(path) if path is not None else h.path
    chosen: Target = target or h.target
    raw = read_hillstrom(source)
    now = now or datetime.now(UTC)
    tables = to_contract(raw, chosen, now, days=h.campaign_days, end_days_ago=h.campaign_end_days_ago, seed=h.seed)
    if cfg.warehouse_backend == "duckdb":
        cfg.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with get_warehouse(cfg, must_exist=False) as warehouse:
        stale = [t for t in ("events", "reviews") if warehouse.has_table(t)]
    if stale:
        # The dataset would mix another source's behaviour into these customers; refuse rather than guess.
        raise HillstromFileError(
            f"dataset {cfg.dataset} already holds table(s) {', '.join(stale)} from another source; "
            f"import Hillstrom into a dataset of its own (HERALD_HILLSTROM__DATASET) or drop them"
        )
    report = write_tables(cfg, load_mapping(MAPPING), {n: _as_import(n, f) for n, f in tables.items()}, replace=True)
    rows = {name: counts["kept"] for name, counts in report.tables.items()}
    start, end = campaign_window(now, h.campaign_days, h.campaign_end_days_ago)
    return ImportResult(
        path=str(source),
        dataset=cfg.dataset,
        target=chosen,
        rows=rows,
        campaign_start=start.isoformat(),
        campaign_end=end.isoformat(),
        arms={k: int(v) for k, v in raw["segment"].value_counts().items()},
    )


def _as_import(name: str, frame: pd.DataFrame) -> Any:
    """A built table handed to the generic writer (every row kept: the file was validated)."""
    from pipelines.warehouse.imports.sources import ROW_COLUMN
    from pipelines.warehouse.imports.transform import TableImport

    rows = frame.reset_index(drop=True)
    rows.insert(0, ROW_COLUMN, pd.RangeIndex(1, len(rows) + 1))
    return TableImport(name, rows, len(rows), {}, rows)
