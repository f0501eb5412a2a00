"""The embedded warehouse: a DuckDB file whose schema plays the BigQuery dataset and runs the same SQL files."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipelines.errors import WarehouseError
from pipelines.warehouse.base import Warehouse, WriteMode
from pipelines.warehouse.duckdb_connection import open_connection
from pipelines.warehouse.duckdb_errors import HINT, translate_error
from pipelines.warehouse.duckdb_types import bigquery_type, create_table_sql, quote, typed_select
from pipelines.warehouse.frames import arrow_to_pandas, plain_value, with_run_filter
from pipelines.warehouse.sql import duckdb_sql, parameter_names

MEMORY = ":memory:"
_FRAME_VIEW = "_herald_frame"


class DuckDBWarehouse(Warehouse):
    """Tables in the DuckDB schema ``dataset`` of the file ``path``; connections are opened per call.

    Short-lived connections matter: DuckDB lets one process write a file at a time, and Airflow runs
    each task in its own process, so holding a connection open would lock out the next task.
    """

    def __init__(
        self,
        path: str | Path,
        dataset: str = "herald",
        *,
        read_only: bool = False,
        must_exist: bool = True,
    ) -> None:
        if not dataset.isidentifier():
            raise WarehouseError(f"dataset name {dataset!r} must be a plain identifier")
        self.dataset = dataset
        self.read_only = read_only
        self.path = path if str(path) == MEMORY else Path(path)
        self._memory: duckdb.DuckDBPyConnection | None = None
        if self.path == MEMORY:
            # An in-memory database dies with its last connection, so keep one for the object's life.
            self._memory = duckdb.connect(MEMORY)
            return
        assert isinstance(self.path, Path)
        if not self.path.is_file():
            if must_exist or read_only:
                raise WarehouseError(f"warehouse file {self.path} does not exist; {HINT} or set HERALD_WAREHOUSE_PATH")
            self.path.parent.mkdir(parents=True, exist_ok=True)

    # ---- connections -----------------------------------------------------------------
    def _open(self) -> duckdb.DuckDBPyConnection:
        return open_connection(self.path, self.dataset, read_only=self.read_only, memory=self._memory)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._open()
        try:
            yield con
        finally:
            con.close()

    def _qualified(self, table: str) -> str:
        return f"{quote(self.dataset)}.{quote(table)}"

    # ---- reading ---------------------------------------------------------------------
    def _prepare(self, name: str, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any] | None]:
        sql = duckdb_sql(name)
        needed = parameter_names(name)
        given = dict(params or {})
        missing = [p for p in needed if p not in given]
        if missing:
            raise WarehouseError(f"query {name} needs parameter(s) {', '.join(missing)}")
        # DuckDB rejects parameters the statement does not use (BigQuery ignores them): pass only the used ones.
        bound = {p: plain_value(given[p]) for p in needed}
        return sql, bound or None

    def query(self, name: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        sql, bound = self._prepare(name, params)
        with self._connection() as con:
            try:
                table = con.sql(sql, params=bound).to_arrow_table()
            except duckdb.Error as exc:
                raise translate_error(exc, con, sql, f"query {name}", self.dataset, self.path) from None
        return arrow_to_pandas(table)

    def iter_query(
        self, name: str, params: Mapping[str, Any] | None = None, batch_rows: int = 50_000
    ) -> Iterator[pd.DataFrame]:
        sql, bound = self._prepare(name, params)
        con = self._open()
        try:
            # A record-batch reader streams: DuckDB produces rows as the batches are consumed.
            reader = con.sql(sql, params=bound).to_arrow_reader(batch_rows)
        except duckdb.Error as exc:
            error = translate_error(exc, con, sql, f"query {name}", self.dataset, self.path)
            con.close()
            raise error from None
        except BaseException:
            con.close()
            raise
        return self._batches(con, reader)

    @staticmethod
    def _batches(con: duckdb.DuckDBPyConnection, reader: Any) -> Iterator[pd.DataFrame]:
        try:
            yielded = False
            for batch in reader:
                if batch.num_rows:
                    yielded = True
                    yield arrow_to_pandas(batch)
            if not yielded:
                # One empty frame so consumers still learn the columns.
                yield arrow_to_pandas(reader.schema.empty_table())
        finally:
            con.close()

    # ---- writing ---------------------------------------------------------------------
    def write(
        self,
        table: str,
        frame: pd.DataFrame,
        mode: WriteMode = "truncate",
        run_filter: Mapping[str, Any] | None = None,
    ) -> int:
        if not table.isidentifier():
            raise WarehouseError(f"table name {table!r} must be a plain identifier")
        if self.read_only:
            raise WarehouseError(f"warehouse {self.path} is open read-only; cannot write {table}")
        if mode == "replace_run":
            frame = with_run_filter(table, frame, run_filter)
        elif mode != "truncate":
            raise WarehouseError(f"unknown write mode {mode!r} (truncate or replace_run)")
        with self._connection() as con:
            con.register(_FRAME_VIEW, frame)
            try:
                con.execute("BEGIN TRANSACTION")
                select = typed_select(table, frame, con.sql(f"SELECT * FROM {_FRAME_VIEW} LIMIT 0").types, _FRAME_VIEW)
                if mode == "truncate":
                    con.execute(f"CREATE OR REPLACE TABLE {self._qualified(table)} AS {select}")
                else:
                    assert run_filter is not None
                    self._create_if_missing(con, table, select)
                    where = " AND ".join(f"{quote(col)} = ${i}" for i, col in enumerate(run_filter, start=1))
                    values = [plain_value(v) for v in run_filter.values()]
                    con.execute(f"DELETE FROM {self._qualified(table)} WHERE {where}", values)
                    con.execute(f"INSERT INTO {self._qualified(table)} BY NAME {select}")
                con.execute("COMMIT")
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                context = f"writing {len(frame)} rows to {self.dataset}.{table}"
                raise translate_error(exc, con, None, context, self.dataset, self.path, table) from None
            finally:
                con.unregister(_FRAME_VIEW)
        return len(frame)

    def publish_run(
        self,
        logical_date: date,
        run_id: str,
        swaps: Mapping[str, str],
        expected: Mapping[str, int],
        ledger: Mapping[str, Any],
        ledger_table: str = "scoring_runs",
    ) -> dict[str, int]:
        if self.read_only:
            raise WarehouseError(f"warehouse {self.path} is open read-only; cannot publish run {run_id}")
        inserted: dict[str, int] = {}
        with self._connection() as con:
            try:
                con.execute("BEGIN TRANSACTION")
                for target, staging in swaps.items():
                    self._create_if_missing(con, target, "")
                    self._create_if_missing(con, staging, "")
                    con.execute(f"DELETE FROM {self._qualified(target)} WHERE logical_date = ?", [logical_date])
                    row = con.execute(
                        f"INSERT INTO {self._qualified(target)} BY NAME SELECT * FROM {self._qualified(staging)}"
                        " WHERE logical_date = ? AND run_id = ?",
                        [logical_date, run_id],
                    ).fetchone()
                    inserted[target] = int(row[0]) if row else 0
                    if inserted[target] != expected[target]:
                        raise WarehouseError(
                            f"run {run_id} ({logical_date}) staged {inserted[target]} rows for {self.dataset}.{target},"
                            f" expected {expected[target]}: not published; re-run the scoring DAG for {logical_date}"
                        )
                    con.execute(f"DELETE FROM {self._qualified(staging)} WHERE logical_date = ?", [logical_date])
                self._create_if_missing(con, ledger_table, "")
                ledger_q = self._qualified(ledger_table)
                con.execute(
                    f"UPDATE {ledger_q} SET status = 'replaced'"
                    " WHERE logical_date = ? AND status = 'complete' AND run_id <> ?",
                    [logical_date, run_id],
                )
                con.execute(f"DELETE FROM {ledger_q} WHERE run_id = ?", [run_id])
                self._create_views(con)
                columns = list(ledger)
                con.execute(
                    f"INSERT INTO {ledger_q} ({', '.join(quote(c) for c in columns)})"
                    f" VALUES ({', '.join('?' for _ in columns)})",
                    [plain_value(ledger[c]) for c in columns],
                )
                con.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if isinstance(exc, duckdb.Error):
                    context = f"publishing run {run_id} ({logical_date})"
                    raise translate_error(exc, con, None, context, self.dataset, self.path) from None
                raise
        return inserted

    def _create_views(self, con: duckdb.DuckDBPyConnection) -> None:
        """The consumers' views of ddl.VIEWS (e.g. published_decisions), as BigQuery has them."""
        from pipelines.warehouse.ddl import VIEWS, view_select
        from pipelines.warehouse.sql import to_duckdb

        for name in VIEWS:
            con.execute(
                f"CREATE OR REPLACE VIEW {self._qualified(name)} AS {to_duckdb(view_select(self.dataset, name))}"
            )

    def _create_if_missing(self, con: duckdb.DuckDBPyConnection, table: str, select: str) -> None:
        con.execute(create_table_sql(self._qualified(table), table, select))

    # ---- catalogue -------------------------------------------------------------------
    def list_tables(self) -> list[str]:
        with self._connection() as con:
            rows = con.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = ? AND table_catalog = current_database() ORDER BY table_name",
                [self.dataset],
            ).fetchall()
        return [r[0] for r in rows]

    def describe(self, table: str) -> dict[str, str]:
        with self._connection() as con:
            try:
                rel = con.sql(f"SELECT * FROM {self._qualified(table)} LIMIT 0")
            except duckdb.CatalogException:
                raise WarehouseError(
                    f"table {table} does not exist in dataset {self.dataset} ({self.path}); {HINT}"
                ) from None
            return {col: bigquery_type(dtype) for col, dtype in zip(rel.columns, rel.types)}

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None
