"""The generalisation section's real experiments: Gerber (sample) imported through its mapping and valued."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_gerber_sample_through_the_import_is_valued_against_every_letter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.experiments import gerber_through_import
    from pipelines.config import load_config

    monkeypatch.setenv("HERALD_HOME", str(tmp_path / "base"))
    base = load_config(deep={"enabled": False}, hillstrom={"bootstrap": 60})
    result = gerber_through_import(base, tmp_path / "generalisation", smoke=True)

    assert "error" not in result, result
    assert result["sample_only"] and result["rows"]["sends"] == {"rows_in": 4000, "kept": 4000, "rejected": 0}
    policies = result["policies"]
    letters = {"gerber_civic_duty", "gerber_hawthorne", "gerber_self", "gerber_neighbors"}
    assert {f"all_{letter}@mail" for letter in letters} | {"nobody", "random"} <= set(policies)
    for name, value in policies.items():
        assert value["ci_low"] <= value["ips"] <= value["ci_high"], name
    assert result["best_single_arm"]["name"] in {"nobody", *(f"all_{letter}@mail" for letter in letters)}
    assert set(result["deployed_minus_best_arm_points"]) == {"personalized_logreg", "personalized_lightgbm"}
    assert load_config().home == tmp_path / "base"  # the import's home does not leak into later commands
