"""Retention: run hand-offs and reports older than privacy.retention_days go, newer ones stay."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.config import HeraldConfig, load_config

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HeraldConfig:
    monkeypatch.setenv("HERALD_HOME", str(tmp_path / "home"))
    return load_config()


def test_retention_deletes_old_run_files_and_reports_only(cfg: HeraldConfig) -> None:
    from pipelines.monitoring.retention import apply_retention

    old, new = cfg.run_dir("old-run"), cfg.run_dir("new-run")
    (old / "a.parquet").write_text("x")
    (new / "b.parquet").write_text("x")
    cfg.reports_dir.mkdir(parents=True, exist_ok=True)
    stale, fresh = cfg.reports_dir / "stale.json", cfg.reports_dir / "fresh.json"
    stale.write_text("{}")
    fresh.write_text("{}")
    long_ago = AS_OF.timestamp() - 40 * 86400
    for path in (old / "a.parquet", old, stale):
        os.utime(path, (long_ago, long_ago))
    for path in (new / "b.parquet", new, fresh):
        os.utime(path, (AS_OF.timestamp(), AS_OF.timestamp()))
    result = apply_retention(cfg, AS_OF)
    assert result.runs_deleted == ["old-run"] and result.reports_deleted == 1
    assert not old.exists() and new.exists() and fresh.exists() and not stale.exists()
    assert (
        apply_retention(
            cfg.model_copy(update={"privacy": cfg.privacy.model_copy(update={"retention_days": 0})}), AS_OF
        ).cutoff
        is None
    )
