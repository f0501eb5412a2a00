"""The checked-in BigQuery DDL is exactly what the contract generates, and BigQuery can parse it."""

from __future__ import annotations

from pathlib import Path

import sqlglot

from pipelines.warehouse.ddl import bigquery_ddl

DDL = Path(__file__).resolve().parents[3] / "infra" / "bigquery" / "herald.sql"


def test_checked_in_ddl_matches_contract() -> None:
    assert DDL.read_text() == bigquery_ddl(), (
        "regenerate: python -m pipelines.warehouse.ddl > infra/bigquery/herald.sql"
    )


def test_ddl_parses_as_bigquery() -> None:
    statements = [s for s in sqlglot.parse(DDL.read_text(), read="bigquery") if s is not None]
    # the schema, 5 input tables, 10 output tables, the consumers' view
    assert len(statements) == 1 + 5 + 10 + 1
