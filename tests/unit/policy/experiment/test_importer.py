"""The Hillstrom importer maps the CSV into the warehouse contract and names what is wrong with a bad file."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import INPUT_TABLES
from pipelines.warehouse.hillstrom.csv_file import HillstromFileError, read_hillstrom
from pipelines.warehouse.hillstrom.importer import (
    PROPENSITY,
    campaign_window,
    hillstrom_config,
    import_file,
    to_contract,
)

from .conftest import NOW


def test_sample_is_stratified_copy_of_the_real_file(sample_path) -> None:
    raw = read_hillstrom(sample_path)
    assert len(raw) <= 2000
    assert raw["segment"].value_counts().to_dict() == {"Mens E-Mail": 666, "Womens E-Mail": 666, "No E-Mail": 666}


def test_mapping_to_the_contract(sample_path) -> None:
    raw = read_hillstrom(sample_path)
    tables = to_contract(raw, "visit", NOW, days=14, end_days_ago=8, seed=7)
    customers, messages, sends = tables["customers"], tables["messages"], tables["sends"]

    for name, frame in tables.items():
        assert set(INPUT_TABLES[name].column_names) - {"consent_push", "consent_sms"} <= set(frame.columns)
    assert customers["customer_id"].is_unique and customers["customer_id"].iloc[0] == "h00001"
    assert customers["consent_email"].all()
    assert customers[["signup_date", "birth_year", "gender", "region", "loyalty_tier"]].isna().all().all()
    # The file's purchase channel must not collide with the action's channel column.
    assert "channel" not in customers and set(customers["purchase_channel"]) <= {"Phone", "Web", "Multichannel"}
    assert {"recency", "history", "history_segment", "mens", "womens", "zip_code", "newbie"} <= set(customers.columns)

    assert list(messages["message_id"]) == ["hillstrom_mens", "hillstrom_womens"]
    assert list(messages["title"]) == ["Mens merchandise e-mail", "Womens merchandise e-mail"]
    assert messages["image_uri"].isna().all() and (messages["offer_type"] == "content").all()

    arm = raw["segment"].to_numpy()
    holdout = arm == "No E-Mail"
    assert sends.loc[holdout, "message_id"].isna().all() and (sends.loc[holdout, "channel"] == "none").all()
    assert (sends.loc[arm == "Mens E-Mail", "message_id"] == "hillstrom_mens").all()
    assert (sends.loc[arm == "Womens E-Mail", "message_id"] == "hillstrom_womens").all()
    assert (sends.loc[~holdout, "channel"] == "email").all()
    assert (sends["propensity"] == PROPENSITY).all()
    # The chosen outcome is the training label; both outcomes and spend stay available.
    assert (sends["converted"].astype(int) == raw["visit"]).all()
    assert (sends["conversion"].astype(int) == raw["conversion"]).all()
    assert (sends["revenue"] == raw["spend"]).all()
    start, end = campaign_window(NOW, 14, 8)
    assert sends["sent_at"].min() >= pd.Timestamp(start) and sends["sent_at"].max() < pd.Timestamp(end)
    assert sends["sent_at"].dt.normalize().nunique() > 7, "sends spread over the campaign's days"
    assert pd.Timestamp(end) <= pd.Timestamp(NOW) - pd.Timedelta(days=7)

    conversion = to_contract(raw, "conversion", NOW)["sends"]
    assert (conversion["converted"].astype(int) == raw["conversion"]).all()


def test_import_writes_the_hillstrom_dataset_without_events_or_reviews(cfg, sample_path) -> None:
    hcfg = hillstrom_config(cfg)
    result = import_file(hcfg, sample_path, "visit", NOW)
    assert result.rows == {"customers": 1998, "messages": 2, "sends": 1998}
    assert result.dataset == "hillstrom" and hcfg.mlflow_experiment == "herald-hillstrom"
    # Own warehouse file and run state; the same MLflow store as the caller.
    assert hcfg.duckdb_path == cfg.home / "hillstrom" / "warehouse.duckdb" and hcfg.tracking_uri == cfg.tracking_uri
    with get_warehouse(hcfg) as warehouse:
        # The contract tables, plus the import's ledger and (empty) rejected rows; no events or reviews.
        assert sorted(warehouse.list_tables()) == ["customers", "imports", "messages", "rejected_rows", "sends"]
        types = warehouse.describe("customers")
        assert types["consent_email"] == "BOOL" and types["history"] == "FLOAT64" and types["mens"] == "BOOL"
        assert warehouse.describe("sends")["sent_at"] == "TIMESTAMP"
    # A re-import replaces, never appends.
    assert import_file(hcfg, sample_path, "conversion", NOW).rows["sends"] == 1998


def _drop_column(name: str):
    def edit(rows: list[list[str]]) -> None:
        i = rows[0].index(name)
        for r in rows:
            del r[i]

    return edit


def _set(name: str, value: str, row: int = 5):
    def edit(rows: list[list[str]]) -> None:
        rows[row][rows[0].index(name)] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_drop_column("segment"), r"column\(s\) segment missing"),
        (_drop_column("visit"), r"column\(s\) visit missing"),
        (_set("segment", "Kids E-Mail"), r"column segment has unknown arm\(s\) 'Kids E-Mail'"),
        (_set("zip_code", "Moon"), r"column zip_code has unknown value\(s\) 'Moon'"),
        (_set("visit", "2"), r"column visit .*must be 0 or 1"),
        (_set("recency", "13"), r"column recency .*1 to 12"),
        (_set("history", "lots"), r"column history has 1 non-numeric"),
        (_set("spend", "-3"), r"column spend .*≥ 0"),
        (_set("mens", ""), r"column mens has 1 empty"),
    ],
)
def test_bad_files_name_the_column_and_problem(write_csv, edit, expected) -> None:
    path = write_csv(edit)
    with pytest.raises(HillstromFileError, match=expected) as info:
        read_hillstrom(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file_and_bad_target(tmp_path, sample_path) -> None:
    with pytest.raises(HillstromFileError, match="does not exist"):
        read_hillstrom(tmp_path / "nope.csv")
    with pytest.raises(HillstromFileError, match="unknown Hillstrom target"):
        to_contract(read_hillstrom(sample_path), "spend", NOW)  # type: ignore[arg-type]


def test_import_refuses_a_dataset_with_foreign_events(cfg, sample_path) -> None:
    hcfg = hillstrom_config(cfg)
    with get_warehouse(hcfg, must_exist=False) as warehouse:
        warehouse.write("events", pd.DataFrame({"event_id": ["e1"], "customer_id": ["c1"]}))
    with pytest.raises(HillstromFileError, match="events"):
        import_file(hcfg, sample_path, "visit", NOW)
