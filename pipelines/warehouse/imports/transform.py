"""Turn source rows into one contract table: column specs, value maps, derived columns, coercion, rejects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from pipelines.warehouse.contract import INPUT_TABLES
from pipelines.warehouse.imports.coerce import FALSE_TEXT, TRUE_TEXT, as_text, coerce, infer_type
from pipelines.warehouse.imports.mapping import ColumnSpec, Mapping, MappingError, TableSpec
from pipelines.warehouse.imports.sources import ROW_COLUMN


@dataclass
class TableImport:
    """One table's import: the kept rows (contract-typed) and, per rejected source row, its reasons."""

    table: str
    frame: pd.DataFrame  # with _row, the source row number, first
    rows_in: int
    rejected: dict[int, list[str]]  # source row number (_row) -> reasons
    source_rows: pd.DataFrame  # the source rows, for the rejected rows' JSON
    notes: list[str] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return len(self.frame)

    def reject(self, mask: pd.Series, reason: str) -> int:
        """Move the kept rows where ``mask`` holds to the rejected ones, with ``reason``; returns how many."""
        mask = pd.Series(mask, index=self.frame.index).fillna(False).astype(bool)
        for row in self.frame.loc[mask, ROW_COLUMN].tolist():
            self.rejected.setdefault(int(row), []).append(reason)
        self.frame = self.frame[~mask].reset_index(drop=True)
        return int(mask.sum())


def build_table(mapping: Mapping, name: str, spec: TableSpec, source: pd.DataFrame | None) -> TableImport:
    """Make table ``name`` from ``source`` (or the spec's literal rows); rows that break a rule are set aside.

    Contract columns get their contract type; other columns the spec's ``type`` or the type all
    their values parse as. Unmapped nullable contract columns are written as NULL (and said so);
    an unmapped non-nullable one is a MappingError. Rows with a NULL or repeated key are rejected.
    """
    contract = INPUT_TABLES[name]
    rows = _literal_rows(spec) if source is None else source.reset_index(drop=True)
    where = f"mapping {mapping.name}, table {name}"
    lookup = {c.lower(): c for c in rows.columns}
    problems: dict[int, list[str]] = {}
    notes: list[str] = []
    out: dict[str, pd.Series] = {}

    for column, col_spec in spec.columns.items():
        raw = _raw_column(mapping, where, column, col_spec, rows, lookup, problems, notes)
        bq_type = (
            contract.column(column).type if column in contract.column_names else (col_spec.type or infer_type(raw))
        )
        out[column] = _coerced(raw, bq_type, mapping.timezone, column, rows, problems, notes, where)
    if spec.keep_other_columns:
        used = {c.column.lower() for c in spec.columns.values() if c.column} | {ROW_COLUMN}
        for original in rows.columns:
            extra = original.strip().lower().replace(" ", "_")
            if original.lower() in used or extra in out:
                continue
            out[extra] = _coerced(
                rows[original], infer_type(rows[original]), mapping.timezone, extra, rows, problems, notes, where
            )
    for col in contract.columns:
        if col.name in out or not col.required:
            continue
        if not col.nullable:
            raise MappingError(
                f"{where}: column {col.name} is required and may not be NULL, but the mapping does not make it; "
                f"add tables.{name}.columns.{col.name} to {mapping.path}"
            )
        out[col.name] = pd.Series([None] * len(rows), dtype=object)
        notes.append(f"{name}.{col.name}: not in the source, written as NULL")

    frame = pd.DataFrame(out)
    for col in contract.columns:
        if not col.nullable and col.name in frame:
            # A value that failed coercion already has its reason; only true NULLs are named here.
            failed = [r for r, reasons in problems.items() if any(p.startswith(f"{col.name}:") for p in reasons)]
            null = frame[col.name].isna() & ~rows[ROW_COLUMN].isin(failed).to_numpy()
            _flag(problems, rows, null, f"{col.name}: NULL, but the contract requires a value")
    if contract.key and contract.key in frame:
        repeated = frame[contract.key].duplicated(keep="first") & frame[contract.key].notna()
        _flag(problems, rows, repeated, f"{contract.key}: repeats an earlier row's key")
    frame.insert(0, ROW_COLUMN, rows[ROW_COLUMN].to_numpy())
    keep = ~rows[ROW_COLUMN].isin(list(problems)).to_numpy()
    kept = frame[keep].reset_index(drop=True)
    return TableImport(name, kept, len(rows), problems, rows, notes)


def _literal_rows(spec: TableSpec) -> pd.DataFrame:
    rows = pd.DataFrame(spec.rows or [])
    rows.insert(0, ROW_COLUMN, pd.RangeIndex(1, len(rows) + 1))
    if not spec.columns:
        # Literal rows name contract columns directly; each becomes a plain rename of itself.
        spec.columns = {c: ColumnSpec(column=c) for c in rows.columns if c != ROW_COLUMN}
    return rows


def _raw_column(
    mapping: Mapping,
    where: str,
    column: str,
    spec: ColumnSpec,
    rows: pd.DataFrame,
    lookup: dict[str, str],
    problems: dict[int, list[str]],
    notes: list[str],
) -> pd.Series:
    """The values of one output column before coercion."""
    n = len(rows)
    if spec.kind == "value":
        return pd.Series([spec.value] * n, dtype=object)
    if spec.kind == "expr":
        return _expression(where, column, str(spec.expr), rows)
    if spec.kind == "spread":
        assert spec.spread is not None
        day = np.random.default_rng(spec.spread.seed).integers(0, spec.spread.days, size=n)
        start = pd.Timestamp(spec.spread.start)
        return pd.Series(start + pd.to_timedelta(day, unit="D"))
    source_name = spec.column if spec.kind == "column" else spec.arm_share
    found = lookup.get(str(source_name).lower())
    if found is None:
        raise MappingError(
            f"{where}, column {column}: the source has no column {source_name!r} "
            f"(it has {', '.join(c for c in rows.columns if c != ROW_COLUMN)})"
        )
    values = rows[found]
    if spec.kind == "arm_share":
        # Randomized assignment: the logging policy chose each arm with the arm's share of the rows.
        shares = values.astype(str).str.strip().value_counts(normalize=True)
        notes.append(
            f"{where.split('table ')[-1]}.{column} = share of each {found} arm: "
            + ", ".join(f"{k} {v:.4f}" for k, v in shares.items())
        )
        return values.astype(str).str.strip().map(shares)
    if spec.values is None:
        return values
    return _value_map(spec, found, column, values, rows, problems)


def _value_map(
    spec: ColumnSpec, source: str, column: str, values: pd.Series, rows: pd.DataFrame, problems: dict[int, list[str]]
) -> pd.Series:
    table = {}
    for key, out in (spec.values or {}).items():
        for text in _key_texts(key):
            table[text.lower() if spec.ignore_case else text] = out
    text = as_text(values)
    probe = text.str.lower() if spec.ignore_case else text
    missing = probe.notna() & ~probe.isin(list(table))
    mapped = probe.map(table).astype(object).where(probe.isin(list(table)), None)
    if "default" in spec.model_fields_set:
        mapped[missing] = spec.default
    else:
        known = ", ".join(repr(k) for k in list(table)[:8])
        for pos in np.flatnonzero(missing.to_numpy()):
            problems.setdefault(int(rows[ROW_COLUMN].iat[pos]), []).append(
                f"{column}: {source} value {text.iat[pos]!r} is not in the value map ({known})"
            )
        mapped[missing] = None
    return mapped.astype(object)


def _key_texts(key: Any) -> list[str]:
    # YAML reads unquoted yes/no/on/off/true/false keys as booleans; match the words people write.
    if isinstance(key, bool):
        return sorted(w for w in (TRUE_TEXT if key else FALSE_TEXT) if not w.isdigit()) + [str(key)]
    if key is None:
        return []
    return [str(key).strip()]


def _expression(where: str, column: str, expr: str, rows: pd.DataFrame) -> pd.Series:
    """A DuckDB SQL expression over the source row (columns by name, ``_row`` the row number)."""
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("source_rows", rows)
        result = con.sql(f"SELECT {expr} AS v FROM source_rows ORDER BY {ROW_COLUMN}").df()["v"]
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise MappingError(f"{where}, column {column}: expr {expr!r} failed in DuckDB ({first})") from None
    finally:
        con.close()
    return result.astype(object).where(result.notna(), None) if result.dtype == object else result


def _coerced(
    raw: pd.Series,
    bq_type: str,
    timezone: str,
    column: str,
    rows: pd.DataFrame,
    problems: dict[int, list[str]],
    notes: list[str],
    where: str,
) -> pd.Series:
    result = coerce(raw, bq_type, timezone)
    for pos, reason in zip(np.flatnonzero(result.bad.to_numpy()), result.reasons.tolist()):
        problems.setdefault(int(rows[ROW_COLUMN].iat[pos]), []).append(f"{column}: {reason}")
    if result.localised:
        notes.append(
            f"{where.split('table ')[-1]}.{column}: {result.localised:,} naive timestamps read as {timezone} "
            "wall-clock time and stored in UTC"
        )
    return result.values


def _flag(problems: dict[int, list[str]], rows: pd.DataFrame, mask: pd.Series, reason: str) -> None:
    for pos in np.flatnonzero(mask.to_numpy()):
        row = int(rows[ROW_COLUMN].iat[pos])
        if reason not in problems.get(row, []):
            problems.setdefault(row, []).append(reason)
