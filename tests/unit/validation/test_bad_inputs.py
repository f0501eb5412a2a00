"""The bad-inputs catalogue: each case breaks a clean tiny world's extract and checks the gate's answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.errors import DataValidationError, WarehouseError
from pipelines.validation.gate import last_counts_path, validate

Frames = dict[str, pd.DataFrame]
AS_OF = pd.Timestamp("2025-06-01", tz="UTC")


@dataclass
class Case:
    """A mutation and what the gate must say: either failure lines or quarantine counts."""

    mutate: Callable[[Frames, Path], None]
    fails: tuple[str, ...] = ()  # fragments the DataValidationError message must contain
    quarantined: dict[str, int] = field(default_factory=dict)  # table -> rejected rows
    rules: tuple[str, ...] = ()  # rule names recorded in rejected_rows
    baseline: bool = False  # validate the clean extract first, so a volume baseline exists


def _set(table: str, column: str, row: int, value: object) -> Callable[[Frames, Path], None]:
    def mutate(f: Frames, _: Path) -> None:
        f[table].loc[row, column] = value

    return mutate


def _copy_key(table: str, column: str) -> Callable[[Frames, Path], None]:
    def mutate(f: Frames, _: Path) -> None:
        f[table].loc[1, column] = f[table].loc[0, column]

    return mutate


def _drop_column(f: Frames, _: Path) -> None:
    f["events"] = f["events"].drop(columns=["event_type"])


def _revenue_as_text(f: Frames, _: Path) -> None:
    f["sends"]["revenue"] = f["sends"]["revenue"].map(lambda v: f"{v:.2f} EUR")


def _negative_amount(f: Frames, _: Path) -> None:
    row = f["events"].index[f["events"]["amount"].notna()][0]
    f["events"].loc[row, "amount"] = -5.0


def _future_send(f: Frames, _: Path) -> None:
    f["sends"].loc[0, "sent_at"] = AS_OF + pd.Timedelta(days=1)


def _many_unknown_events(f: Frames, _: Path) -> None:
    f["events"].loc[f["events"].index[::20], "event_type"] = "teleport"  # 5% > the 1% allowed


def _empty_messages(f: Frames, _: Path) -> None:
    f["messages"] = f["messages"].iloc[0:0]


def _stale_events(f: Frames, _: Path) -> None:
    ev = f["events"]
    f["events"] = ev[ev["event_ts"] < AS_OF - pd.Timedelta(days=3)]


def _collapse_events(f: Frames, _: Path) -> None:
    f["events"] = f["events"].iloc[::10]  # 90% fewer events than the baseline run


def _broken_image(f: Frames, assets: Path) -> None:
    (assets / "broken").mkdir(exist_ok=True)
    (assets / "broken" / "not_a_png.png").write_bytes(b"\x89PNG\r\n\x1a\n this is no image")
    f["messages"].loc[0, "image_uri"] = "broken/not_a_png.png"


def _missing_image(f: Frames, _: Path) -> None:
    f["messages"].loc[0, "image_uri"] = "banners/does_not_exist.png"


def _inverted_dates(f: Frames, _: Path) -> None:
    m = f["messages"]
    m.loc[0, "active_to"] = pd.Timestamp(m.loc[0, "active_from"]).date() - pd.Timedelta(days=3)


def _expired_catalogue(f: Frames, _: Path) -> None:
    f["messages"]["active_from"] = pd.Timestamp("2019-01-01").date()
    f["messages"]["active_to"] = pd.Timestamp("2020-12-31").date()
    f["messages"].loc[0, "active_to"] = pd.Timestamp("2021-03-31").date()


CASES: dict[str, Case] = {
    "message ends before it starts": Case(
        _inverted_dates, fails=("messages.active_to", "active_to_not_before_active_from", "broken by 1 of")
    ),
    "every message expired": Case(
        _expired_catalogue,
        fails=("no message is active on the run date 2025-06-01", "newest active_to 2021-03-31", "some_message_active"),
    ),
    "missing column": Case(_drop_column, fails=("events.event_type", "expect_column_to_exist")),
    "wrong type": Case(_revenue_as_text, fails=("sends.revenue", "expect_column_values_to_be_of_type", "EUR")),
    "null key in customers": Case(
        _set("customers", "customer_id", 0, None),
        fails=("customers.customer_id", "expect_column_values_to_not_be_null"),
    ),
    "null key in events": Case(
        _set("events", "event_id", 5, None), quarantined={"events": 1}, rules=("event_id_not_null",)
    ),
    "duplicate key in messages": Case(
        _copy_key("messages", "message_id"),
        fails=("messages.message_id", "expect_column_values_to_be_unique", "m_0001"),
    ),
    "duplicate key in sends": Case(_copy_key("sends", "send_id"), quarantined={"sends": 2}, rules=("send_id_unique",)),
    "unknown event type": Case(
        _set("events", "event_type", 3, "teleport"), quarantined={"events": 1}, rules=("event_type_known",)
    ),
    "unknown channel": Case(_set("sends", "channel", 2, "fax"), quarantined={"sends": 1}, rules=("channel_known",)),
    "unknown loyalty tier": Case(
        _set("customers", "loyalty_tier", 0, "diamond"),
        fails=("customers.loyalty_tier", "expect_column_values_to_be_in_set", "diamond"),
    ),
    "unknown offer type": Case(
        _set("messages", "offer_type", 0, "bogof"),
        fails=("messages.offer_type", "expect_column_values_to_be_in_set", "bogof"),
    ),
    "negative amount": Case(_negative_amount, quarantined={"events": 1}, rules=("amount_non_negative",)),
    "rating out of range": Case(_set("reviews", "rating", 0, 9), quarantined={"reviews": 1}, rules=("rating_1_to_5",)),
    "null propensity": Case(
        _set("sends", "propensity", 3, None), quarantined={"sends": 1}, rules=("propensity_not_null",)
    ),
    "zero propensity": Case(
        _set("sends", "propensity", 4, 0.0), quarantined={"sends": 1}, rules=("propensity_is_probability",)
    ),
    "future timestamp": Case(_future_send, quarantined={"sends": 1}, rules=("sent_at_not_in_future",)),
    "send to unknown customer": Case(
        _set("sends", "customer_id", 0, "c_nobody"),
        quarantined={"sends": 1},
        rules=("customer_id_references_customers",),
    ),
    "send of unknown message": Case(
        _set("sends", "message_id", 1, "m_9999"), quarantined={"sends": 1}, rules=("message_id_references_messages",)
    ),
    "too many rejected rows": Case(
        _many_unknown_events, fails=("events", "expect_rejected_share_to_be_below", "more than 1.00%")
    ),
    "empty table": Case(_empty_messages, fails=("messages", "expect_table_row_count_to_be_between")),
    "stale data": Case(_stale_events, fails=("events.event_ts", "expect_column_max_to_be_recent", "stale")),
    "row count collapse": Case(
        _collapse_events, baseline=True, fails=("events", "expect_table_row_count_to_be_near_previous", "10%")
    ),
    "image does not decode": Case(
        _broken_image, fails=("messages.image_uri", "expect_image_uri_to_decode", "not_a_png.png")
    ),
    "image missing": Case(_missing_image, fails=("messages.image_uri", "does_not_exist.png (missing)")),
    "blank message title": Case(
        _set("messages", "title", 0, "   "),
        fails=("messages.title", "expect_column_values_to_match_regex", "title_not_blank"),
    ),
    "empty message body": Case(
        _set("messages", "body", 0, None), fails=("messages.body", "expect_column_values_to_not_be_null")
    ),
}


def _rejected(db: Path, run_id: str) -> pd.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT * FROM herald.rejected_rows WHERE run_id = ?", [run_id]).df()


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, clean_world, case_cfg) -> None:
    case = CASES[name]
    run_id = "bad__" + name.replace(" ", "_")
    if case.baseline:
        validate(case_cfg, "baseline", clean_world.extract(case_cfg, "baseline"), purpose="scoring")
        assert last_counts_path(case_cfg).is_file()
    extracted = clean_world.extract(case_cfg, run_id, lambda f: case.mutate(f, clean_world.assets))

    if case.fails:
        with pytest.raises(DataValidationError) as info:
            validate(case_cfg, run_id, extracted, purpose="scoring")
        message = str(info.value)
        for fragment in case.fails:
            assert fragment in message, f"{fragment!r} not in:\n{message}"
        assert len(message.splitlines()) <= 25
        report = json.loads((case_cfg.reports_dir / "validation" / run_id / "validation.json").read_text())
        assert report["passed"] is False and report["paths"] == {}
        return

    result = validate(case_cfg, run_id, extracted, purpose="scoring")
    assert result["passed"]
    rejected = _rejected(clean_world.db, run_id)
    for table, frame in clean_world.frames.items():
        counts = result["tables"][table]
        expected = case.quarantined.get(table, 0)
        assert counts["rejected"] == expected, table
        assert counts["rows_in"] == counts["kept"] + counts["rejected"] == len(frame)
        assert len(pd.read_parquet(result["paths"][table])) == counts["kept"]
        assert (rejected["table_name"] == table).sum() == expected
    for rule in case.rules:
        assert rejected["rule"].str.contains(rule).all(), rejected["rule"].tolist()
    row = json.loads(rejected["row_json"].iloc[0])
    assert set(clean_world.frames[rejected["table_name"].iloc[0]].columns) <= set(row)


def test_missing_required_table_fails_the_extract(clean_world, tmp_path: Path) -> None:
    from pipelines.warehouse import get_warehouse
    from pipelines.warehouse.extract import extract

    cfg = clean_world.config(tmp_path / "home").model_copy(update={"warehouse_path": tmp_path / "no_sends.duckdb"})
    with get_warehouse(cfg, must_exist=False) as warehouse:
        for name, frame in clean_world.frames.items():
            if name != "sends":
                warehouse.write(name, frame, mode="truncate")
    with pytest.raises(WarehouseError, match="sends"):
        extract(cfg, "no_sends", "scoring", AS_OF.to_pydatetime())


def test_clean_world_passes_with_no_rejections(clean_world, case_cfg) -> None:
    result = validate(case_cfg, "clean_pass", clean_world.extract(case_cfg, "clean_pass"), purpose="scoring")
    assert result["passed"] and result["rejected_rows"] == 0
    for table, counts in result["tables"].items():
        assert counts["rejected"] == 0 and counts["rows_in"] == counts["kept"] == len(clean_world.frames[table])
        assert counts["rules"] == {}, counts["rules"]
    assert _rejected(clean_world.db, "clean_pass").empty
    assert np.all([Path(p).is_file() for p in result["paths"].values()])
