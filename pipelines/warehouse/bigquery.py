"""The production warehouse: a BigQuery dataset, queried with the same SQL files and named parameters."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from pipelines.errors import WarehouseError
from pipelines.warehouse import contract
from pipelines.warehouse.base import Warehouse, WriteMode
from pipelines.warehouse.bigquery_errors import translate_error
from pipelines.warehouse.bigquery_scripts import publish_script, replace_run_script
from pipelines.warehouse.bigquery_types import field_type, query_parameter
from pipelines.warehouse.credentials import connection_credentials
from pipelines.warehouse.frames import arrow_to_pandas, plain_value, with_run_filter
from pipelines.warehouse.sql import parameter_names, read_query

log = logging.getLogger(__name__)

STAGING_PREFIX = "_staging_"


# ---- credentials -----------------------------------------------------------------------
def _make_client(project: str | None, location: str, credentials: Any, gcp_conn_id: str | None) -> bigquery.Client:
    if credentials is None:
        credentials, conn_project = connection_credentials(gcp_conn_id)
        project = project or conn_project
    try:
        # credentials=None lets the client use Application Default Credentials.
        return bigquery.Client(project=project, credentials=credentials, location=location)
    except Exception as exc:  # DefaultCredentialsError, or OSError when no project can be determined
        first = str(exc).splitlines()[0]
        raise WarehouseError(
            f"cannot create a BigQuery client ({first}); configure the Airflow connection {gcp_conn_id}, "
            "run `gcloud auth application-default login`, and set HERALD_BIGQUERY_PROJECT"
        ) from None


class BigQueryWarehouse(Warehouse):
    """Tables of ``project.dataset``; SQL files stay unqualified through the job's default dataset.

    Query results download through the BigQuery Storage Read API: ``bqstorage_client`` injects that
    client, ``None`` makes one from the BigQuery client, ``False`` downloads over REST only (where the
    Storage Read API is not enabled or permitted, and on an emulator that lacks it).
    """

    def __init__(
        self,
        project: str | None,
        dataset: str,
        location: str = "EU",
        client: bigquery.Client | None = None,
        bqstorage_client: Any = None,
        credentials: Any = None,
        *,
        gcp_conn_id: str | None = None,
    ) -> None:
        # Close only a client made here; an injected one belongs to the caller.
        self._owns_client = client is None
        self._client = client or _make_client(project, location, credentials, gcp_conn_id)
        self.project = project or self._client.project
        if not self.project:
            raise WarehouseError("no BigQuery project: set HERALD_BIGQUERY_PROJECT")
        self.dataset = dataset
        self.location = location
        self._bqstorage = bqstorage_client

    @property
    def dataset_id(self) -> str:
        return f"{self.project}.{self.dataset}"

    def _table_id(self, table: str) -> str:
        return f"{self.dataset_id}.{table}"

    # ---- reading ---------------------------------------------------------------------
    def _job_config(self, params: Mapping[str, Any]) -> bigquery.QueryJobConfig:
        return bigquery.QueryJobConfig(
            default_dataset=self.dataset_id,
            query_parameters=[query_parameter(k, v) for k, v in params.items()],
        )

    def _run(self, name: str, params: Mapping[str, Any] | None) -> tuple[bigquery.QueryJob, str]:
        sql = read_query(name)
        given = dict(params or {})
        missing = [p for p in parameter_names(name) if p not in given]
        if missing:
            raise WarehouseError(f"query {name} needs parameter(s) {', '.join(missing)}")
        # Only the parameters the file uses, as on DuckDB, so both backends accept the same calls.
        used = {p: given[p] for p in parameter_names(name)}
        try:
            job = self._client.query(sql, job_config=self._job_config(used), location=self.location)
        except gexc.GoogleAPIError as exc:
            raise translate_error(exc, sql, f"query {name}", self.dataset_id) from None
        return job, sql

    def _storage_client(self) -> Any:
        """The injected Storage Read client, else one made once from the BigQuery client (faster downloads)."""
        if self._bqstorage is False:
            return None
        if self._bqstorage is None:
            try:
                self._bqstorage = self._client._ensure_bqstorage_client()
            except Exception:  # noqa: BLE001 - the REST download still works without the Storage API
                self._bqstorage = None
        return self._bqstorage

    def query(self, name: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        job, sql = self._run(name, params)
        try:
            # Arrow, then one shared conversion, so query and iter_query (and DuckDB) give the same dtypes.
            table = job.result().to_arrow(bqstorage_client=self._storage_client(), create_bqstorage_client=False)
        except gexc.GoogleAPIError as exc:
            raise translate_error(exc, sql, f"query {name}", self.dataset_id) from None
        return arrow_to_pandas(table)

    def iter_query(
        self, name: str, params: Mapping[str, Any] | None = None, batch_rows: int = 50_000
    ) -> Iterator[pd.DataFrame]:
        job, sql = self._run(name, params)
        try:
            rows = job.result(page_size=batch_rows)
        except gexc.GoogleAPIError as exc:
            raise translate_error(exc, sql, f"query {name}", self.dataset_id) from None
        return self._batches(rows)

    def _batches(self, rows: Any) -> Iterator[pd.DataFrame]:
        yielded = False
        for batch in rows.to_arrow_iterable(bqstorage_client=self._storage_client()):  # None: REST pages
            if batch.num_rows:
                yielded = True
                yield arrow_to_pandas(batch)
        if not yielded:
            # One empty frame so consumers still learn the columns.
            yield pd.DataFrame(columns=[f.name for f in rows.schema])

    # ---- writing ---------------------------------------------------------------------
    def _load_config(self, table: str, frame: pd.DataFrame) -> bigquery.LoadJobConfig:
        known = contract.INPUT_TABLES.get(table) or contract.OUTPUT_TABLES.get(table)
        schema = []
        for col in frame.columns:
            if known is not None and col in known.column_names:
                schema.append(bigquery.SchemaField(col, known.column(col).type))
            elif frame[col].dtype == object and frame[col].isna().all():
                # An all-NULL column has no type to infer; STRING is what it would hold.
                schema.append(bigquery.SchemaField(col, "STRING"))
        # A partial schema is completed from the frame's dtypes by the client.
        return bigquery.LoadJobConfig(write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE, schema=schema or None)

    def _load(self, table: str, target: str, frame: pd.DataFrame) -> None:
        job = self._client.load_table_from_dataframe(
            frame, self._table_id(target), job_config=self._load_config(table, frame), location=self.location
        )
        job.result()

    def write(
        self,
        table: str,
        frame: pd.DataFrame,
        mode: WriteMode = "truncate",
        run_filter: Mapping[str, Any] | None = None,
    ) -> int:
        if not table.isidentifier():
            raise WarehouseError(f"table name {table!r} must be a plain identifier")
        context = f"writing {len(frame)} rows to {self.dataset}.{table}"
        try:
            if mode == "truncate":
                self._load(table, table, frame)
            elif mode == "replace_run":
                self._replace_run(table, with_run_filter(table, frame, run_filter), dict(run_filter or {}))
            else:
                raise WarehouseError(f"unknown write mode {mode!r} (truncate or replace_run)")
        except gexc.GoogleAPIError as exc:
            raise translate_error(exc, None, context, self.dataset_id, table) from None
        return len(frame)

    def _replace_run(self, table: str, frame: pd.DataFrame, run_filter: dict[str, Any]) -> None:
        staging = f"{STAGING_PREFIX}{table}_{uuid.uuid4().hex}"
        self._load(table, staging, frame)
        try:
            job = self._client.query(
                replace_run_script(self.dataset_id, table, staging, list(frame.columns), list(run_filter)),
                job_config=self._job_config(run_filter),
                location=self.location,
            )
            job.result()
        finally:
            self._client.delete_table(self._table_id(staging), not_found_ok=True)

    def publish_run(
        self,
        logical_date: dt.date,
        run_id: str,
        swaps: Mapping[str, str],
        expected: Mapping[str, int],
        ledger: Mapping[str, Any],
        ledger_table: str = "scoring_runs",
    ) -> dict[str, int]:
        script = publish_script(self.dataset_id, self.dataset, swaps, expected, list(ledger), ledger_table)
        params: list[Any] = [
            bigquery.ScalarQueryParameter("logical_date", "DATE", logical_date),
            bigquery.ScalarQueryParameter("run_id", "STRING", run_id),
        ]
        params += [
            bigquery.ScalarQueryParameter(f"expected_{target}", "INT64", int(n)) for target, n in expected.items()
        ]
        columns = contract.OUTPUT_TABLES[ledger_table]
        params += [
            bigquery.ScalarQueryParameter(f"ledger_{c}", columns.column(c).type, plain_value(v))
            for c, v in ledger.items()
        ]
        config = bigquery.QueryJobConfig(default_dataset=self.dataset_id, query_parameters=params)
        try:
            self._client.query(script, job_config=config, location=self.location).result()
        except gexc.GoogleAPIError as exc:
            raise translate_error(exc, None, f"publishing run {run_id} ({logical_date})", self.dataset_id) from None
        return {target: int(n) for target, n in expected.items()}

    # ---- catalogue -------------------------------------------------------------------
    def list_tables(self) -> list[str]:
        try:
            tables = list(self._client.list_tables(self.dataset_id))
        except gexc.NotFound:
            raise WarehouseError(f"BigQuery dataset {self.dataset_id} does not exist") from None
        return sorted(t.table_id for t in tables if not t.table_id.startswith(STAGING_PREFIX))

    def describe(self, table: str) -> dict[str, str]:
        try:
            schema = self._client.get_table(self._table_id(table)).schema
        except gexc.NotFound:
            raise WarehouseError(f"table {table} does not exist in BigQuery dataset {self.dataset_id}") from None
        return {f.name: field_type(f) for f in schema}

    def read_table(self, table_id: str) -> pd.DataFrame:
        """Every row of a table named ``project.dataset.table`` (a `herald import` source), as pandas."""
        try:
            rows = self._client.list_rows(table_id)
            return arrow_to_pandas(rows.to_arrow(bqstorage_client=self._storage_client()))
        except gexc.NotFound:
            raise WarehouseError(f"BigQuery table {table_id} does not exist (a mapping source)") from None

    def close(self) -> None:
        if self._owns_client:
            self._client.close()
