"""Query files: read the BigQuery-dialect SQL once, list its parameters, and transpile it to DuckDB."""

from __future__ import annotations

import functools
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError

from pipelines.errors import WarehouseError
from pipelines.warehouse.base import query_path

SOURCE_DIALECT = "bigquery"

# sqlglot warnings that do not apply here: every DuckDB session runs with TimeZone = 'UTC', which is
# BigQuery's default zone for EXTRACT/DATE on TIMESTAMP, so the results agree.
_SAFE_WARNINGS = ("EXTRACT from TIMESTAMPTZ",)


def read_query(name: str) -> str:
    """The BigQuery-dialect text of ``queries/<name>.sql``, as it runs on BigQuery."""
    return _read(query_path(name))


def duckdb_sql(name: str) -> str:
    """The DuckDB translation of ``queries/<name>.sql``, cached per file version."""
    path = query_path(name)
    return _transpiled(path, path.stat().st_mtime_ns)


def parameter_names(name: str) -> tuple[str, ...]:
    """The ``@name`` parameters a query file uses, in order of first use."""
    path = query_path(name)
    return _parameters(path, path.stat().st_mtime_ns)


def to_duckdb(bigquery_sql: str) -> str:
    """Transpile one BigQuery statement to DuckDB, raising rather than emitting SQL DuckDB would misread."""
    tree = rewrite_for_duckdb(_parse(bigquery_sql))
    generator = Dialect.get_or_raise("duckdb").generator(unsupported_level=ErrorLevel.IGNORE, comments=False)
    sql = generator.generate(tree)
    # A construct sqlglot cannot translate must fail here, not return different rows later.
    problems = [m for m in generator.unsupported_messages if not any(ok in m for ok in _SAFE_WARNINGS)]
    if problems:
        raise WarehouseError(f"cannot translate query to DuckDB: {'; '.join(problems)}")
    return sql


def bigquery_parameters(bigquery_sql: str) -> tuple[str, ...]:
    """Named ``@parameters`` of a BigQuery statement (system variables ``@@x`` excluded)."""
    names: dict[str, None] = {}
    for node in _parse(bigquery_sql).find_all(exp.Parameter, bfs=False):
        name = node.name
        # sqlglot parses @@error.message as a Parameter wrapping another Parameter.
        if name and not isinstance(node.this, exp.Parameter) and not isinstance(node.parent, exp.Parameter):
            names.setdefault(name, None)
    return tuple(names)


def rewrite_for_duckdb(tree: exp.Expression) -> exp.Expression:
    """Apply the rewrites for BigQuery features sqlglot does not translate (or translates differently)."""
    return tree.transform(_rewrite_node, copy=True)


def _rewrite_node(node: exp.Expression) -> exp.Expression:
    # DuckDB has no ARRAY_AGG(... LIMIT n) (sqlglot only warns); aggregate then keep the first n: list[1:n].
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Limit):
        return _sliced_array_agg(node)
    if (
        isinstance(node, exp.IgnoreNulls)
        and isinstance(node.this, exp.ArrayAgg)
        and isinstance(node.this.this, exp.Limit)
    ):
        return _sliced_array_agg(node.this, ignore_nulls=True)
    # DuckDB has no FARM_FINGERPRINT; its hash() is deterministic for a given DuckDB build, enough for sharding.
    if isinstance(node, exp.FarmFingerprint):
        return exp.Anonymous(this="hash", expressions=[e.copy() for e in node.expressions])
    # BigQuery's DAYOFWEEK is 1 (Sunday) .. 7; DuckDB's is 0 (Sunday) .. 6.
    if isinstance(node, exp.Extract) and node.this.name.upper() == "DAYOFWEEK" and not node.meta.get("herald_dow"):
        shifted = node.copy()
        shifted.meta["herald_dow"] = True
        return exp.Paren(this=exp.Add(this=shifted, expression=exp.Literal.number(1)))
    # BigQuery's COUNTIF is an INT64; DuckDB's COUNT_IF a HUGEINT, which reaches pandas as Decimal objects.
    if isinstance(node, exp.CountIf) and not node.meta.get("herald_int64"):
        counted = node.copy()
        counted.meta["herald_int64"] = True
        return exp.Cast(this=counted, to=exp.DataType.build("BIGINT"))
    return node


def _sliced_array_agg(agg: exp.ArrayAgg, ignore_nulls: bool = False) -> exp.Expression:
    limit = agg.this
    count = limit.expression
    if not isinstance(count, exp.Literal):
        raise WarehouseError(f"ARRAY_AGG LIMIT must be a literal, got {count.sql(SOURCE_DIALECT)}")
    inner = agg.copy()
    inner.set("this", limit.this.copy())
    body: exp.Expression = inner
    if ignore_nulls:
        value = limit.this.this if isinstance(limit.this, exp.Order) else limit.this
        body = exp.Filter(
            this=inner,
            expression=exp.Where(this=exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))),
        )
    # Paren keeps "agg FILTER (...)[1:n]" unambiguous; offset=1 marks the bounds as DuckDB's 1-based ones.
    return exp.Bracket(
        this=exp.Paren(this=body),
        expressions=[exp.Slice(this=exp.Literal.number(1), expression=count.copy())],
        offset=1,
    )


def _parse(bigquery_sql: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(bigquery_sql, read=SOURCE_DIALECT) if s is not None]
    except ParseError as exc:
        raise WarehouseError(f"query is not valid BigQuery SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise WarehouseError(f"a query file holds exactly one statement, found {len(statements)}")
    return statements[0]


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=128)
def _transpiled(path: Path, _mtime_ns: int) -> str:
    try:
        return to_duckdb(_read(path))
    except WarehouseError as exc:
        raise WarehouseError(f"{path.name}: {exc}") from None


@functools.lru_cache(maxsize=128)
def _parameters(path: Path, _mtime_ns: int) -> tuple[str, ...]:
    return bigquery_parameters(_read(path))
