"""The one warehouse interface: run a query file, write a table, describe what is there."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pandas as pd

QUERIES_DIR = Path(__file__).parent / "queries"

WriteMode = Literal["truncate", "replace_run"]


def query_path(name: str) -> Path:
    """Resolve a query name (``extract_customers``) to its BigQuery-dialect ``.sql`` file."""
    path = QUERIES_DIR / f"{name.removesuffix('.sql')}.sql"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in QUERIES_DIR.glob("*.sql")))
        raise FileNotFoundError(f"no query file {path.name} in {QUERIES_DIR} (known: {known})")
    return path


class Warehouse(abc.ABC):
    """A dataset of tables. SQL files name tables unqualified; the implementation binds the dataset.

    Query parameters are written ``@name`` in the SQL (BigQuery named parameters) and passed as a
    mapping of Python values (str, int, float, bool, date, datetime, list of str).
    """

    dataset: str

    @abc.abstractmethod
    def query(self, name: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run the query file ``queries/<name>.sql`` and return all rows."""

    @abc.abstractmethod
    def iter_query(
        self, name: str, params: Mapping[str, Any] | None = None, batch_rows: int = 50_000
    ) -> Iterator[pd.DataFrame]:
        """Run a query file and stream its rows in batches, so memory stays bounded."""

    @abc.abstractmethod
    def write(
        self,
        table: str,
        frame: pd.DataFrame,
        mode: WriteMode = "truncate",
        run_filter: Mapping[str, Any] | None = None,
    ) -> int:
        """Write ``frame`` to ``table`` atomically and return the rows written.

        ``truncate`` replaces the whole table. ``replace_run`` deletes the rows matching
        ``run_filter`` (e.g. ``{"run_id": r, "shard": 3}``) and inserts ``frame`` in one
        transaction, so a retried run replaces exactly its own rows and a reader never sees a
        half-written run.
        """

    @abc.abstractmethod
    def publish_run(
        self,
        logical_date: date,
        run_id: str,
        swaps: Mapping[str, str],
        expected: Mapping[str, int],
        ledger: Mapping[str, Any],
        ledger_table: str = "scoring_runs",
    ) -> dict[str, int]:
        """Make one run the only visible one for ``logical_date``, in a single transaction.

        ``swaps`` maps each target table to its staging twin (both with ``logical_date`` and
        ``run_id`` columns). For each pair the target's rows of ``logical_date`` are deleted, the
        staging rows of (``logical_date``, ``run_id``) inserted, and the staging rows of that date
        dropped (a killed earlier attempt's leftovers included). The run must bring exactly
        ``expected[target]`` rows per target, else nothing changes (WarehouseError). The ledger's
        other ``complete`` run of that date becomes ``replaced`` and ``ledger`` (one row, this
        run's) replaces the run's ledger row. Returns rows inserted per target.
        """

    @abc.abstractmethod
    def list_tables(self) -> list[str]:
        """Table names in the dataset."""

    @abc.abstractmethod
    def describe(self, table: str) -> dict[str, str]:
        """Column name to BigQuery type for ``table``; raises WarehouseError if it does not exist."""

    def has_table(self, table: str) -> bool:
        return table in self.list_tables()

    def close(self) -> None:  # noqa: B027 - optional for implementations without connections
        """Release connections."""

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
