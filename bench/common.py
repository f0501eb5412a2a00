"""What every benchmark section shares: the machine description, the prepared world, JSON output."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.config import HeraldConfig

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(pages / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_result(section: str, cfg: HeraldConfig, body: dict[str, Any]) -> Path:
    """Write ``bench/results/<section>.json`` with the fields DESIGN §8 requires of every file."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "config": {"world_size": cfg.world.size, "seed": cfg.world.seed, **cfg.world.counts},
        **body,
    }
    path = RESULTS_DIR / f"{section}.json"
    path.write_text(json.dumps(payload, indent=2, default=float))
    return path
