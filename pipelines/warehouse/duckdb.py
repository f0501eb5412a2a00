"""The embedded warehouse: a DuckDB file whose schema plays the BigQuery dataset and runs the same SQL files."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import sqlglot
from sqlglot import exp

from pipelines.errors import WarehouseError
from pipelines.warehouse import contract
from pipelines.warehouse.base import Warehouse, WriteMode
from pipelines.warehouse.frames import arrow_to_pandas, plain_value, with_run_filter
from pipelines.warehouse.sql import duckdb_sql, parameter_names

MEMORY = ":memory:"
# How long a task waits for another process's write lock on the file before it gives up. Parallel
# tasks on a distributed executor (Celery workers, mapped scoring shards) each hold it for moments.
LOCK_WAIT_S = 60.0
_FRAME_VIEW = "_herald_frame"
_HINT = "run `herald import --mapping FILE` to load your data, or `herald world` for the demo world"

# Contract (BigQuery) types as DuckDB column types. TIMESTAMP is an instant in BigQuery, hence TIMESTAMPTZ.
DUCKDB_TYPES: dict[str, str] = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "FLOAT64": "DOUBLE",
    "BOOL": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMPTZ",
}

_SCALAR_BQ_TYPES: dict[str, str] = {
    "varchar": "STRING",
    "uuid": "STRING",
    "null": "STRING",
    "tinyint": "INT64",
    "smallint": "INT64",
    "integer": "INT64",
    "bigint": "INT64",
    "utinyint": "INT64",
    "usmallint": "INT64",
    "uinteger": "INT64",
    "ubigint": "INT64",
    "hugeint": "INT64",
    "uhugeint": "INT64",
    "float": "FLOAT64",
    "double": "FLOAT64",
    "decimal": "NUMERIC",
    "boolean": "BOOL",
    "date": "DATE",
    # A timestamp without a zone is BigQuery's DATETIME (wall-clock time), not an instant.
    "timestamp": "DATETIME",
    "timestamp_s": "DATETIME",
    "timestamp_ms": "DATETIME",
    "timestamp_ns": "DATETIME",
    "timestamp with time zone": "TIMESTAMP",
    "time": "TIME",
    "blob": "BYTES",
    "interval": "INTERVAL",
    "json": "JSON",
}

_MISSING_TABLE = re.compile(r'Table with name "?([\w.]+?)"? does not exist')
_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')
_MISSING_TABLE_COLUMN = re.compile(r'Table "([^"]+)" does not have a column (?:named|with name) "([^"]+)"')


def bigquery_type(dtype: Any) -> str:
    """Map a DuckDB type (``DuckDBPyType``) to the BigQuery type name the contract uses."""
    type_id = str(dtype.id)
    if type_id in ("list", "array"):
        return f"ARRAY<{bigquery_type(dict(dtype.children)['child'])}>"
    if type_id == "struct":
        return "STRUCT<" + ", ".join(f"{name} {bigquery_type(child)}" for name, child in dtype.children) + ">"
    if type_id == "map":
        kv = dict(dtype.children)
        return f"ARRAY<STRUCT<key {bigquery_type(kv['key'])}, value {bigquery_type(kv['value'])}>>"
    return _SCALAR_BQ_TYPES.get(type_id, str(dtype).upper())


def _q(identifier: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + identifier.replace('"', '""') + '"'


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
                raise WarehouseError(f"warehouse file {self.path} does not exist; {_HINT} or set HERALD_WAREHOUSE_PATH")
            self.path.parent.mkdir(parents=True, exist_ok=True)

    # ---- connections -----------------------------------------------------------------
    def _open(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + LOCK_WAIT_S
        pause = 0.05
        while True:
            try:
                if self._memory is not None:
                    con = self._memory.cursor()
                else:
                    con = duckdb.connect(str(self.path), read_only=self.read_only)
                break
            except duckdb.IOException as exc:
                first = str(exc).splitlines()[0]
                if "lock" in first.lower() and time.monotonic() < deadline:
                    time.sleep(pause)  # another task holds the file for a moment: wait our turn
                    pause = min(pause * 2, 1.0)
                    continue
                raise WarehouseError(
                    f"cannot open warehouse file {self.path} ({first}); another process may be writing it"
                ) from None
        try:
            # Timestamps are instants (BigQuery semantics): compare and render them in UTC, whatever the host.
            con.execute("SET TimeZone = 'UTC'")
            if not self.read_only:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(self.dataset)}")
            elif not self._schema_exists(con):
                raise WarehouseError(f"dataset {self.dataset} does not exist in warehouse file {self.path}; {_HINT}")
            # SQL files name tables unqualified; the search path binds them to the dataset.
            con.execute(f"SET search_path = '{self.dataset}'")
        except BaseException:
            con.close()
            raise
        return con

    @contextlib.contextmanager
    def _connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._open()
        try:
            yield con
        finally:
            con.close()

    def _schema_exists(self, con: duckdb.DuckDBPyConnection) -> bool:
        row = con.execute(
            "SELECT count(*) FROM information_schema.schemata"
            " WHERE schema_name = ? AND catalog_name = current_database()",
            [self.dataset],
        ).fetchone()
        return bool(row and row[0])

    def _qualified(self, table: str) -> str:
        return f"{_q(self.dataset)}.{_q(table)}"

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
                raise self._translate(exc, con, sql, f"query {name}") from None
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
            error = self._translate(exc, con, sql, f"query {name}")
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
                select = self._typed_select(con, table, frame)
                if mode == "truncate":
                    con.execute(f"CREATE OR REPLACE TABLE {self._qualified(table)} AS {select}")
                else:
                    assert run_filter is not None
                    self._create_if_missing(con, table, select)
                    where = " AND ".join(f"{_q(col)} = ${i}" for i, col in enumerate(run_filter, start=1))
                    values = [plain_value(v) for v in run_filter.values()]
                    con.execute(f"DELETE FROM {self._qualified(table)} WHERE {where}", values)
                    con.execute(f"INSERT INTO {self._qualified(table)} BY NAME {select}")
                con.execute("COMMIT")
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise self._translate(
                    exc, con, None, f"writing {len(frame)} rows to {self.dataset}.{table}", table
                ) from None
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
                    f"INSERT INTO {ledger_q} ({', '.join(_q(c) for c in columns)})"
                    f" VALUES ({', '.join('?' for _ in columns)})",
                    [plain_value(ledger[c]) for c in columns],
                )
                con.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if isinstance(exc, duckdb.Error):
                    raise self._translate(exc, con, None, f"publishing run {run_id} ({logical_date})") from None
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

    def _typed_select(self, con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> str:
        """SELECT over the registered frame casting contract columns to their contract types."""
        known = contract.INPUT_TABLES.get(table) or contract.OUTPUT_TABLES.get(table)
        frame_types = dict(zip(frame.columns, con.sql(f"SELECT * FROM {_FRAME_VIEW} LIMIT 0").types))
        parts = []
        for col in frame.columns:
            target: str | None = None
            if known is not None and col in known.column_names:
                target = DUCKDB_TYPES[known.column(col).type]
            elif str(frame_types[col].id) == "null":
                # An all-NULL object column has DuckDB type NULL, which no later insert could widen.
                target = "VARCHAR"
            parts.append(f"CAST({_q(col)} AS {target}) AS {_q(col)}" if target else _q(col))
        return f"SELECT {', '.join(parts) or '*'} FROM {_FRAME_VIEW}"

    def _create_if_missing(self, con: duckdb.DuckDBPyConnection, table: str, select: str) -> None:
        known = contract.OUTPUT_TABLES.get(table)
        if known is not None:
            columns = ", ".join(
                f"{_q(c.name)} {DUCKDB_TYPES[c.type]}{'' if c.nullable else ' NOT NULL'}" for c in known.columns
            )
            con.execute(f"CREATE TABLE IF NOT EXISTS {self._qualified(table)} ({columns})")
        else:
            con.execute(f"CREATE TABLE IF NOT EXISTS {self._qualified(table)} AS {select} LIMIT 0")

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
                    f"table {table} does not exist in dataset {self.dataset} ({self.path}); {_HINT}"
                ) from None
            return {col: bigquery_type(dtype) for col, dtype in zip(rel.columns, rel.types)}

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None

    # ---- errors ----------------------------------------------------------------------
    def _translate(
        self,
        exc: duckdb.Error,
        con: duckdb.DuckDBPyConnection,
        sql: str | None,
        context: str,
        table: str | None = None,
    ) -> WarehouseError:
        """Turn DuckDB's catalogue/binder errors into one line naming the table, column and dataset."""
        text = str(exc)
        first = text.splitlines()[0] if text else type(exc).__name__
        if isinstance(exc, duckdb.CatalogException) and (m := _MISSING_TABLE.search(text)):
            missing = m.group(1).split(".")[-1]
            return WarehouseError(
                f"{context}: table {missing} does not exist in dataset {self.dataset} ({self.path}); {_HINT}"
            )
        if isinstance(exc, duckdb.BinderException):
            if m := _MISSING_TABLE_COLUMN.search(text):
                alias, column = m.group(1), m.group(2)
                owner = _tables_by_alias(sql).get(alias, alias) if sql else (table or alias)
                return WarehouseError(
                    f"{context}: column {column} is missing from table {owner} in dataset {self.dataset}"
                )
            if m := _MISSING_COLUMN.search(text):
                column = m.group(1)
                candidates = sorted(set(_tables_by_alias(sql).values())) if sql else [table] if table else []
                owners = [t for t in candidates if column not in self._columns(con, t)] or candidates
                where = f"table {owners[0]}" if len(owners) == 1 else f"tables {', '.join(owners)}"
                return WarehouseError(f"{context}: column {column} is missing from {where} in dataset {self.dataset}")
        error = WarehouseError(f"{context} failed: {first}")
        error.__cause__ = exc
        return error

    def _columns(self, con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
        try:
            return list(con.sql(f"SELECT * FROM {self._qualified(table)} LIMIT 0").columns)
        except duckdb.Error:
            return []


def _tables_by_alias(sql: str | None) -> dict[str, str]:
    """Alias (or bare name) to table name for every table a statement reads."""
    if not sql:
        return {}
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return {}
    out: dict[str, str] = {}
    for node in tree.find_all(exp.Table):
        if node.name:
            out[node.alias_or_name] = node.name
            out.setdefault(node.name, node.name)
    return out
