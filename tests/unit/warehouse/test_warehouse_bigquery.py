"""The BigQuery warehouse, with a real client whose HTTP transport is a recording fake: no network, no credentials."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd
import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

import pipelines.warehouse
from pipelines.config import HeraldConfig
from pipelines.errors import WarehouseError
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.bigquery import BigQueryWarehouse
from pipelines.warehouse.bigquery_types import query_parameter
from pipelines.warehouse.credentials import connection_credentials, set_credentials_provider
from pipelines.warehouse.sql import read_query

UTC = dt.UTC
Handler = Callable[[str, str, Any], tuple[int, dict[str, Any]]]


class FakeResponse:
    """Just enough of requests.Response for google-cloud-core and google-api-core."""

    def __init__(self, status: int, payload: dict[str, Any], method: str, url: str) -> None:
        self.status_code = status
        self._payload = payload
        self.content = json.dumps(payload).encode()
        self.text = self.content.decode()
        self.headers = {"content-type": "application/json"}
        self.reason = "OK" if status < 400 else "Error"
        self.request = mock.Mock(method=method, url=url)

    def json(self) -> dict[str, Any]:
        return self._payload


class FakeHttp:
    """A requests.Session stand-in: routes (method, url regex) to canned JSON and records every call."""

    is_mtls = False

    def __init__(self, routes: list[tuple[str, str, Handler]]) -> None:
        self.routes = routes
        self.calls: list[tuple[str, str, Any]] = []

    def request(
        self, method: str, url: str, data: Any = None, headers: Any = None, timeout: Any = None, **_: Any
    ) -> FakeResponse:
        self.calls.append((method, url, data))
        assert len(self.calls) < 50, "runaway paging in the fake transport"
        for verb, pattern, handler in self.routes:
            if verb == method and re.search(pattern, url):
                status, payload = handler(method, url, data)
                return FakeResponse(status, payload, method, url)
        raise AssertionError(f"unexpected request {method} {url}")

    def jobs_inserted(self) -> list[dict[str, Any]]:
        return [
            json.loads(data)
            for method, url, data in self.calls
            if method == "POST" and url.split("?")[0].endswith("/jobs")
        ]


SCHEMA = {
    "fields": [
        {"name": "customer_id", "type": "STRING", "mode": "NULLABLE"},
        {"name": "birth_year", "type": "INTEGER", "mode": "NULLABLE"},
        {"name": "consent_email", "type": "BOOLEAN", "mode": "NULLABLE"},
    ]
}
ROWS = [
    {"f": [{"v": "c1"}, {"v": "1980"}, {"v": "true"}]},
    {"f": [{"v": "c2"}, {"v": None}, {"v": "false"}]},
    {"f": [{"v": "c3"}, {"v": "1999"}, {"v": None}]},
]


def insert_job(method: str, url: str, data: Any) -> tuple[int, dict[str, Any]]:
    body = json.loads(data)
    config = body["configuration"]
    config["query"]["destinationTable"] = {"projectId": "proj", "datasetId": "_anon", "tableId": "result"}
    return 200, {"jobReference": body["jobReference"], "configuration": config, "status": {"state": "DONE"}}


def page(url: str) -> dict[str, Any]:
    """One row per page, chained by page tokens p1, p2, like a result too large for one response."""
    token = re.search(r"pageToken=(\w+)", url)
    start = int(token.group(1)[1:]) if token else 0
    body: dict[str, Any] = {"totalRows": str(len(ROWS)), "rows": ROWS[start : start + 1]}
    if start + 1 < len(ROWS):
        body["pageToken"] = f"p{start + 1}"
    return body


def query_results(method: str, url: str, data: Any) -> tuple[int, dict[str, Any]]:
    payload: dict[str, Any] = {
        "jobReference": {"projectId": "proj", "jobId": "j", "location": "EU"},
        "jobComplete": True,
        "schema": SCHEMA,
        "totalRows": str(len(ROWS)),
    }
    if "maxResults=0" not in url:
        payload.update(page(url))
    return 200, payload


def table_data(method: str, url: str, data: Any) -> tuple[int, dict[str, Any]]:
    return 200, page(url)


def get_job(method: str, url: str, data: Any) -> tuple[int, dict[str, Any]]:
    job_id = url.split("?")[0].rsplit("/", 1)[-1]
    return 200, {
        "jobReference": {"projectId": "proj", "jobId": job_id, "location": "EU"},
        "configuration": {
            "query": {"query": "", "destinationTable": {"projectId": "proj", "datasetId": "_anon", "tableId": "result"}}
        },
        "status": {"state": "DONE"},
    }


def not_found(message: str) -> Handler:
    return lambda method, url, data: (
        404,
        {"error": {"code": 404, "message": message, "errors": [{"reason": "notFound", "message": message}]}},
    )


QUERY_ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", r"/projects/proj/jobs\?", insert_job),
    ("GET", r"/projects/proj/queries/", query_results),
    ("GET", r"/projects/proj/jobs/", get_job),
    ("GET", r"/datasets/_anon/tables/result/data", table_data),
]


def warehouse(routes: list[tuple[str, str, Handler]], bqstorage: Any = None) -> tuple[BigQueryWarehouse, FakeHttp]:
    http = FakeHttp(routes)
    client = bigquery.Client(project="proj", credentials=AnonymousCredentials(), _http=http, location="EU")
    if bqstorage is None:
        # As when the Storage API is unavailable: the client answers None and rows come over REST (no gRPC here).
        client._ensure_bqstorage_client = lambda *args, **kwargs: None  # type: ignore[method-assign]
    return BigQueryWarehouse("proj", "herald", "EU", client=client, bqstorage_client=bqstorage), http


def test_query_sends_sql_default_dataset_and_typed_parameters() -> None:
    wh, http = warehouse(QUERY_ROUTES)
    frame = wh.query(
        "extract_events",
        {"history_start": dt.datetime(2024, 2, 15, tzinfo=UTC), "as_of": dt.datetime(2024, 3, 8), "ignored": 1},
    )
    (job,) = http.jobs_inserted()
    query = job["configuration"]["query"]
    assert query["query"] == read_query("extract_events")
    assert query["useLegacySql"] is False
    assert query["defaultDataset"] == {"projectId": "proj", "datasetId": "herald"}
    assert job["jobReference"]["location"] == "EU"
    assert query["parameterMode"] == "NAMED"
    assert query["queryParameters"] == [
        {
            "name": "history_start",
            "parameterType": {"type": "TIMESTAMP"},
            "parameterValue": {"value": "2024-02-15 00:00:00+00:00"},
        },
        {
            "name": "as_of",
            "parameterType": {"type": "TIMESTAMP"},
            "parameterValue": {"value": "2024-03-08 00:00:00+00:00"},
        },
    ]
    assert frame["customer_id"].tolist() == ["c1", "c2", "c3"]
    assert frame["birth_year"].dtype == "Int64" and frame["consent_email"].dtype == "boolean"


def test_shard_query_parameters_are_int64() -> None:
    wh, http = warehouse(QUERY_ROUTES)
    wh.query("shard_customer_ids", {"n_shards": 4, "shard": 1})
    params = {p["name"]: p for p in http.jobs_inserted()[0]["configuration"]["query"]["queryParameters"]}
    assert params["n_shards"]["parameterType"] == {"type": "INT64"}
    assert params["shard"]["parameterValue"] == {"value": "1"}
    assert "FARM_FINGERPRINT(customer_id)" in http.jobs_inserted()[0]["configuration"]["query"]["query"]


def test_iter_query_pages_with_page_size() -> None:
    wh, http = warehouse(QUERY_ROUTES)
    batches = list(wh.iter_query("extract_customers", batch_rows=1))
    assert [b["customer_id"].tolist() for b in batches] == [["c1"], ["c2"], ["c3"]]
    assert any("maxResults=1" in url for _, url, _ in http.calls)
    assert pd.concat(batches).dtypes.equals(wh.query("extract_customers").dtypes)


def test_injected_storage_client_is_used_for_large_results() -> None:
    storage = mock.MagicMock()
    storage.create_read_session.return_value.streams = []
    wh, _ = warehouse(QUERY_ROUTES, bqstorage=storage)
    frame = wh.query("extract_customers")
    request = storage.create_read_session.call_args.kwargs
    assert request["parent"] == "projects/proj"
    assert request["read_session"].table == "projects/proj/datasets/_anon/tables/result"
    assert frame.empty


def test_missing_parameter_is_named_before_any_request() -> None:
    wh, http = warehouse(QUERY_ROUTES)
    with pytest.raises(WarehouseError, match="needs parameter.*as_of"):
        wh.query("extract_reviews", {})
    assert http.calls == []


def test_missing_table_in_query_is_a_clear_error() -> None:
    wh, _ = warehouse(
        [("POST", r"/jobs\?", not_found("Not found: Table proj:herald.reviews was not found in location EU"))]
    )
    with pytest.raises(
        WarehouseError, match=r"^query extract_reviews: table reviews does not exist in BigQuery dataset proj.herald$"
    ):
        wh.query("extract_reviews", {"as_of": dt.date(2024, 3, 8)})


def test_missing_column_in_query_is_a_clear_error() -> None:
    bad = lambda m, u, d: (  # noqa: E731 - a one-line fake response
        400,
        {
            "error": {
                "code": 400,
                "message": "Unrecognized name: sent_at at [4:7]",
                "errors": [{"reason": "invalidQuery"}],
            }
        },
    )  # noqa: E731
    wh, _ = warehouse([("POST", r"/jobs\?", bad)])
    with pytest.raises(
        WarehouseError, match=r"column sent_at is missing from tables? sends\b.* in BigQuery dataset proj.herald"
    ):
        wh.query("extract_sends", {"since": dt.date(2024, 3, 1), "until": dt.date(2024, 3, 8)})


def test_describe_and_list_tables() -> None:
    table = {
        "tableReference": {"projectId": "proj", "datasetId": "herald", "tableId": "customers"},
        "schema": {
            "fields": SCHEMA["fields"]
            + [
                {"name": "updated_at", "type": "TIMESTAMP", "mode": "NULLABLE"},
                {"name": "score", "type": "FLOAT", "mode": "NULLABLE"},
                {"name": "tags", "type": "STRING", "mode": "REPEATED"},
                {
                    "name": "ev",
                    "type": "RECORD",
                    "mode": "REPEATED",
                    "fields": [{"name": "event_type", "type": "STRING"}, {"name": "amount", "type": "FLOAT64"}],
                },
            ]
        },
    }
    listing = {
        "tables": [
            {"tableReference": {"projectId": "proj", "datasetId": "herald", "tableId": t}, "type": "TABLE"}
            for t in ["sends", "customers", "_staging_decisions_abc"]
        ]
    }
    wh, http = warehouse(
        [
            ("GET", r"/datasets/herald/tables/customers\?", lambda m, u, d: (200, table)),
            ("GET", r"/datasets/herald/tables/reviews\?", not_found("Not found: Table proj:herald.reviews")),
            ("GET", r"/datasets/herald/tables\?", lambda m, u, d: (200, listing)),
        ]
    )
    assert wh.describe("customers") == {
        "customer_id": "STRING",
        "birth_year": "INT64",
        "consent_email": "BOOL",
        "updated_at": "TIMESTAMP",
        "score": "FLOAT64",
        "tags": "ARRAY<STRING>",
        "ev": "ARRAY<STRUCT<event_type STRING, amount FLOAT64>>",
    }
    assert wh.list_tables() == ["customers", "sends"]
    assert wh.has_table("sends") and not wh.has_table("reviews")
    with pytest.raises(WarehouseError, match="^table reviews does not exist in BigQuery dataset proj.herald$"):
        wh.describe("reviews")


def test_list_tables_of_missing_dataset() -> None:
    wh, _ = warehouse([("GET", r"/datasets/herald/tables", not_found("Not found: Dataset proj:herald"))])
    with pytest.raises(WarehouseError, match="dataset proj.herald does not exist"):
        wh.list_tables()


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (True, "BOOL", True),
        (3, "INT64", 3),
        (0.25, "FLOAT64", 0.25),
        ("x", "STRING", "x"),
        (dt.date(2024, 3, 8), "DATE", dt.date(2024, 3, 8)),
        (dt.datetime(2024, 3, 8, 1, tzinfo=UTC), "TIMESTAMP", dt.datetime(2024, 3, 8, 1, tzinfo=UTC)),
        (pd.Timestamp("2024-03-08 01:00", tz="UTC"), "TIMESTAMP", dt.datetime(2024, 3, 8, 1, tzinfo=UTC)),
    ],
)
def test_scalar_parameter_types(value: Any, kind: str, expected: Any) -> None:
    param = query_parameter("p", value)
    assert isinstance(param, bigquery.ScalarQueryParameter)
    assert (param.type_, param.value) == (kind, expected)


def test_array_parameter_types() -> None:
    param = query_parameter("ids", ["c1", "c2"])
    assert isinstance(param, bigquery.ArrayQueryParameter)
    assert (param.array_type, param.values) == ("STRING", ["c1", "c2"])
    assert query_parameter("ids", []).array_type == "STRING"
    assert query_parameter("n", [1, 2]).array_type == "INT64"
    with pytest.raises(WarehouseError, match="cannot pass a dict"):
        query_parameter("x", {"a": 1})


# ---- writes, with the client mocked at its method level ----------------------------------
def mocked_client() -> mock.MagicMock:
    client = mock.MagicMock(spec=bigquery.Client)
    client.project = "proj"
    return client


def test_truncate_loads_with_write_truncate_and_contract_types() -> None:
    client = mocked_client()
    wh = BigQueryWarehouse("proj", "herald", "EU", client=client)
    frame = pd.DataFrame({"customer_id": ["c1"], "birth_year": [None], "extra": [None]})
    assert wh.write("customers", frame) == 1
    args, kwargs = client.load_table_from_dataframe.call_args
    assert args[1] == "proj.herald.customers"
    config = kwargs["job_config"]
    assert config.write_disposition == bigquery.WriteDisposition.WRITE_TRUNCATE
    assert {f.name: f.field_type for f in config.schema} == {
        "customer_id": "STRING",
        "birth_year": "INT64",
        "extra": "STRING",
    }


def test_replace_run_stages_then_swaps_in_one_transaction() -> None:
    client = mocked_client()
    wh = BigQueryWarehouse("proj", "herald", "EU", client=client)
    frame = pd.DataFrame(
        {"customer_id": ["c1", "c2"], "run_id": "r1", "decided_at": pd.Timestamp("2024-03-08", tz="UTC")}
    )
    wh.write("decisions", frame, "replace_run", {"run_id": "r1", "shard": 2})
    staging = client.load_table_from_dataframe.call_args.args[1]
    assert re.fullmatch(r"proj\.herald\._staging_decisions_[0-9a-f]{32}", staging)
    loaded = client.load_table_from_dataframe.call_args.args[0]
    assert loaded["shard"].tolist() == [2, 2]  # the filter column is added to the staged rows
    script = client.query.call_args.args[0]
    statements = [s.strip() for s in script.split(";") if s.strip()]
    assert statements[0].startswith(
        "CREATE TABLE IF NOT EXISTS `proj.herald.decisions` (`logical_date` DATE NOT NULL, `run_id` STRING NOT NULL"
    )
    assert statements[1:] == [
        "BEGIN TRANSACTION",
        "DELETE FROM `proj.herald.decisions` WHERE `run_id` = @run_id AND `shard` = @shard",
        f"INSERT INTO `proj.herald.decisions` (`customer_id`, `run_id`, `decided_at`, `shard`) "
        f"SELECT `customer_id`, `run_id`, `decided_at`, `shard` FROM `{staging}`",
        "COMMIT TRANSACTION",
    ]
    config = client.query.call_args.kwargs["job_config"]
    assert [(p.name, p.type_, p.value) for p in config.query_parameters] == [
        ("run_id", "STRING", "r1"),
        ("shard", "INT64", 2),
    ]
    client.delete_table.assert_called_once_with(staging, not_found_ok=True)


def test_replace_run_drops_staging_even_when_the_swap_fails() -> None:
    client = mocked_client()
    client.query.return_value.result.side_effect = gexc.BadRequest("Query error: bad value")
    wh = BigQueryWarehouse("proj", "herald", "EU", client=client)
    with pytest.raises(WarehouseError, match="writing 1 rows to herald.scratch failed: .*bad value"):
        wh.write("scratch", pd.DataFrame({"run_id": ["r1"]}), "replace_run", {"run_id": "r1"})
    assert "LIKE `proj.herald._staging_scratch_" in client.query.call_args.args[0]
    client.delete_table.assert_called_once()


def test_publish_swaps_the_date_in_one_script_job_that_asserts_the_staged_counts() -> None:
    import sqlglot

    client = mocked_client()
    wh = BigQueryWarehouse("proj", "herald", "EU", client=client)
    day = dt.date(2026, 6, 1)
    ledger = {"logical_date": day, "run_id": "r1", "status": "complete", "decisions": 400}
    wh.publish_run(
        day,
        "r1",
        {"decisions": "decisions_staging", "customer_segments": "customer_segments_staging"},
        {"decisions": 400, "customer_segments": 400},
        ledger,
    )
    assert client.query.call_count == 1  # one job: nothing becomes visible piecemeal
    client.load_table_from_dataframe.assert_not_called()
    script = client.query.call_args.args[0]
    body = script[script.index("BEGIN TRANSACTION;") :]
    statements = [s.strip() for s in body.split(";") if s.strip()]
    assert statements[0] == "BEGIN TRANSACTION" and statements[-1] == "COMMIT TRANSACTION"
    decisions = [s for s in statements if "`proj.herald.decisions`" in s]
    assert decisions == [
        "DELETE FROM `proj.herald.decisions` WHERE logical_date = @logical_date",
        decisions[1],
    ]
    assert decisions[1].startswith("INSERT INTO `proj.herald.decisions` (`logical_date`, `run_id`, `shard`")
    assert decisions[1].endswith(
        "FROM `proj.herald.decisions_staging` WHERE logical_date = @logical_date AND run_id = @run_id"
    )
    asserts = [s for s in statements if s.startswith("ASSERT")]
    assert len(asserts) == 2 and "= @expected_decisions AS" in asserts[0]
    assert statements.index(asserts[0]) < statements.index(decisions[0])  # checked before anything is deleted
    assert any(s.startswith("UPDATE `proj.herald.scoring_runs` SET status = 'replaced'") for s in statements)
    for statement in sqlglot.parse(script, read="bigquery"):
        assert statement is not None
    params = {p.name: (p.type_, p.value) for p in client.query.call_args.kwargs["job_config"].query_parameters}
    assert params["logical_date"] == ("DATE", day)
    assert params["expected_decisions"] == ("INT64", 400)
    assert params["ledger_decisions"] == ("INT64", 400)
    assert params["ledger_status"] == ("STRING", "complete")


# ---- credentials and imports --------------------------------------------------------------
def test_without_a_provider_credentials_fall_back_to_adc() -> None:
    set_credentials_provider(None)
    assert connection_credentials("google_cloud_default") == (None, None)
    assert connection_credentials(None) == (None, None)


def test_registered_provider_supplies_credentials() -> None:
    set_credentials_provider(lambda conn_id: (f"creds-of-{conn_id}", "conn-project"))
    try:
        assert connection_credentials("gcp") == ("creds-of-gcp", "conn-project")
    finally:
        set_credentials_provider(None)


def test_factory_builds_bigquery_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    made: dict[str, Any] = {}

    def fake_client(project: str | None, location: str, credentials: Any, gcp_conn_id: str | None) -> Any:
        made.update(project=project, location=location, gcp_conn_id=gcp_conn_id)
        return mocked_client()

    monkeypatch.setattr("pipelines.warehouse.bigquery._make_client", fake_client)
    cfg = HeraldConfig(warehouse_backend="bigquery", bigquery_project="proj", dataset="crm", gcp_conn_id="gcp")
    wh = get_warehouse(cfg)
    assert isinstance(wh, BigQueryWarehouse) and wh.dataset_id == "proj.crm"
    assert made == {"project": "proj", "location": "EU", "gcp_conn_id": "gcp"}


def test_warehouse_modules_do_not_import_airflow_at_top_level() -> None:
    for path in Path(pipelines.warehouse.__file__).parent.glob("*.py"):
        for node in ast.parse(path.read_text()).body:  # module level only; imports inside functions are fine
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "airflow" for n in names), f"{path.name} imports airflow at top level"
