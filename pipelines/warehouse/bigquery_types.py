"""BigQuery types of the warehouse's values: query parameters from Python values, standard-SQL names of fields."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from google.cloud import bigquery

from pipelines.errors import WarehouseError
from pipelines.warehouse.frames import plain_value

_LEGACY_TYPES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}


def _scalar_type(value: Any) -> str:
    # bool before int (bool is an int) and datetime before date (datetime is a date).
    if value is None:
        return "STRING"
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, decimal.Decimal):
        return "NUMERIC"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, bytes):
        return "BYTES"
    if isinstance(value, dt.datetime):
        # Contract columns are TIMESTAMP; a naive datetime is taken as UTC (as the client serialises it).
        return "TIMESTAMP"
    if isinstance(value, dt.date):
        return "DATE"
    raise WarehouseError(f"cannot pass a {type(value).__name__} as a BigQuery query parameter")


def query_parameter(name: str, value: Any) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    """A named query parameter whose BigQuery type follows the Python value (lists become ARRAY<…>)."""
    value = plain_value(value)
    if isinstance(value, list):
        element = _scalar_type(next((v for v in value if v is not None), "")) if value else "STRING"
        return bigquery.ArrayQueryParameter(name, element, value)
    return bigquery.ScalarQueryParameter(name, _scalar_type(value), value)


def field_type(field: bigquery.SchemaField) -> str:
    """Standard-SQL type of a schema field: INTEGER → INT64, RECORD → STRUCT<…>, REPEATED → ARRAY<…>."""
    base = _LEGACY_TYPES.get(field.field_type, field.field_type)
    if base == "STRUCT":
        base = "STRUCT<" + ", ".join(f"{f.name} {field_type(f)}" for f in field.fields) + ">"
    return f"ARRAY<{base}>" if field.mode == "REPEATED" else base
