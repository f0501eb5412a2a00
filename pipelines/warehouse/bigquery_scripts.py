"""The multi-statement BigQuery scripts that swap a run's rows and publish a scoring run in one transaction."""

from __future__ import annotations

from collections.abc import Mapping

from pipelines.warehouse import contract


def replace_run_script(dataset_id: str, table: str, staging: str, columns: list[str], filter_columns: list[str]) -> str:
    """The script that swaps a run's rows: DDL first (not allowed inside a transaction), then DELETE+INSERT."""
    target, source = f"`{dataset_id}.{table}`", f"`{dataset_id}.{staging}`"
    known = contract.OUTPUT_TABLES.get(table)
    if known is not None:
        ddl = ", ".join(f"`{c.name}` {c.type}{'' if c.nullable else ' NOT NULL'}" for c in known.columns)
        create = f"CREATE TABLE IF NOT EXISTS {target} ({ddl});"
    else:
        create = f"CREATE TABLE IF NOT EXISTS {target} LIKE {source};"
    where = " AND ".join(f"`{c}` = @{c}" for c in filter_columns)
    # Named columns, not SELECT *: INSERT … SELECT matches by position and the frame's order may differ.
    cols = ", ".join(f"`{c}`" for c in columns)
    # Without an exception handler a failing statement fails the script and BigQuery rolls back.
    return "\n".join(
        [
            create,
            "BEGIN TRANSACTION;",
            f"DELETE FROM {target} WHERE {where};",
            f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {source};",
            "COMMIT TRANSACTION;",
        ]
    )


def publish_script(
    dataset_id: str,
    dataset: str,
    swaps: Mapping[str, str],
    expected: Mapping[str, int],
    ledger_columns: list[str],
    ledger_table: str,
) -> str:
    """One script job: DDL, then a transaction that checks the staged counts and swaps the date's partition.

    ``ASSERT`` fails the script (and BigQuery rolls the transaction back) when a staging table
    does not hold exactly the run's expected rows, so a partial run never becomes visible.
    """
    lines = [_create_statement(dataset, t) for t in (*swaps, *swaps.values(), ledger_table)]
    lines.append("BEGIN TRANSACTION;")
    for target, staging in swaps.items():
        tgt, stg = f"`{dataset_id}.{target}`", f"`{dataset_id}.{staging}`"
        cols = ", ".join(f"`{c}`" for c in contract.OUTPUT_TABLES[target].column_names)
        run_rows = "WHERE logical_date = @logical_date AND run_id = @run_id"
        lines += [
            f"ASSERT (SELECT COUNT(*) FROM {stg} {run_rows}) = @expected_{target}"
            f" AS 'staged rows of {target} differ from the expected count of the run: not published';",
            f"DELETE FROM {tgt} WHERE logical_date = @logical_date;",
            f"INSERT INTO {tgt} ({cols}) SELECT {cols} FROM {stg} {run_rows};",
            f"DELETE FROM {stg} WHERE logical_date = @logical_date;",
        ]
    ledger = f"`{dataset_id}.{ledger_table}`"
    lines += [
        f"UPDATE {ledger} SET status = 'replaced'"
        " WHERE logical_date = @logical_date AND status = 'complete' AND run_id != @run_id;",
        f"DELETE FROM {ledger} WHERE run_id = @run_id;",
        f"INSERT INTO {ledger} ({', '.join(f'`{c}`' for c in ledger_columns)})"
        f" VALUES ({', '.join(f'@ledger_{c}' for c in ledger_columns)});",
        "COMMIT TRANSACTION;",
    ]
    return "\n".join(lines)


def _create_statement(dataset: str, table: str) -> str:
    from pipelines.warehouse.ddl import table_ddl

    # table_ddl writes `dataset.table`; the job's default project resolves it.
    return table_ddl(dataset, contract.OUTPUT_TABLES[table])
