"""`herald check`: every way the warehouse breaks the data contract, found at once, each with its fix.

Structure comes from the catalogue (tables, columns, types); data rules run as small query files,
only on tables whose structure holds, so a broken table yields its structural faults, never a
DuckDB Binder Error. Runs in seconds and never starts Airflow; the DAGs run it before extracting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.config import HeraldConfig
from pipelines.errors import WarehouseError
from pipelines.warehouse.contract import INPUT_TABLES

PURPOSES = ("training", "scoring", "monitoring")
# A column of these types may hold a contract column of the key's type without loss.
WIDENS = {("INT64", "FLOAT64"), ("INT64", "NUMERIC"), ("NUMERIC", "FLOAT64")}
IMPORT_FIX = "fix the mapping and re-run `herald import --mapping FILE`, or correct your view"


@dataclass(frozen=True)
class Fault:
    """One contract mismatch: where (table, column), which rule, what was found, and how to fix it."""

    table: str
    column: str | None
    rule: str
    observed: str
    fix: str
    # False for row faults the validation gate quarantines within its tolerance: `herald check` reports
    # them, but a DAG run only stops for blocking ones (its gate then accounts for the rows).
    blocking: bool = True

    def line(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{where}: {self.rule} — {self.observed}. Fix: {self.fix}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ContractError(WarehouseError):
    """The warehouse breaks the data contract; the message lists every fault with its fix."""

    def __init__(self, faults: list[Fault], where: str) -> None:
        self.faults = faults
        lines = "\n  ".join(f.line() for f in faults)
        super().__init__(
            f"the warehouse ({where}) breaks the data contract in {len(faults)} "
            f"place{'s' * (len(faults) != 1)}:\n  {lines}"
        )


def check_warehouse(
    cfg: HeraldConfig, as_of: datetime | None = None, purposes: tuple[str, ...] = PURPOSES
) -> list[Fault]:
    """Every fault of the configured warehouse, for runs of ``purposes`` as of ``as_of`` (default now)."""
    from pipelines.warehouse import get_warehouse
    from pipelines.warehouse.check_data import data_faults

    as_of = (
        (as_of or datetime.now(UTC)).astimezone(UTC) if (as_of is None or as_of.tzinfo) else as_of.replace(tzinfo=UTC)
    )
    if cfg.warehouse_backend == "duckdb" and not cfg.duckdb_path.is_file():
        return [
            Fault(
                "warehouse",
                None,
                "exists",
                f"no warehouse file at {cfg.duckdb_path}",
                "run `herald import --mapping FILE` with your data (or `herald world` for the demo), "
                "or point HERALD_WAREHOUSE_PATH / HERALD_HOME at the warehouse",
            )
        ]
    try:
        with get_warehouse(cfg) as warehouse:
            tables = set(warehouse.list_tables())
            columns = {t: warehouse.describe(t) for t in INPUT_TABLES if t in tables}
            faults = structure_faults(cfg, columns)
            broken = {f.table for f in faults}
            faults += data_faults(cfg, warehouse, as_of, purposes, {t for t in columns if t not in broken})
    except WarehouseError as exc:
        return [
            Fault(
                "warehouse",
                None,
                "readable",
                str(exc),
                "check HERALD_WAREHOUSE_BACKEND, HERALD_DATASET and credentials",
            )
        ]
    return faults


def enforce_contract(cfg: HeraldConfig, as_of: datetime, purpose: str) -> None:
    """Raise ContractError listing every fault for one run (what a DAG does before it extracts)."""
    faults = [f for f in check_warehouse(cfg, as_of, (purpose,)) if f.blocking]
    if faults:
        where = (
            str(cfg.duckdb_path)
            if cfg.warehouse_backend == "duckdb"
            else f"BigQuery {cfg.bigquery_project}.{cfg.dataset}"
        )
        raise ContractError(faults, f"{where}, dataset {cfg.dataset}")


def structure_faults(cfg: HeraldConfig, columns: dict[str, dict[str, str]]) -> list[Fault]:
    """Missing tables and columns, wrong types, naive timestamps, channels without a consent column."""
    faults: list[Fault] = []
    for name, table in INPUT_TABLES.items():
        if name not in columns:
            if table.required:
                faults.append(
                    Fault(
                        name,
                        None,
                        "table exists",
                        f"dataset {cfg.dataset} has no table {name}",
                        f"map it under tables.{name} in your mapping file and run `herald import --mapping FILE`, "
                        f"or create a view {cfg.dataset}.{name}",
                    )
                )
            continue
        have = columns[name]
        for col in table.columns:
            found = have.get(col.name)
            if found is None:
                if col.required:
                    faults.append(
                        Fault(
                            name,
                            col.name,
                            "column exists",
                            f"table {name} has no column {col.name} ({col.type})",
                            f"add tables.{name}.columns.{col.name} to the mapping and re-run "
                            "`herald import --mapping FILE`, "
                            "or alias the column in your view",
                        )
                    )
                continue
            if found == col.type or (found, col.type) in WIDENS:
                continue
            if col.type == "TIMESTAMP" and found == "DATETIME":
                faults.append(
                    Fault(
                        name,
                        col.name,
                        "timestamp has a time zone",
                        "naive timestamp (no zone): instants cannot be compared",
                        "set timezone: in the mapping and re-run `herald import` (it localises naive times), "
                        f"or in your view use TIMESTAMP({col.name}, 'Area/City')",
                    )
                )
                continue
            faults.append(
                Fault(
                    name,
                    col.name,
                    f"type is {col.type}",
                    f"column is {found}",
                    f"{IMPORT_FIX} (herald import coerces to {col.type}; or CAST({col.name} AS {col.type}))",
                )
            )
    customers = columns.get("customers")
    if customers is not None:
        for channel in cfg.channels:
            consent = f"consent_{channel}"
            if consent in customers:
                if customers[consent] != "BOOL":
                    faults.append(
                        Fault("customers", consent, "type is BOOL", f"column is {customers[consent]}", IMPORT_FIX)
                    )
            elif channel not in cfg.implied_consent_channels:
                faults.append(
                    Fault(
                        "customers",
                        consent,
                        "consent recorded for every channel",
                        f"channel {channel} is configured (HERALD_CHANNELS={cfg.channels}) "
                        f"but customers has no {consent}",
                        f"add {consent} (BOOL) to customers, set HERALD_IMPLIED_CONSENT_CHANNELS='[\"{channel}\"]' "
                        f"if consent is implied, or drop {channel} from HERALD_CHANNELS",
                    )
                )
    return faults
