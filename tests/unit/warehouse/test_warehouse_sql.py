"""The BigQuery → DuckDB translation of the query files and its explicit rewrites."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

from pipelines.errors import WarehouseError
from pipelines.warehouse.base import QUERIES_DIR
from pipelines.warehouse.sql import bigquery_parameters, duckdb_sql, parameter_names, read_query, to_duckdb

QUERY_FILES = sorted(QUERIES_DIR.glob("*.sql"))


def test_there_are_query_files() -> None:
    assert {p.stem for p in QUERY_FILES} >= {
        "extract_customers",
        "extract_messages",
        "extract_events",
        "extract_sends",
        "extract_reviews",
        "customer_event_sequences",
        "shard_customer_ids",
    }


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.stem)
def test_every_query_file_parses_as_bigquery_and_transpiles(path) -> None:
    text = path.read_text()
    assert text.startswith("-- "), "each query file starts with a one-line comment saying what it returns"
    statements = sqlglot.parse(text, read="bigquery")
    assert len([s for s in statements if s is not None]) == 1
    translated = duckdb_sql(path.stem)
    assert "@" not in translated  # every named parameter became a DuckDB $parameter
    # DuckDB itself accepts the translation (EXPLAIN would need tables; parsing is the check here).
    duckdb.extract_statements(translated)


def test_named_parameters_become_dollar_parameters() -> None:
    assert "event_ts >= $history_start AND event_ts < $as_of" in duckdb_sql("extract_events")
    assert parameter_names("extract_events") == ("history_start", "as_of")
    assert parameter_names("extract_customers") == ()


def test_system_variables_are_not_parameters() -> None:
    assert bigquery_parameters("SELECT @@error.message, @a, @b, @a") == ("a", "b")


def test_array_agg_limit_becomes_list_slice() -> None:
    sql = to_duckdb("SELECT c, ARRAY_AGG(STRUCT(a, b) ORDER BY y DESC LIMIT 5) AS e FROM t GROUP BY c")
    assert sql == "SELECT c, (ARRAY_AGG({'a': a, 'b': b} ORDER BY y DESC))[1:5] AS e FROM t GROUP BY c"
    assert "LIMIT" not in duckdb_sql("customer_event_sequences")
    assert "[1:50]" in duckdb_sql("customer_event_sequences")


def test_array_agg_ignore_nulls_with_limit_keeps_the_null_filter() -> None:
    sql = to_duckdb("SELECT ARRAY_AGG(x IGNORE NULLS ORDER BY y LIMIT 2) AS a FROM t")
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (NULL, 1), (3, 2), (4, 3), (5, 4)) v(x, y)")
    assert con.execute(sql).fetchall() == [([3, 4],)]


def test_array_agg_limit_must_be_literal() -> None:
    with pytest.raises(WarehouseError, match="literal"):
        to_duckdb("SELECT ARRAY_AGG(x LIMIT @n) FROM t")


def test_farm_fingerprint_becomes_hash() -> None:
    sql = to_duckdb("SELECT MOD(ABS(FARM_FINGERPRINT(customer_id)), @n_shards) = @shard FROM customers")
    assert sql == "SELECT ABS(HASH(customer_id)) % $n_shards = $shard FROM customers"
    assert "HASH(customer_id)" in duckdb_sql("shard_customer_ids")


def test_dayofweek_is_shifted_to_bigquery_numbering() -> None:
    sql = to_duckdb("SELECT EXTRACT(DAYOFWEEK FROM d) AS dow FROM (SELECT DATE '2024-01-07' AS d)")
    assert duckdb.connect().execute(sql).fetchall() == [(1,)]  # 2024-01-07 is a Sunday: 1 in BigQuery


def test_countif_is_an_int64_as_on_bigquery() -> None:
    # DuckDB's COUNT_IF is a HUGEINT, which would reach pandas as Decimal objects in an object column.
    sql = to_duckdb("SELECT COUNTIF(x > 1) AS n FROM (SELECT 2 AS x UNION ALL SELECT 0)")
    rel = duckdb.connect().sql(sql)
    assert [str(t) for t in rel.types] == ["BIGINT"] and rel.fetchall() == [(1,)]


def test_date_helpers_sqlglot_already_handles_run_on_duckdb() -> None:
    sql = to_duckdb(
        "SELECT TIMESTAMP_SUB(TIMESTAMP '2024-01-08 00:00:00+00', INTERVAL 7 DAY) AS ts,"
        " DATE_SUB(DATE '2024-01-08', INTERVAL 1 DAY) AS d, EXTRACT(HOUR FROM TIMESTAMP '2024-01-08 05:00:00+00') AS h,"
        " SAFE_DIVIDE(1, 0) AS q, COUNTIF(x > 1) AS n FROM (SELECT 2 AS x UNION ALL SELECT 0)"
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ts, d, h, q, n = con.execute(sql).fetchone()
    assert (ts.isoformat()[:19], str(d)[:10], h, q, n) == ("2024-01-01T00:00:00", "2024-01-07", 5, None, 1)


def test_invalid_sql_and_multiple_statements_are_warehouse_errors() -> None:
    with pytest.raises(WarehouseError, match="not valid BigQuery SQL"):
        to_duckdb("SELECT FROM WHERE (")
    with pytest.raises(WarehouseError, match="exactly one statement"):
        to_duckdb("SELECT 1; SELECT 2")


def test_read_query_returns_the_file_unchanged() -> None:
    assert read_query("shard_customer_ids") == (QUERIES_DIR / "shard_customer_ids.sql").read_text()


def test_untranslatable_constructs_fail_loudly() -> None:
    # sqlglot only warns by default; a query that would run differently on DuckDB must not run at all.
    with pytest.raises(WarehouseError, match="cannot translate query to DuckDB: RESPECT NULLS"):
        to_duckdb("SELECT ARRAY_AGG(x RESPECT NULLS) FROM t")
