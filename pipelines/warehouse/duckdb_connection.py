"""Opening a connection to the DuckDB warehouse: wait out another process's write lock, then bind the dataset."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from pipelines.errors import WarehouseError
from pipelines.warehouse.duckdb_errors import HINT
from pipelines.warehouse.duckdb_types import quote

# How long a task waits for another process's write lock on the file before it gives up. Parallel
# tasks on a distributed executor (Celery workers, mapped scoring shards) each hold it for moments.
LOCK_WAIT_S = 60.0


def open_connection(
    path: str | Path,
    dataset: str,
    *,
    read_only: bool,
    memory: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection to ``path`` (a cursor of ``memory`` when given) in UTC with ``dataset`` on the search path.

    A writable connection creates the dataset's schema; a read-only one fails when it is missing.
    """
    deadline = time.monotonic() + LOCK_WAIT_S
    pause = 0.05
    while True:
        try:
            if memory is not None:
                con = memory.cursor()
            else:
                con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            first = str(exc).splitlines()[0]
            if "lock" in first.lower() and time.monotonic() < deadline:
                time.sleep(pause)  # another task holds the file for a moment: wait our turn
                pause = min(pause * 2, 1.0)
                continue
            raise WarehouseError(
                f"cannot open warehouse file {path} ({first}); another process may be writing it"
            ) from None
    try:
        # Timestamps are instants (BigQuery semantics): compare and render them in UTC, whatever the host.
        con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(dataset)}")
        elif not schema_exists(con, dataset):
            raise WarehouseError(f"dataset {dataset} does not exist in warehouse file {path}; {HINT}")
        # SQL files name tables unqualified; the search path binds them to the dataset.
        con.execute(f"SET search_path = '{dataset}'")
    except BaseException:
        con.close()
        raise
    return con


def schema_exists(con: duckdb.DuckDBPyConnection, dataset: str) -> bool:
    """Whether the connected database has the schema ``dataset``."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ? AND catalog_name = current_database()",
        [dataset],
    ).fetchone()
    return bool(row and row[0])
