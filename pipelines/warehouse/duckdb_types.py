"""How the DuckDB warehouse spells contract tables: quoted names, DuckDB column types, and their BigQuery names."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipelines.warehouse import contract

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


def quote(identifier: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + identifier.replace('"', '""') + '"'


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


def typed_select(table: str, frame: pd.DataFrame, frame_types: list[Any], view: str) -> str:
    """SELECT over the frame registered as ``view`` casting contract columns to their contract types.

    ``frame_types`` are the DuckDB types of the frame's columns as the view shows them, in order.
    """
    known = contract.INPUT_TABLES.get(table) or contract.OUTPUT_TABLES.get(table)
    types = dict(zip(frame.columns, frame_types))
    parts = []
    for col in frame.columns:
        target: str | None = None
        if known is not None and col in known.column_names:
            target = DUCKDB_TYPES[known.column(col).type]
        elif str(types[col].id) == "null":
            # An all-NULL object column has DuckDB type NULL, which no later insert could widen.
            target = "VARCHAR"
        parts.append(f"CAST({quote(col)} AS {target}) AS {quote(col)}" if target else quote(col))
    return f"SELECT {', '.join(parts) or '*'} FROM {view}"


def create_table_sql(qualified: str, table: str, select: str) -> str:
    """CREATE TABLE IF NOT EXISTS: an output table with its contract columns, any other shaped like ``select``."""
    known = contract.OUTPUT_TABLES.get(table)
    if known is not None:
        columns = ", ".join(
            f"{quote(c.name)} {DUCKDB_TYPES[c.type]}{'' if c.nullable else ' NOT NULL'}" for c in known.columns
        )
        return f"CREATE TABLE IF NOT EXISTS {qualified} ({columns})"
    return f"CREATE TABLE IF NOT EXISTS {qualified} AS {select} LIMIT 0"
