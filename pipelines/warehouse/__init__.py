"""Warehouse access: one interface, an embedded DuckDB backend and a BigQuery backend, chosen by config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.errors import WarehouseError
from pipelines.warehouse.base import Warehouse, WriteMode, query_path

if TYPE_CHECKING:
    from pipelines.config import HeraldConfig

__all__ = ["Warehouse", "WarehouseError", "WriteMode", "get_warehouse", "query_path"]


def get_warehouse(cfg: HeraldConfig, must_exist: bool = True) -> Warehouse:
    """The warehouse the config names; ``must_exist=False`` lets the world builder create the DuckDB file."""
    # Backends are imported on demand so a DuckDB-only run never loads the Google client and vice versa.
    if cfg.warehouse_backend == "bigquery":
        from pipelines.warehouse.bigquery import BigQueryWarehouse

        return BigQueryWarehouse(
            cfg.bigquery_project,
            cfg.dataset,
            cfg.bigquery_location,
            bqstorage_client=None if cfg.bigquery_storage_api else False,
            gcp_conn_id=cfg.gcp_conn_id,
        )
    from pipelines.warehouse.duckdb import DuckDBWarehouse

    return DuckDBWarehouse(cfg.duckdb_path, cfg.dataset, must_exist=must_exist)
