"""The BigQuery warehouse against a real emulator: the same query files, loads and writes over HTTP.

bqemulator (DuckDB underneath) runs as a server from its own virtual environment (`make bqemulator`
builds .venv-bqemulator: its pins clash with Herald's lock). The warehouse talks to it through the
official client (google-cloud-bigquery, AnonymousCredentials, ``client_options.api_endpoint``), so
requests, uploads, job polling and result paging are the real ones. Every query file runs here and
on the embedded DuckDB warehouse over the same hand-made world (bq_world.py: the inputs, the suppression
list and every table Herald writes), and the answers must agree; the forget_* statements must erase the
same rows on both.

Not covered by the emulator (README "Production" lists them): the Storage Read API for query results
(the emulator does not materialise anonymous result tables, so results come over REST,
``bqstorage_client=False``); named parameters inside a multi-statement script, which ``replace_run``
and ``publish_run`` use (the world writes the ledger and staging tables directly; the replace_run
test skips saying so); STRUCT fields named implicitly by their columns (``STRUCT(x)``; Herald's query
files write ``STRUCT(x AS x)``); IAM, quotas, slot scheduling and BigQuery's own error texts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from pipelines.config import REPO_ROOT
from pipelines.errors import WarehouseError
from pipelines.warehouse.duckdb import DuckDBWarehouse
from tests.services.bq_world import DAY, NEXT_DAY, SUPPRESSED, erased_tables, fill
from tests.services.production_stack import free_port
from tests.unit.warehouse.test_warehouse_duckdb import AS_OF, decision_rows

pytestmark = [pytest.mark.services, pytest.mark.slow]

VENV = Path(os.environ.get("HERALD_BQEMULATOR_VENV", REPO_ROOT / ".venv-bqemulator"))
PROJECT = "herald-emulated"
UTC = dt.UTC


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """bqemulator's REST endpoint, started once for the module in its own process group."""
    python = VENV / "bin" / "python"
    if not (VENV / ".installed").exists():
        pytest.skip(f"bqemulator's environment {VENV} is not built: run `make bqemulator` (needs PyPI once)")
    port, grpc_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("bqemulator") / "bqemulator.log"
    # HOME inside the environment: DuckDB finds the spatial extension `make bqemulator` installed there.
    env = {**os.environ, "HOME": str(VENV / "home")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(python), str(Path(__file__).with_name("bqemulator_launch.py")), "start"]
            + ["--rest-port", str(port), "--grpc-port", str(grpc_port), "--ephemeral", "--project", PROJECT]
            + ["--log-level", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"bqemulator exited at start:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"{endpoint}/bigquery/v2/projects/{PROJECT}/datasets", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"bqemulator did not answer within 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield endpoint
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _client(endpoint: str):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
        location="EU",
    )


def _warehouse(endpoint: str):
    from pipelines.warehouse.bigquery import BigQueryWarehouse

    client = _client(endpoint)
    dataset = f"herald_{uuid.uuid4().hex[:8]}"
    client.create_dataset(f"{PROJECT}.{dataset}")
    return BigQueryWarehouse(PROJECT, dataset, "EU", client=client, bqstorage_client=False)


@pytest.fixture(scope="module")
def both(emulator: str, tmp_path_factory: pytest.TempPathFactory):
    """The same world in the emulated BigQuery dataset and in an embedded DuckDB file."""
    bq = _warehouse(emulator)
    duck = DuckDBWarehouse(tmp_path_factory.mktemp("duck") / "warehouse.duckdb", must_exist=False)
    started = time.monotonic()
    fill(bq)
    print(f"\nloaded the world into the emulator in {time.monotonic() - started:.1f} s")
    fill(duck)
    return bq, duck


@pytest.fixture
def erasable(emulator: str, tmp_path: Path):
    """A fresh pair holding only the tables a forget request erases from: each forget test deletes rows."""
    bq, duck = _warehouse(emulator), DuckDBWarehouse(tmp_path / "warehouse.duckdb", must_exist=False)
    for wh in (bq, duck):
        fill(wh, erased_tables())
    return bq, duck


SINCE, UNTIL = dt.datetime(2024, 3, 1, tzinfo=UTC), dt.datetime(2024, 3, 10, tzinfo=UTC)
HISTORY = {"history_start": dt.datetime(2024, 2, 15, tzinfo=UTC), "as_of": AS_OF}
SENT = {"since": SINCE, "until": AS_OF}
SOME = {"customer_ids": ["c2", "c3", "c9"]}  # c9 is nowhere; c2 is suppressed but still in Herald's tables
FORGET = {"customer_ids": ["c2"]}
STAGED = {"logical_date": NEXT_DAY, "run_id": "r3"}
QUERIES = {
    "champion_at": {"at": dt.datetime(2024, 3, 6, tzinfo=UTC)},
    "check_customers": {},
    "check_events": {},
    "check_messages": {},
    "check_reviews": {},
    "check_send_channels": {},
    "check_send_references": {},
    "check_sends": SENT,
    "count_customers": {},
    "count_events": HISTORY,
    "count_messages": {},
    "count_reviews": {"as_of": AS_OF},
    "count_sends": SENT,
    "customer_event_sequences": {"as_of": AS_OF, "max_events": 3},
    "customer_ids_in_customer_segments": SOME,
    "customer_ids_in_decision_traces": SOME,
    "customer_ids_in_decisions": SOME,
    "customer_ids_in_rejected_rows": SOME,
    "decision_of": {"customer_id": "c1", "day": DAY},
    "decision_trace_of": {"run_id": "r1", "customer_id": "c2"},
    "decisions_between": {"since": SINCE, "until": UNTIL},
    "decisions_for_run": {"run_id": "r1"},
    "extract_customers": {},
    "extract_events": HISTORY,
    "extract_messages": {},
    "extract_reviews": {"as_of": AS_OF},
    "extract_sends": SENT,
    "forget_customer_segments": FORGET,
    "forget_decision_traces": FORGET,
    "forget_decisions": FORGET,
    "forget_rejected_rows": FORGET,
    "import_ledger": {},
    "latest_decisions": {},
    "model_promotions_history": {},
    "monitoring_metrics_history": {},
    "monitoring_run_breaches": {},
    "published_decisions": {},
    "reference_decisions": {"model_name": "herald-response", "model_version": "1"},
    "review_texts_of": {"customer_ids": ["c1", "c2"]},
    "scoring_run": {"run_id": "r2"},
    "shard_customer_ids": {"n_shards": 3, "shard": 1},
    "staged_run_counts": STAGED,
    "staged_segment_count": STAGED,
    "suppressed_customer_ids": {},
}
# DML: compared by what they leave behind (each erases c2 from its table), not by a result.
FORGETS = sorted(n for n in QUERIES if n.startswith("forget_"))


# Query files the emulator cannot answer, each with what goes wrong there (measured with bqemulator 1.4).
EMULATOR_GAPS: dict[str, str] = {}  # none since customer_event_sequences names its STRUCT fields


def _canonical(frame: pd.DataFrame) -> list[str]:
    """Rows as JSON with plain values, sorted: the backends may order ties differently."""

    def plain(value):
        if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
            return [plain(v) for v in list(value)]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
            return None
        if isinstance(value, pd.Timestamp | dt.datetime):
            return (
                pd.Timestamp(value).tz_convert("UTC").isoformat() if value.tzinfo else pd.Timestamp(value).isoformat()
            )
        if hasattr(value, "item"):
            return value.item()
        return value

    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return sorted(json.dumps({k: plain(v) for k, v in row.items()}, default=str, sort_keys=True) for row in rows)


def test_every_query_file_is_covered() -> None:
    files = {p.stem for p in (REPO_ROOT / "pipelines" / "warehouse" / "queries").glob("*.sql")}
    assert files == set(QUERIES), f"add the new query files to QUERIES: {sorted(files - set(QUERIES))}"


@pytest.mark.parametrize("name", sorted(set(QUERIES) - set(FORGETS)))
def test_query_file_answers_as_on_duckdb(both, name: str) -> None:
    if name in EMULATOR_GAPS:
        pytest.skip(EMULATOR_GAPS[name])
    bq, duck = both
    if name == "shard_customer_ids":
        # FARM_FINGERPRINT here (the emulator's is bit-exact FarmHash, as BigQuery's) and DuckDB's hash()
        # put customers in different shards; what must hold on both is a partition of the unsuppressed customers.
        for wh in (bq, duck):
            shards = [set(wh.query(name, {"n_shards": 3, "shard": s})["customer_id"]) for s in range(3)]
            assert set().union(*shards) == {"c1", "c3", "c4"} and sum(map(len, shards)) == 3
        return
    got, want = bq.query(name, QUERIES[name]), duck.query(name, QUERIES[name])
    assert list(got.columns) == list(want.columns)
    assert len(want) > 0, f"{name}: the hand-made world gives no rows; the comparison would prove nothing"
    assert _canonical(got) == _canonical(want)


@pytest.mark.parametrize("name", FORGETS)
def test_forget_statement_erases_as_on_duckdb(erasable, name: str) -> None:
    table, everyone = name.removeprefix("forget_"), {"customer_ids": ["c1", "c2", "c3", "c4", *SUPPRESSED]}
    left = []
    for wh in erasable:
        before = set(wh.query(f"customer_ids_in_{table}", everyone)["customer_id"])
        wh.query(name, QUERIES[name])
        after = set(wh.query(f"customer_ids_in_{table}", everyone)["customer_id"])
        assert "c2" in before and after == before - {"c2"} and after, f"{name} on {type(wh).__name__}"
        left.append(after)
    assert left[0] == left[1]


def test_iter_query_pages_over_rest(both) -> None:
    bq, _ = both
    params = QUERIES["extract_events"]
    batches = list(bq.iter_query("extract_events", params, batch_rows=10))
    assert len(batches) >= 6 and all(len(b) <= 10 for b in batches)
    assert sorted(pd.concat(batches)["event_id"]) == sorted(bq.query("extract_events", params)["event_id"])


def test_replace_run_is_idempotent_and_touches_only_its_run(both) -> None:
    bq, _ = both
    rows = decision_rows("r9", 0, ["c1", "c2"]).assign(model_name="herald-response", model_version="1")
    try:
        for _ in range(2):  # a retried task writes its shard again
            bq.write("decisions", rows, mode="replace_run", run_filter={"run_id": "r9", "shard": 0})
    except WarehouseError as exc:
        if "prepared statement parameters" not in str(exc):
            raise
        # BigQuery binds named parameters inside a multi-statement script; bqemulator 1.4 does not
        # (a single parameterised statement works). The staging load before the script did run.
        pytest.skip("bqemulator 1.4 does not bind query parameters inside multi-statement scripts")
    mine = bq.query("decisions_for_run", {"run_id": "r9"})
    assert sorted(mine["customer_id"]) == ["c1", "c2"]
    assert len(bq.query("decisions_for_run", {"run_id": "r1"})) == 3  # other runs untouched
    assert not [t for t in bq.list_tables() if t.startswith("_staging_")]


def test_loads_keep_the_contract_types(both) -> None:
    bq, _ = both
    described = bq.describe("decisions")
    assert described["decided_at"] == "TIMESTAMP" and described["shard"] == "INT64"
    assert described["p_response"] == "FLOAT64"
    assert bq.describe("sends")["sent_at"] == "TIMESTAMP"
    assert {"customers", "decisions", "scoring_runs", "suppressed_customers"} <= set(bq.list_tables())


def test_a_missing_table_is_a_warehouse_error(emulator: str) -> None:
    bq = _warehouse(emulator)  # an empty dataset
    with pytest.raises(WarehouseError, match="customers"):
        bq.query("extract_customers")
