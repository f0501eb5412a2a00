"""The one config object: defaults, HERALD_ environment variables, YAML, and readable errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import load_config
from pipelines.errors import ConfigError


def test_defaults_point_under_herald_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_HOME", str(tmp_path))
    monkeypatch.delenv("HERALD_WORLD__SIZE", raising=False)
    cfg = load_config()
    assert cfg.duckdb_path == tmp_path / "warehouse.duckdb"
    assert cfg.tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert cfg.airflow_home == tmp_path / "airflow"
    assert cfg.channels == ["email", "push", "sms"]
    assert cfg.world.counts["customers"] == 20_000


def test_environment_overrides_nested_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_WORLD__SIZE", "tiny")
    monkeypatch.setenv("HERALD_POLICY__EPSILON", "0.2")
    monkeypatch.setenv("HERALD_CHANNELS", '["email", "whatsapp"]')
    cfg = load_config()
    assert cfg.world.size == "tiny" and cfg.policy.epsilon == 0.2
    assert cfg.channels == ["email", "whatsapp"]


def test_yaml_file_is_read_and_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text("dataset: crm\nscoring_shards: 8\nmonitoring:\n  drift_threshold: 0.3\n")
    monkeypatch.setenv("HERALD_CONFIG_FILE", str(path))
    monkeypatch.setenv("HERALD_SCORING_SHARDS", "2")
    cfg = load_config()
    assert cfg.dataset == "crm" and cfg.monitoring.drift_threshold == 0.3
    assert cfg.scoring_shards == 2


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HERALD_WORLD__SIZE": "huge"}, "world.size"),
        ({"HERALD_SCORING_SHARDS": "many"}, "scoring_shards"),
        ({"HERALD_WAREHOUSE_BACKEND": "oracle"}, "warehouse_backend"),
        ({"HERALD_CHANNELS": '["e mail"]'}, "channels"),
    ],
)
def test_unreadable_values_give_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_config()
    message = str(info.value)
    assert expected in message and "\n" not in message


def test_missing_yaml_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HERALD_CONFIG_FILE", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config()
