"""The reviewed suites stay in step with the data contract and the loader's parameters."""

from __future__ import annotations

import pytest

from pipelines.config import load_config
from pipelines.validation.suites import load_suite, suite_parameters
from pipelines.warehouse.contract import DEVICES, EVENT_TYPES, INPUT_TABLES, LOYALTY_TIERS, OFFER_TYPES

VALUE_SETS = {
    ("events", "event_type"): EVENT_TYPES,
    ("events", "device"): DEVICES,
    ("customers", "loyalty_tier"): LOYALTY_TIERS,
    ("messages", "offer_type"): OFFER_TYPES,
}
WINDOWS = {
    "as_of": "2025-06-01T00:00:00+00:00",
    "feature_cutoff": "2025-06-01T00:00:00+00:00",
    "events_from": "2025-02-01T00:00:00+00:00",
    "sends_from": "2025-03-26T00:00:00+00:00",
}


@pytest.mark.parametrize("table", list(INPUT_TABLES))
def test_suite_matches_contract(table: str) -> None:
    suite = load_suite(table)
    assert suite["name"] == table
    expectations = suite["expectations"]
    present = {e["kwargs"]["column"] for e in expectations if e["type"] == "expect_column_to_exist"}
    assert present == {c.name for c in INPUT_TABLES[table].columns if c.required}
    rules = [e["meta"]["rule"] for e in expectations]
    assert len(rules) == len(set(rules)), "rule names must be unique within a suite"
    assert {e["meta"]["level"] for e in expectations} <= {"structure", "table", "row"}
    key = INPUT_TABLES[table].key
    assert f"{key}_not_null" in rules and f"{key}_unique" in rules
    for e in expectations:
        if e["type"] == "expect_column_values_to_be_in_set" and (table, e["kwargs"]["column"]) in VALUE_SETS:
            assert e["kwargs"]["value_set"] == list(VALUE_SETS[(table, e["kwargs"]["column"])])


def test_every_placeholder_is_filled() -> None:
    params = suite_parameters(load_config(channels=["email", "whatsapp"]), WINDOWS)
    assert params["channels"] == ["email", "whatsapp", "none"]
    assert params["birth_year_max"] == 2012
    for table in INPUT_TABLES:
        suite = load_suite(table)
        used = {v["$PARAMETER"] for e in suite["expectations"] for v in e["kwargs"].values() if isinstance(v, dict)}
        assert used == set(suite["meta"]["parameters"])
        assert used <= set(params), used - set(params)
