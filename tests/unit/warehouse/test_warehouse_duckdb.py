"""The embedded DuckDB warehouse: writes, idempotent runs, clear errors, and every query file on a hand-made world."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.config import HeraldConfig
from pipelines.errors import WarehouseError
from pipelines.warehouse import Warehouse, get_warehouse
from pipelines.warehouse.duckdb import DuckDBWarehouse
from pipelines.warehouse.extract import ensure_suppression_table

UTC = dt.UTC


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4"],
            "signup_date": [dt.date(2023, 1, 1), dt.date(2023, 6, 1), None, dt.date(2024, 1, 1)],
            "birth_year": [1980, None, 1999, 1975],
            "gender": ["f", "m", None, "f"],
            "region": ["north", "south", "north", "east"],
            "loyalty_tier": ["gold", "none", "silver", "none"],
            "consent_email": [True, False, True, None],
            "consent_push": [True, True, False, False],
            "consent_sms": [False, False, False, True],
            "updated_at": [ts("2024-03-01")] * 4,
            "favourite_colour": ["red", "blue", None, "green"],  # an extra column: a profile feature
        }
    )


def events() -> pd.DataFrame:
    rows = [
        ("e1", "c1", "2024-03-01 10:00", "view", "shoes", None),
        ("e2", "c1", "2024-03-02 11:00", "purchase", None, 20.0),
        ("e3", "c1", "2024-03-03 12:00", "view", "bags", None),
        ("e4", "c1", "2024-03-10 09:00", "view", "bags", None),  # after as_of
        ("e5", "c2", "2024-02-01 08:00", "search", None, None),  # before history_start
        ("e6", "c2", "2024-03-05 18:30", "add_to_cart", "hats", None),
    ]
    # c3: 55 events, one per hour, to exercise the literal 50 cap of customer_event_sequences.
    base = ts("2024-03-01")
    rows += [(f"x{i:02d}", "c3", str(base + pd.Timedelta(hours=i)), "view", None, None) for i in range(55)]
    frame = pd.DataFrame(
        rows, columns=["event_id", "customer_id", "event_ts", "event_type", "product_category", "amount"]
    )
    frame["event_ts"] = pd.to_datetime(frame["event_ts"], utc=True, format="ISO8601")
    frame["device"] = "web"
    return frame


def messages() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "message_id": ["m1", "m2"],
            "campaign_id": ["k1", "k1"],
            "title": ["Hello", "Sale"],
            "body": ["b1", "b2"],
            "offer_type": ["content", "discount"],
            "discount_pct": [None, 15.0],
            "product_category": [None, "shoes"],
            "image_uri": [None, "assets/m2.png"],
            "active_from": [dt.date(2024, 1, 1)] * 2,
            "active_to": [dt.date(2024, 12, 31)] * 2,
            "tone": ["warm", "urgent"],  # an extra column: a message attribute
        }
    )


def sends() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "send_id": ["s1", "s2", "s3", "s4"],
            "customer_id": ["c1", "c2", "c1", "c3"],
            "message_id": ["m1", None, "m2", "m1"],
            "channel": ["email", "none", "push", "sms"],
            "sent_at": [ts("2024-03-01 08:00"), ts("2024-03-07 23:59"), ts("2024-03-08 00:00"), ts("2024-02-28 12:00")],
            "propensity": [0.5, 0.1, None, 0.2],
            "opened": [True, False, False, True],
            "clicked": [False, False, False, True],
            "converted": [False, False, False, True],
            "revenue": [0.0, 0.0, 0.0, 12.5],
        }
    )


def reviews() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "review_id": ["r1", "r2"],
            "customer_id": ["c1", "c2"],
            "created_at": [ts("2024-03-01"), ts("2024-03-09")],
            "rating": [5, 2],
            "text": ["great", "meh"],
        }
    )


AS_OF = dt.datetime(2024, 3, 8, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DuckDBWarehouse:
    """Built once per module: the tests that use it only read."""
    wh = DuckDBWarehouse(tmp_path_factory.mktemp("world") / "warehouse.duckdb", must_exist=False)
    for name, frame in [
        ("customers", customers()),
        ("events", events()),
        ("messages", messages()),
        ("sends", sends()),
        ("reviews", reviews()),
    ]:
        wh.write(name, frame)
    ensure_suppression_table(wh)  # every extract query reads the suppression list
    return wh


def rows(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ---- every query file on the hand-made world ------------------------------------------
def test_extract_customers_returns_all_columns_including_extras(world: DuckDBWarehouse) -> None:
    frame = world.query("extract_customers")
    assert sorted(frame["customer_id"]) == ["c1", "c2", "c3", "c4"]
    assert list(frame.columns) == list(customers().columns)
    assert frame.set_index("customer_id").loc["c2", "favourite_colour"] == "blue"
    assert pd.isna(frame.set_index("customer_id").loc["c2", "birth_year"])


def test_extract_messages_returns_all_columns(world: DuckDBWarehouse) -> None:
    frame = world.query("extract_messages").sort_values("message_id")
    assert frame["message_id"].tolist() == ["m1", "m2"]
    assert frame["tone"].tolist() == ["warm", "urgent"]
    assert frame["active_from"].tolist() == [dt.date(2024, 1, 1)] * 2


def test_extract_events_keeps_the_history_window(world: DuckDBWarehouse) -> None:
    frame = world.query("extract_events", {"history_start": dt.datetime(2024, 2, 15, tzinfo=UTC), "as_of": AS_OF})
    ids = set(frame["event_id"])
    assert {"e1", "e2", "e3", "e6"} <= ids
    assert not ids & {"e4", "e5"}
    assert len(ids) == 4 + 55


def test_extract_sends_is_half_open(world: DuckDBWarehouse) -> None:
    frame = world.query("extract_sends", {"since": dt.datetime(2024, 3, 1), "until": AS_OF})
    assert sorted(frame["send_id"]) == ["s1", "s2"]  # s3 at `until` is excluded, s4 before `since`


def test_extract_reviews_before_as_of(world: DuckDBWarehouse) -> None:
    frame = world.query("extract_reviews", {"as_of": AS_OF})
    assert frame["review_id"].tolist() == ["r1"]
    assert frame["rating"].tolist() == [5]


def test_customer_event_sequences_newest_first(world: DuckDBWarehouse) -> None:
    frame = world.query("customer_event_sequences", {"as_of": AS_OF, "max_events": 2}).set_index("customer_id")
    c1 = [(e["event_type"], e["product_category"], e["amount"], e["event_ts"]) for e in frame.loc["c1", "events"]]
    assert c1 == [
        ("view", "bags", None, dt.datetime(2024, 3, 3, 12, tzinfo=UTC)),
        ("purchase", None, 20.0, dt.datetime(2024, 3, 2, 11, tzinfo=UTC)),
    ]
    assert [e["event_type"] for e in frame.loc["c2", "events"]] == ["add_to_cart", "search"]
    assert len(frame.loc["c3", "events"]) == 2
    assert "c4" not in frame.index  # no events, no row


def test_customer_event_sequences_caps_at_50(world: DuckDBWarehouse) -> None:
    frame = world.query("customer_event_sequences", {"as_of": AS_OF, "max_events": 500}).set_index("customer_id")
    c3 = list(frame.loc["c3", "events"])
    assert len(c3) == 50
    assert c3[0]["event_ts"] == dt.datetime(2024, 3, 3, 6, tzinfo=UTC)  # hour 54, the newest
    assert c3[-1]["event_ts"] == dt.datetime(2024, 3, 1, 5, tzinfo=UTC)  # hour 5: hours 0-4 are cut


def test_shard_customer_ids_partition_the_customers(world: DuckDBWarehouse) -> None:
    shards = [set(world.query("shard_customer_ids", {"n_shards": 3, "shard": s})["customer_id"]) for s in range(3)]
    assert set().union(*shards) == {"c1", "c2", "c3", "c4"}
    assert sum(len(s) for s in shards) == 4  # disjoint
    again = set(world.query("shard_customer_ids", {"n_shards": 3, "shard": 0})["customer_id"])
    assert again == shards[0]  # deterministic
    assert (
        set(world.query("shard_customer_ids", {"n_shards": 1, "shard": 0})["customer_id"])
        == shards[0] | shards[1] | shards[2]
    )


def test_iter_query_streams_batches(world: DuckDBWarehouse) -> None:
    params = {"history_start": dt.datetime(2024, 2, 15, tzinfo=UTC), "as_of": AS_OF}
    batches = list(world.iter_query("extract_events", params, batch_rows=10))
    assert len(batches) >= 6 and all(len(b) <= 10 for b in batches)
    whole = pd.concat(batches)
    assert sorted(whole["event_id"]) == sorted(world.query("extract_events", params)["event_id"])
    assert whole.dtypes.equals(world.query("extract_events", params).dtypes)


def test_iter_query_empty_result_yields_one_empty_frame(world: DuckDBWarehouse) -> None:
    batches = list(world.iter_query("extract_reviews", {"as_of": dt.datetime(2000, 1, 1)}))
    assert len(batches) == 1 and batches[0].empty and "review_id" in batches[0].columns


def test_extra_parameters_are_ignored_and_missing_ones_named(world: DuckDBWarehouse) -> None:
    assert len(world.query("extract_reviews", {"as_of": AS_OF, "unused": 1})) == 1
    with pytest.raises(WarehouseError, match="needs parameter.*since"):
        world.query("extract_sends", {"until": AS_OF})


# ---- writes ---------------------------------------------------------------------------
def decision_rows(run_id: str, shard: int, customers_: list[str], hour: int = 8) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "logical_date": dt.date(2024, 3, 8),
            "run_id": run_id,
            "shard": shard,
            "decided_at": ts("2024-03-08 06:00"),
            "customer_id": customers_,
            "message_id": "m1",
            "channel": "email",
            "send_hour": hour,
            "p_response": 0.1,
        }
    )


def test_truncate_replaces_the_whole_table(path: Path) -> None:
    wh = DuckDBWarehouse(path, must_exist=False)
    assert wh.write("customers", customers()) == 4
    assert wh.write("customers", customers().head(2)) == 2
    ensure_suppression_table(wh)
    assert sorted(wh.query("extract_customers")["customer_id"]) == ["c1", "c2"]
    assert wh.describe("customers")["birth_year"] == "INT64"  # contract type, although pandas held floats


def test_replace_run_is_idempotent_and_touches_only_its_run(path: Path) -> None:
    wh = DuckDBWarehouse(path, must_exist=False)
    wh.write("decisions", decision_rows("r1", 0, ["c1", "c2"]), "replace_run", {"run_id": "r1", "shard": 0})
    wh.write("decisions", decision_rows("r1", 1, ["c3"]), "replace_run", {"run_id": "r1", "shard": 1})
    wh.write("decisions", decision_rows("r0", 0, ["c4"]), "replace_run", {"run_id": "r0", "shard": 0})
    # The retry of r1/shard 0 with a different answer replaces exactly its own rows.
    for _ in range(2):
        wh.write(
            "decisions", decision_rows("r1", 0, ["c1", "c2"], hour=12), "replace_run", {"run_id": "r1", "shard": 0}
        )
    got = rows(path, "SELECT run_id, shard, customer_id, send_hour FROM herald.decisions ORDER BY ALL")
    assert got == [("r0", 0, "c4", 8), ("r1", 0, "c1", 12), ("r1", 0, "c2", 12), ("r1", 1, "c3", 8)]
    # Created from the contract: every contract column, with its type.
    assert wh.describe("decisions")["model_version"] == "STRING"
    assert wh.describe("decisions")["decided_at"] == "TIMESTAMP"


def test_replace_run_failure_leaves_previous_rows(path: Path) -> None:
    wh = DuckDBWarehouse(path, must_exist=False)
    wh.write("decisions", decision_rows("r1", 0, ["c1", "c2"]), "replace_run", {"run_id": "r1", "shard": 0})
    bad = decision_rows("r1", 0, ["c1"])
    bad["send_hour"] = "noon"  # the DELETE succeeds, the INSERT fails: the transaction must roll back
    with pytest.raises(WarehouseError, match="decisions failed: Conversion Error"):
        wh.write("decisions", bad, "replace_run", {"run_id": "r1", "shard": 0})
    assert rows(path, "SELECT customer_id FROM herald.decisions ORDER BY 1") == [("c1",), ("c2",)]


def test_replace_run_adds_filter_columns_and_rejects_foreign_rows(path: Path) -> None:
    wh = DuckDBWarehouse(path, must_exist=False)
    frame = pd.DataFrame({"logical_date": [dt.date(2024, 3, 8)], "customer_id": ["c1"], "segment": [3]})
    wh.write("customer_segments", frame, "replace_run", {"run_id": "r9"})
    assert rows(path, "SELECT run_id, customer_id, segment FROM herald.customer_segments") == [("r9", "c1", 3)]
    with pytest.raises(WarehouseError, match="run_id = 'r9'"):
        wh.write("customer_segments", frame.assign(run_id="other"), "replace_run", {"run_id": "r9"})
    with pytest.raises(WarehouseError, match="needs a run_filter"):
        wh.write("customer_segments", frame, "replace_run")


def test_replace_run_creates_unknown_tables_from_the_frame(path: Path) -> None:
    wh = DuckDBWarehouse(path, must_exist=False)
    frame = pd.DataFrame({"run_id": ["r1"], "score": [0.5], "note": [None]})
    wh.write("scratch", frame, "replace_run", {"run_id": "r1"})
    wh.write("scratch", frame, "replace_run", {"run_id": "r1"})
    assert wh.describe("scratch") == {"run_id": "STRING", "score": "FLOAT64", "note": "STRING"}
    assert rows(path, "SELECT count(*) FROM herald.scratch") == [(1,)]


def test_describe_maps_types_to_bigquery(path: Path) -> None:
    wh = DuckDBWarehouse(path, must_exist=False)
    frame = pd.DataFrame(
        {
            "s": ["a"],
            "i": [1],
            "f": [1.5],
            "b": [True],
            "d": [dt.date(2024, 1, 1)],
            "t": [ts("2024-01-01")],
            "naive": [pd.Timestamp("2024-01-01")],
            "l": [["x", "y"]],
        }
    )
    wh.write("types", frame)
    assert wh.describe("types") == {
        "s": "STRING",
        "i": "INT64",
        "f": "FLOAT64",
        "b": "BOOL",
        "d": "DATE",
        "t": "TIMESTAMP",
        "naive": "DATETIME",  # wall-clock time without a zone, as BigQuery names it
        "l": "ARRAY<STRING>",
    }
    assert wh.list_tables() == ["types"]
    assert wh.has_table("types") and not wh.has_table("events")


def test_custom_dataset_and_in_memory(tmp_path: Path) -> None:
    with DuckDBWarehouse(":memory:", "crm") as wh:
        wh.write("reviews", reviews())
        ensure_suppression_table(wh)
        assert wh.query("extract_reviews", {"as_of": AS_OF})["review_id"].tolist() == ["r1"]
        assert wh.list_tables() == ["reviews", "suppressed_customers"]


# ---- errors a user can fix ------------------------------------------------------------
def test_missing_file_is_a_clear_error(path: Path) -> None:
    with pytest.raises(
        WarehouseError, match=f"warehouse file {path} does not exist.*herald import --mapping FILE.*herald world"
    ):
        DuckDBWarehouse(path)
    with pytest.raises(WarehouseError, match="does not exist"):
        DuckDBWarehouse(path, read_only=True, must_exist=False)
    assert not path.exists()


def test_missing_table_names_table_and_dataset(path: Path) -> None:
    wh = DuckDBWarehouse(path, must_exist=False)
    wh.write("customers", customers())
    with pytest.raises(WarehouseError) as err:
        wh.query("extract_reviews", {"as_of": AS_OF})
    message = str(err.value)
    assert "table reviews does not exist in dataset herald" in message and "herald world" in message
    assert "\n" not in message and err.value.__cause__ is None
    with pytest.raises(WarehouseError, match="table events does not exist in dataset herald"):
        wh.describe("events")
    with pytest.raises(WarehouseError, match="table events does not exist in dataset herald"):
        wh.iter_query(
            "extract_events", {"history_start": AS_OF, "as_of": AS_OF}
        )  # raised at the call, not at first next()


def test_missing_column_names_table_and_column(path: Path) -> None:
    wh = DuckDBWarehouse(path, must_exist=False)
    wh.write("events", events().drop(columns=["product_category"]))
    with pytest.raises(WarehouseError, match="column product_category is missing from table events in dataset herald"):
        wh.query("customer_event_sequences", {"as_of": AS_OF, "max_events": 5})
    wh.write("decisions", decision_rows("r1", 0, ["c1"]), "replace_run", {"run_id": "r1", "shard": 0})
    with pytest.raises(WarehouseError, match="column bogus is missing from table decisions"):
        wh.write(
            "decisions", decision_rows("r1", 0, ["c1"]).assign(bogus=1), "replace_run", {"run_id": "r1", "shard": 0}
        )


def test_read_only_warehouse(world: DuckDBWarehouse) -> None:
    path = world.path
    reader = DuckDBWarehouse(path, read_only=True)
    assert len(reader.query("extract_customers")) == 4
    with pytest.raises(WarehouseError, match="read-only"):
        reader.write("customers", customers())
    other = DuckDBWarehouse(path, "elsewhere", read_only=True)
    with pytest.raises(WarehouseError, match="dataset elsewhere does not exist"):
        other.list_tables()


# ---- factory --------------------------------------------------------------------------
def test_factory_builds_duckdb_from_config(tmp_path: Path) -> None:
    cfg = HeraldConfig(home=tmp_path, dataset="herald")
    with pytest.raises(WarehouseError, match="does not exist"):
        get_warehouse(cfg)
    wh = get_warehouse(cfg, must_exist=False)
    assert isinstance(wh, DuckDBWarehouse) and isinstance(wh, Warehouse)
    wh.write("messages", messages())
    assert get_warehouse(cfg).list_tables() == ["messages"]
    assert (tmp_path / "warehouse.duckdb").is_file()


def test_a_task_waits_for_another_process_write_lock(path: Path) -> None:
    """Parallel tasks on Celery workers: the second opener waits for the first instead of failing."""
    import subprocess
    import sys
    import time

    from pipelines.warehouse.extract import ensure_suppression_table

    seeded = DuckDBWarehouse(path, must_exist=False)
    seeded.write("customers", customers())
    ensure_suppression_table(seeded)  # every extract query reads it
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(2)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    frame = DuckDBWarehouse(path).query("extract_customers")
    waited = time.monotonic() - started
    holder.wait(timeout=30)
    assert len(frame) == 4
    assert waited > 0.5, f"opened after {waited:.2f} s: the file was not locked, so the wait was not exercised"
