"""`herald check`: each contract fault is found and named with its fix, all at once; the DAGs stop on the same words."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from PIL import Image

from pipelines.config import HeraldConfig, load_config
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.check import ContractError, check_warehouse, enforce_contract

AS_OF = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HeraldConfig:
    """A small warehouse that meets the contract as of AS_OF."""
    monkeypatch.setenv("HERALD_HOME", str(tmp_path))
    cfg = load_config()
    cfg.assets_dir.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(cfg.assets_dir / "b.png")
    n = 40
    ts = lambda days: pd.Timestamp(AS_OF) - pd.Timedelta(days=days)  # noqa: E731
    tables = {
        "customers": pd.DataFrame(
            {
                "customer_id": [f"c{i}" for i in range(n)],
                "signup_date": [ts(400).date()] * n,
                "birth_year": [1980] * n,
                "gender": ["f"] * n,
                "region": ["uk"] * n,
                "loyalty_tier": ["gold"] * n,
                "consent_email": [True] * n,
                "consent_push": [True] * n,
                "consent_sms": [False] * n,
                "updated_at": [ts(10)] * n,
            }
        ),
        "messages": pd.DataFrame(
            {
                "message_id": ["m1", "m2"],
                "campaign_id": ["c", "c"],
                "title": ["a", "b"],
                "body": ["a", "b"],
                "offer_type": ["content", "discount"],
                "discount_pct": [None, 10.0],
                "product_category": [None, None],
                "image_uri": ["b.png", None],
                "active_from": [ts(100).date()] * 2,
                "active_to": [ts(-100).date()] * 2,
            }
        ),
        "sends": pd.DataFrame(
            {
                "send_id": [f"s{i}" for i in range(n)],
                "customer_id": [f"c{i}" for i in range(n)],
                "message_id": ["m1", None] * (n // 2),
                "channel": ["email", "none"] * (n // 2),
                "sent_at": [ts(20)] * n,
                "propensity": [0.5] * n,
                "opened": [True] * n,
                "clicked": [False] * n,
                "converted": [False, True] * (n // 2),
                "revenue": [0.0] * n,
            }
        ),
        "events": pd.DataFrame(
            {
                "event_id": ["e1", "e2"],
                "customer_id": ["c1", "c2"],
                "event_ts": [ts(1), ts(0.5)],
                "event_type": ["view", "view"],
                "product_category": [None, None],
                "amount": [None, None],
                "device": ["web", "web"],
            }
        ),
    }
    with get_warehouse(cfg, must_exist=False) as wh:
        for name, frame in tables.items():
            wh.write(name, frame)
    return cfg


def _sql(cfg: HeraldConfig, *statements: str) -> None:
    with duckdb.connect(str(cfg.duckdb_path)) as con:
        con.execute("SET TimeZone = 'UTC'; SET search_path = 'herald'")
        for statement in statements:
            con.execute(statement)


# (fault, SQL that plants it, words its line must hold — where, rule, observed value and the fix)
FAULTS = {
    "missing table": (
        ["DROP TABLE messages"],
        ["messages: table exists", "has no table messages", "herald import --mapping"],
    ),
    "missing column": (
        ["ALTER TABLE sends DROP COLUMN propensity"],
        ["sends.propensity: column exists", "no column propensity (FLOAT64)", "tables.sends.columns.propensity"],
    ),
    "wrong type": (
        ["ALTER TABLE customers ALTER birth_year TYPE VARCHAR"],
        ["customers.birth_year: type is INT64", "column is STRING", "CAST(birth_year AS INT64)"],
    ),
    "naive timestamp": (
        ["ALTER TABLE sends ALTER sent_at TYPE TIMESTAMP"],
        ["sends.sent_at: timestamp has a time zone", "naive timestamp", "timezone: in the mapping"],
    ),
    "NULL key": (
        [
            "UPDATE customers SET customer_id = NULL WHERE customer_id = 'c39'",
            "DELETE FROM sends WHERE send_id = 's39'",
        ],
        ["customers.customer_id: key is not NULL", "1 of 40 rows", "give every row a customer_id"],
    ),
    "repeated key": (
        ["INSERT INTO sends SELECT * FROM sends WHERE send_id = 's1'"],
        ["sends.send_id: key is unique", "1 rows repeat", "deduplicate on send_id"],
    ),
    "NULL sent_at": (
        ["UPDATE sends SET sent_at = NULL WHERE send_id = 's3'"],
        ["sends.sent_at: not NULL", "1 rows have no sent_at"],
    ),
    "unconfigured channel": (
        ["UPDATE sends SET channel = 'fax' WHERE send_id = 's0'"],
        ["sends.channel: channel is configured", "'fax' (1 sends)", "HERALD_CHANNELS="],
    ),
    "channel without consent": (
        ["ALTER TABLE customers DROP COLUMN consent_sms"],
        ["customers.consent_sms: consent recorded", "channel sms is configured", "HERALD_IMPLIED_CONSENT_CHANNELS"],
    ),
    "missing banner": (
        ["UPDATE messages SET image_uri = 'gone.png' WHERE message_id = 'm1'"],
        ["messages.image_uri: banner image resolves", "m1: gone.png (no such file)"],
    ),
    "remote banner": (
        ["UPDATE messages SET image_uri = 'gs://bucket/b.png' WHERE message_id = 'm1'"],
        ["messages.image_uri: banner image resolves", "remote URI on the embedded warehouse", "gs:// URIs need"],
    ),
    "unknown customer": (
        ["UPDATE sends SET customer_id = 'ghost' WHERE send_id = 's2'"],
        ["sends.customer_id: references customers", "1 sends name a customer_id not in customers"],
    ),
    "unknown message": (
        ["UPDATE sends SET message_id = 'm9' WHERE send_id = 's2'"],
        ["sends.message_id: references messages", "not in messages"],
    ),
    "no labelled sends": (
        ["UPDATE sends SET sent_at = sent_at - INTERVAL 400 DAY"],
        [
            "sends.converted: the training window holds labelled sends",
            "HERALD_LABEL_WINDOW_DAYS=60",
            "--date 2025-02-13",
        ],
    ),
    "stale events": (
        ["UPDATE events SET event_ts = event_ts - INTERVAL 11 DAY"],
        [
            "events.event_ts: events are fresh",
            "newest event is 12 days before this run's date",
            "limit is 2 days",
            "HERALD_VALIDATION_MAX_EVENT_AGE_DAYS or run with --date",
        ],
    ),
    "no active message": (
        ["UPDATE messages SET active_to = DATE '2025-01-01'"],
        ["messages.active_from: a message is active on the run's date", "none of 2 messages is active on 2026-04-01"],
    ),
}


def test_the_clean_warehouse_meets_the_contract(cfg: HeraldConfig) -> None:
    assert check_warehouse(cfg, AS_OF) == []


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_fault_is_named_with_its_fix(cfg: HeraldConfig, fault: str) -> None:
    statements, words = FAULTS[fault]
    _sql(cfg, *statements)
    lines = [f.line() for f in check_warehouse(cfg, AS_OF)]
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Fix: " in lines[0]


def test_no_warehouse_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_HOME", str(tmp_path))
    (fault,) = check_warehouse(load_config(), AS_OF)
    assert fault.line().startswith("warehouse: exists — no warehouse file at") and "herald import" in fault.line()


def test_a_broken_export_reports_every_fault_at_once_in_seconds(cfg: HeraldConfig) -> None:
    planted = (
        "wrong type",  # customers' structure is broken, so the rules that join it wait (no reference check)
        "channel without consent",
        "NULL sent_at",
        "missing banner",
        "stale events",
        "repeated key",
        "no active message",
    )
    _sql(cfg, *[s for name in planted for s in FAULTS[name][0]])
    started = time.monotonic()
    faults = check_warehouse(cfg, AS_OF)
    elapsed = time.monotonic() - started
    lines = "\n".join(f.line() for f in faults)
    for name in planted:
        assert FAULTS[name][1][0] in lines, name
    assert len(faults) == len(planted)
    assert elapsed < 30, f"herald check took {elapsed:.1f} s"


def test_a_dag_run_stops_on_the_same_words_before_extracting(cfg: HeraldConfig) -> None:
    from pipelines.flows import common

    _sql(cfg, *FAULTS["naive timestamp"][0], *FAULTS["unknown customer"][0])
    expected = [f for f in check_warehouse(cfg, AS_OF, ("training",)) if f.blocking]
    with pytest.raises(ContractError) as info:
        common.extract("training", "run-1", AS_OF.isoformat())
    assert [f.line() for f in expected] == [f.line() for f in info.value.faults]
    assert expected[0].line() in str(info.value)
    assert not (cfg.runs_dir / "run-1" / "extract").exists()  # stopped before any extract
    # Row faults the gate quarantines are reported by `herald check` but do not stop a run on their own.
    _sql(cfg, "ALTER TABLE sends ALTER sent_at TYPE TIMESTAMPTZ")
    enforce_contract(cfg, AS_OF, "training")


def test_windows_follow_the_run_date(cfg: HeraldConfig) -> None:
    later = AS_OF + timedelta(days=200)
    names = {f.rule for f in check_warehouse(cfg, later)}
    assert "the training window holds labelled sends" in names and "events are fresh" in names
    assert {f.rule for f in check_warehouse(cfg, later, ("training",))} == {"the training window holds labelled sends"}
