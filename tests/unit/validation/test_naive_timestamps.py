"""A naive events.event_ts (what CSV exports carry) fails its type rule by name, never with a TypeError."""

from __future__ import annotations

import pytest

from pipelines.errors import DataValidationError
from pipelines.validation.gate import validate


def test_naive_event_ts_is_named_not_a_type_error(clean_world, case_cfg) -> None:
    def naive(frames) -> None:
        frames["events"]["event_ts"] = frames["events"]["event_ts"].dt.tz_localize(None)

    extracted = clean_world.extract(case_cfg, "naive", naive)
    with pytest.raises(DataValidationError) as info:
        validate(case_cfg, "naive", extracted, purpose="scoring")  # scoring judges freshness too
    message = str(info.value)
    assert "events.event_ts: expect_column_values_to_be_of_type (event_ts_is_timestamp)" in message
    assert "expected BigQuery TIMESTAMP" in message
