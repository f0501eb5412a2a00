"""What every benchmark section shares: the machine description, the prepared world, JSON output."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

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


def open_candidate_grids(
    cfg: HeraldConfig, plan: Any, messages: pd.DataFrame
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Per scoring batch: the customers the rules leave open, and their hold-out plus candidate rows.

    The grid has one hold-out row (``message_id`` NULL) and one row per allowed (message, channel,
    hour) per open customer, with the customer's ``recent_sends_7d``: what the scorer and the oracle
    value. Batches with nobody open are skipped.
    """
    from pipelines.policy.choice import allowed_channels, blocking_reason
    from pipelines.scoring.candidates import candidate_rows, holdout_rows
    from pipelines.scoring.prepare import iter_shard

    as_of = datetime.fromisoformat(plan.as_of)
    for shard in plan.shards:
        for batch in iter_shard(plan, shard):
            blocked = blocking_reason(batch, allowed_channels(batch, cfg), cfg.policy, len(messages))
            open_ = batch[blocked.isna().to_numpy()]
            if open_.empty:
                continue
            grid = pd.concat(
                [holdout_rows(open_, cfg, as_of), candidate_rows(open_, messages, cfg, as_of)], ignore_index=True
            )
            grid["recent_sends_7d"] = (
                grid["customer_id"].map(open_.set_index("customer_id")["recent_sends_7d"]).to_numpy()
            )
            yield open_, grid
