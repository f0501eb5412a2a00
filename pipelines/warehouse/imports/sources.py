"""Read one mapping source into a frame: CSV, Parquet, a DuckDB or SQLite table, or a BigQuery table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.warehouse.imports.mapping import Mapping, MappingError, SourceSpec

ROW_COLUMN = "_row"  # 1-based row number in the source, usable in expr and reported with every reject


def read_source(cfg: HeraldConfig, mapping: Mapping, name: str, override: str | Path | None = None) -> pd.DataFrame:
    """All rows of source ``name``, with ``_row`` added; CSV values stay text (coercion names bad cells).

    ``override`` replaces the source's path (``herald import --source name=PATH``). Raises
    MappingError naming the source, the file and what to do when it cannot be read.
    """
    spec = mapping.sources[name]
    if override is not None:
        # A path given on the command line is relative to where the command runs, not to the mapping.
        path = Path(override).expanduser().resolve()
        spec = SourceSpec.model_validate({**spec.model_dump(exclude={"format"}), "path": str(path)})
    where = f"mapping {mapping.name}, source {name}"
    if spec.format == "bigquery":
        frame = _read_bigquery(cfg, spec, where)
    else:
        path = mapping.resolve(str(spec.path))
        if not path.is_file():
            raise MappingError(
                f"{where}: file {path} does not exist; fix sources.{name}.path in {mapping.path} "
                f"or pass --source {name}=PATH"
            )
        frame = _read_file(spec, path, where)
    frame = frame.reset_index(drop=True)
    if ROW_COLUMN in frame.columns:
        raise MappingError(f"{where}: the source has a column named {ROW_COLUMN}, which Herald reserves")
    frame.insert(0, ROW_COLUMN, pd.RangeIndex(1, len(frame) + 1))
    return frame


def _read_file(spec: SourceSpec, path: Path, where: str) -> pd.DataFrame:
    try:
        if spec.format == "csv":
            # Text in, so a cell that is not a number/date/bool is named by the coercion, not lost by a guess.
            return pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                sep=spec.delimiter,
                encoding=spec.encoding,
                skipinitialspace=False,
            )
        if spec.format == "parquet":
            return pd.read_parquet(path)
        if spec.format == "duckdb":
            import duckdb

            with duckdb.connect(str(path), read_only=True) as con:
                con.execute("SET TimeZone = 'UTC'")
                return con.sql(f"SELECT * FROM {_dotted(spec.table or '')}").df()
        if spec.format == "sqlite":
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
                return pd.read_sql_query(f"SELECT * FROM {_dotted(spec.table or '')}", con)
    except MappingError:
        raise
    except Exception as exc:  # each reader raises its own types; the user needs the file and the reason
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MappingError(f"{where}: cannot read {spec.format} file {path} ({first})") from None
    raise MappingError(f"{where}: unknown format {spec.format}")


def _read_bigquery(cfg: HeraldConfig, spec: SourceSpec, where: str) -> pd.DataFrame:
    """A whole BigQuery table, through the client and credentials the BigQuery warehouse uses."""
    if cfg.warehouse_backend != "bigquery":
        raise MappingError(
            f"{where}: a bigquery source needs the BigQuery warehouse; set HERALD_WAREHOUSE_BACKEND=bigquery "
            "and HERALD_BIGQUERY_PROJECT, or export the table to Parquet and use path"
        )
    from pipelines.warehouse.bigquery import BigQueryWarehouse

    warehouse = BigQueryWarehouse(cfg.bigquery_project, cfg.dataset, cfg.bigquery_location, gcp_conn_id=cfg.gcp_conn_id)
    try:
        return warehouse.read_table(str(spec.table))
    finally:
        warehouse.close()


def _dotted(name: str) -> str:
    """Quote a possibly schema-qualified table name for DuckDB/SQLite."""
    if not name:
        raise MappingError("a database source needs table")
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))
