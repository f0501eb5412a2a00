"""Row-level quarantine: rejected rows go to the ``rejected_rows`` warehouse table, kept rows to Parquet."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.validation.results import RuleResult
from pipelines.warehouse.contract import INPUT_TABLES, REJECTED_ROWS

QUARANTINE_TABLES = ("events", "sends", "reviews")
REJECTED_TABLE = "rejected_rows"
# One row per rejected input row; the layout is the contract's REJECTED_ROWS.
REJECTED_COLUMNS = tuple(REJECTED_ROWS.column_names)


def rejected_positions(rules: list[RuleResult], n_rows: int) -> dict[int, list[str]]:
    """Row position -> names of the row rules it broke."""
    broken: dict[int, list[str]] = {}
    for rule in rules:
        if rule.level != "row" or rule.success or rule.positions is None:
            continue
        for pos in rule.positions.tolist():
            if 0 <= pos < n_rows:
                broken.setdefault(int(pos), []).append(rule.rule)
    return broken


def rejected_frame(
    run_id: str,
    table: str,
    frame: pd.DataFrame,
    broken: dict[int, list[str]],
    rules: list[RuleResult] | None = None,
) -> pd.DataFrame:
    """The rejected rows of one table in the ``rejected_rows`` layout, with the row's key and why it broke."""
    positions = sorted(broken)
    rows = frame.iloc[positions]
    # NaN/NaT are not JSON; None is.
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    key = INPUT_TABLES[table].key if table in INPUT_TABLES else None
    by_name = {r.rule: r for r in rules or []}
    now = pd.Timestamp(datetime.now(UTC))
    return pd.DataFrame(
        {
            "run_id": pd.Series([run_id] * len(positions), dtype=object),
            "table_name": pd.Series([table] * len(positions), dtype=object),
            "row_number": pd.Series(positions, dtype="int64"),
            "row_key": pd.Series(
                [None if key is None or r.get(key) is None else str(r[key]) for r in records], dtype=object
            ),
            "rule": pd.Series([",".join(broken[p]) for p in positions], dtype=object),
            "reason": pd.Series(
                [_reason(table, rec, broken[p], by_name) for p, rec in zip(positions, records)], dtype=object
            ),
            "row_json": pd.Series([json.dumps(r, default=str) for r in records], dtype=object),
            "rejected_at": pd.Series([now] * len(positions), dtype="datetime64[ns, UTC]"),
        }
    )


def _reason(table: str, record: dict[str, object], names: list[str], rules: dict[str, RuleResult]) -> str:
    """``sends.sent_at = NULL breaks sent_at_not_null (expect_column_values_to_not_be_null)``, one per rule."""
    parts = []
    for name in names:
        rule = rules.get(name)
        column = rule.column if rule else None
        if column is None:
            parts.append(f"{table} row breaks {name}")
            continue
        value = record.get(column)
        shown = "NULL" if value is None else json.dumps(value, default=str)
        text = f"{table}.{column} = {shown} breaks {name} ({rule.expectation})"
        parts.append(text + (f": {rule.note}" if rule.note else ""))
    return "; ".join(parts)


def write_rejected(cfg: HeraldConfig, run_id: str, rejected: pd.DataFrame) -> int:
    """Replace this run's rejected rows in the warehouse (an empty frame clears a previous attempt's)."""
    from pipelines.warehouse import get_warehouse

    if rejected.empty:
        rejected = pd.DataFrame(
            {
                c: pd.Series(
                    dtype="datetime64[ns, UTC]" if c == "rejected_at" else ("int64" if c == "row_number" else object)
                )
                for c in REJECTED_COLUMNS
            }
        )
    with get_warehouse(cfg) as warehouse:
        return warehouse.write(REJECTED_TABLE, rejected, mode="replace_run", run_filter={"run_id": run_id})


def write_kept(frame: pd.DataFrame, broken: dict[int, list[str]], out_dir: Path, table: str) -> tuple[str, int]:
    """Write the rows that broke no row rule to ``out_dir/<table>.parquet``; return the path and count."""
    keep = np.ones(len(frame), dtype=bool)
    keep[list(broken)] = False
    kept = frame.iloc[np.flatnonzero(keep)].reset_index(drop=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{table}.parquet"
    kept.to_parquet(path, index=False)
    return str(path), len(kept)
