"""The mapping file: which source feeds which contract table, and how each column is made (YAML, validated)."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.config import REPO_ROOT
from pipelines.errors import HeraldError
from pipelines.warehouse.contract import INPUT_TABLES

MAPPINGS_DIR = Path(__file__).parent / "mappings"
SourceFormat = Literal["csv", "parquet", "duckdb", "sqlite", "bigquery"]
ColumnType = Literal["STRING", "INT64", "FLOAT64", "BOOL", "DATE", "TIMESTAMP"]
_VARIABLE = re.compile(r"\$\{(\w+)\}")
_SUFFIX_FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_SUFFIX_FORMATS |= {".duckdb": "duckdb", ".sqlite": "sqlite", ".sqlite3": "sqlite", ".db": "sqlite"}


class MappingError(HeraldError):
    """A mapping file, or a source it names, is not usable; the message names the file, key and fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Spread(_Strict):
    """A timestamp made up for sources without one: ``start`` plus a seeded random whole day in [0, days)."""

    start: datetime
    days: int = Field(1, ge=1)
    seed: int = 7


class ColumnSpec(_Strict):
    """How one output column is made; exactly one of column, value, expr, spread or arm_share.

    ``values`` maps source values (compared after trimming spaces; ``ignore_case`` folds case) to
    output values; a source value missing from the map takes ``default`` if given, else the row is
    rejected. ``type`` sets the type of a column beyond the contract (contract columns have theirs).
    """

    column: str | None = None
    value: Any = None
    expr: str | None = None
    spread: Spread | None = None
    arm_share: str | None = None
    values: dict[str, Any] | None = None
    default: Any = None
    ignore_case: bool = False
    type: ColumnType | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ColumnSpec:
        kinds = [k for k in ("column", "value", "expr", "spread", "arm_share") if k in self.model_fields_set]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of column, value, expr, spread, arm_share (got {kinds or 'none'})")
        if self.values is not None and "column" not in kinds:
            raise ValueError("values (a value map) needs column: the source column it maps")
        if "default" in self.model_fields_set and self.values is None:
            raise ValueError("default only applies with values (a value map)")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("column", "value", "expr", "spread", "arm_share") if k in self.model_fields_set)


class SourceSpec(_Strict):
    """Where rows come from: a CSV, Parquet, DuckDB or SQLite file (``table`` inside a database), or BigQuery."""

    path: str | None = None
    format: SourceFormat | None = None
    table: str | None = None  # DuckDB/SQLite table, or project.dataset.table for BigQuery
    delimiter: str = ","
    encoding: str = "utf-8"

    @model_validator(mode="after")
    def _located(self) -> SourceSpec:
        if self.format is None and self.path is not None:
            guessed = _SUFFIX_FORMATS.get(Path(self.path).suffix.lower())
            if guessed is None:
                raise ValueError(f"cannot tell the format of {self.path}: set format (csv, parquet, duckdb, sqlite)")
            self.format = guessed  # type: ignore[assignment]
        if self.format is None:
            raise ValueError("a source needs path (a file) or format: bigquery with table")
        if self.format == "bigquery" and not self.table:
            raise ValueError("a bigquery source needs table: project.dataset.table")
        if self.format in ("duckdb", "sqlite") and not self.table:
            raise ValueError(f"a {self.format} source needs table: the table to read inside {self.path}")
        if self.format != "bigquery" and not self.path:
            raise ValueError(f"a {self.format} source needs path")
        return self


class TableSpec(_Strict):
    """One contract table: rows of ``source`` (or literal ``rows``) turned into columns by ``columns``."""

    source: str | None = None
    rows: list[dict[str, Any]] | None = None
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    # Bring every source column the mapping does not name along as an extra column (lower-cased).
    keep_other_columns: bool = False

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `name: SOURCE_COL` renames; `name: {value: x}` and friends spell everything else out.
        if not isinstance(value, dict):
            return value
        return {k: ({"column": v} if isinstance(v, str) else v) for k, v in value.items()}

    @model_validator(mode="after")
    def _fed(self) -> TableSpec:
        if (self.source is None) == (self.rows is None):
            raise ValueError("give exactly one of source (a source name) or rows (literal rows)")
        return self


class Mapping(_Strict):
    """A whole mapping file; ``path`` is where it was read from (relative paths resolve against its folder)."""

    name: str
    description: str = ""
    timezone: str = "UTC"  # zone of naive timestamps in the sources
    variables: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    sources: dict[str, SourceSpec] = Field(default_factory=dict)
    tables: dict[str, TableSpec]
    path: Path | None = None

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", value):
            raise ValueError("name must be letters, digits, '_' or '-'")
        return value

    @field_validator("tables")
    @classmethod
    def _contract_tables(cls, value: dict[str, TableSpec]) -> dict[str, TableSpec]:
        unknown = sorted(set(value) - set(INPUT_TABLES))
        if unknown:
            raise ValueError(f"unknown table(s) {unknown}; the contract's are {sorted(INPUT_TABLES)}")
        return value

    @model_validator(mode="after")
    def _sources_exist(self) -> Mapping:
        for table, spec in self.tables.items():
            if spec.source is not None and spec.source not in self.sources:
                raise ValueError(f"table {table} reads source {spec.source!r}, which sources does not define")
        return self

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, path: str) -> Path:
        """A path of the mapping: absolute as given, relative to the mapping file's folder otherwise."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()


def find_mapping(path_or_name: str | Path) -> Path:
    """The mapping file: a path, or the name of one shipped with Herald (``gerber``, ``hillstrom``)."""
    candidate = Path(path_or_name).expanduser()
    if candidate.is_file():
        return candidate.resolve()
    shipped = MAPPINGS_DIR / f"{Path(str(path_or_name)).stem}.yaml"
    if not candidate.suffix and shipped.is_file():
        return shipped
    known = ", ".join(sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml")))
    raise MappingError(f"mapping file {path_or_name} does not exist; give a path, or one of Herald's: {known}")


def load_mapping(path_or_name: str | Path, variables: dict[str, Any] | None = None) -> Mapping:
    """Read, substitute ``${variables}`` and validate a mapping; raise MappingError naming file and key."""
    path = find_mapping(path_or_name)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise MappingError(f"mapping {path} must be a YAML mapping with name, sources and tables")
    values = {"repo": str(REPO_ROOT), "mapping_dir": str(path.parent)}
    values |= raw.get("variables") or {}
    values |= variables or {}
    for _ in range(len(values)):  # variables may use earlier ones: path: ${repo}/data/x.csv
        values = {k: _substitute(v, values, path) for k, v in values.items()}
    try:
        substituted = _substitute({k: v for k, v in raw.items() if k != "variables"}, values, path)
        return Mapping.model_validate({**substituted, "variables": values, "path": path})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise MappingError(f"mapping {path}: {problems}") from None


def _substitute(node: Any, values: dict[str, Any], path: Path) -> Any:
    """Replace ``${name}`` in every string; a string that is only ``${name}`` takes the value's own type."""
    if isinstance(node, dict):
        return {k: _substitute(v, values, path) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, values, path) for v in node]
    if not isinstance(node, str):
        return node
    for name in _VARIABLE.findall(node):
        if name not in values:
            raise MappingError(f"mapping {path}: ${{{name}}} is used but not defined under variables")
    whole = _VARIABLE.fullmatch(node)
    if whole:
        return values[whole.group(1)]
    return _VARIABLE.sub(lambda m: _text(values[m.group(1)]), node)


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)
