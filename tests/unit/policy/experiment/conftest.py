"""The committed Hillstrom sample (666 rows per arm, copied from the real file) and a scratch Herald home."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.config import HeraldConfig, load_config

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "hillstrom_sample.csv"
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def sample_path() -> Path:
    return SAMPLE


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HeraldConfig:
    monkeypatch.setenv("HERALD_HOME", str(tmp_path))
    return load_config(hillstrom={"path": SAMPLE, "bootstrap": 60})


@pytest.fixture
def write_csv(tmp_path: Path):
    """Write a variant of the sample: ``edit(lines)`` gets the header and rows as lists of fields."""

    def write(edit, name: str = "broken.csv") -> Path:
        rows = [line.split(",") for line in SAMPLE.read_text().splitlines() if line]
        edit(rows)
        path = tmp_path / name
        path.write_text("\n".join(",".join(r) for r in rows) + "\n")
        return path

    return write
