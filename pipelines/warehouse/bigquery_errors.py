"""BigQuery API errors as one-line warehouse errors naming the missing table or column and the dataset."""

from __future__ import annotations

import re

import sqlglot
from google.api_core import exceptions as gexc

from pipelines.errors import WarehouseError
from pipelines.warehouse import contract

_MISSING_TABLE = re.compile(r"Table ([\w\-.:]+) was not found")
_MISSING_NAME = re.compile(r"Unrecognized name: (\w+)")
_MISSING_FIELD = re.compile(r"Name (\w+) not found inside (\w+)")


def translate_error(
    exc: Exception, sql: str | None, context: str, dataset_id: str, table: str | None = None
) -> WarehouseError:
    """One line naming the missing table or column, instead of the API's error payload."""
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, gexc.NotFound) and (m := _MISSING_TABLE.search(message)):
        missing = re.split(r"[.:]", m.group(1))[-1]
        return WarehouseError(f"{context}: table {missing} does not exist in BigQuery dataset {dataset_id}")
    if isinstance(exc, gexc.BadRequest) and (m := _MISSING_NAME.search(message) or _MISSING_FIELD.search(message)):
        tables = sorted(_tables(sql)) if sql else [table] if table else []
        # Herald creates its own tables (suppressed_customers…) with every column; blame the team's.
        tables = [t for t in tables if t not in contract.OUTPUT_TABLES] or tables
        where = (
            f" from table {tables[0]}" if len(tables) == 1 else (f" from tables {', '.join(tables)}" if tables else "")
        )
        return WarehouseError(f"{context}: column {m.group(1)} is missing{where} in BigQuery dataset {dataset_id}")
    error = WarehouseError(f"{context} failed: {message.splitlines()[0] if message else type(exc).__name__}")
    error.__cause__ = exc
    return error


def _tables(sql: str) -> set[str]:
    try:
        tree = sqlglot.parse_one(sql, read="bigquery")
    except sqlglot.errors.ParseError:
        return set()
    return {t.name for t in tree.find_all(sqlglot.exp.Table) if t.name}
