"""DuckDB's catalogue and binder errors as one-line warehouse errors naming the table, column and dataset."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from pipelines.errors import WarehouseError
from pipelines.warehouse.duckdb_types import quote

# What to do when the warehouse lacks data: the tail of every "does not exist" message.
HINT = "run `herald import --mapping FILE` to load your data, or `herald world` for the demo world"

_MISSING_TABLE = re.compile(r'Table with name "?([\w.]+?)"? does not exist')
_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')
_MISSING_TABLE_COLUMN = re.compile(r'Table "([^"]+)" does not have a column (?:named|with name) "([^"]+)"')


def translate_error(
    exc: duckdb.Error,
    con: duckdb.DuckDBPyConnection,
    sql: str | None,
    context: str,
    dataset: str,
    path: str | Path,
    table: str | None = None,
) -> WarehouseError:
    """Turn DuckDB's catalogue/binder errors into one line naming the table, column and dataset."""
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, duckdb.CatalogException) and (m := _MISSING_TABLE.search(text)):
        missing = m.group(1).split(".")[-1]
        return WarehouseError(f"{context}: table {missing} does not exist in dataset {dataset} ({path}); {HINT}")
    if isinstance(exc, duckdb.BinderException):
        if m := _MISSING_TABLE_COLUMN.search(text):
            alias, column = m.group(1), m.group(2)
            owner = _tables_by_alias(sql).get(alias, alias) if sql else (table or alias)
            return WarehouseError(f"{context}: column {column} is missing from table {owner} in dataset {dataset}")
        if m := _MISSING_COLUMN.search(text):
            column = m.group(1)
            candidates = sorted(set(_tables_by_alias(sql).values())) if sql else [table] if table else []
            owners = [t for t in candidates if column not in _columns(con, dataset, t)] or candidates
            where = f"table {owners[0]}" if len(owners) == 1 else f"tables {', '.join(owners)}"
            return WarehouseError(f"{context}: column {column} is missing from {where} in dataset {dataset}")
    error = WarehouseError(f"{context} failed: {first}")
    error.__cause__ = exc
    return error


def _columns(con: duckdb.DuckDBPyConnection, dataset: str, table: str) -> list[str]:
    try:
        return list(con.sql(f"SELECT * FROM {quote(dataset)}.{quote(table)} LIMIT 0").columns)
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
