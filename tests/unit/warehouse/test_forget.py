"""Forgetting customers: suppressed in later extracts, erased from outputs, run files, reports and the text cache."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.config import HeraldConfig, load_config

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HeraldConfig:
    from pipelines.synthetic import generate_world
    from pipelines.warehouse import get_warehouse

    monkeypatch.setenv("HERALD_HOME", str(tmp_path / "home"))
    config = load_config()
    world = generate_world(config.world.model_copy(update={"size": "tiny"}), config.channels, [8, 12], AS_OF)
    with get_warehouse(config, must_exist=False) as warehouse:
        for name, frame in world.tables().items():
            warehouse.write(name, frame)
    return config


def _outputs(cfg: HeraldConfig, ids: list[str], texts: list[str]) -> None:
    """What Herald writes about customers: output rows, a Parquet hand-off, a report, cached text vectors."""
    from pipelines.warehouse import get_warehouse

    now = pd.Timestamp(AS_OF)
    with get_warehouse(cfg) as warehouse:
        warehouse.write(
            "decisions",
            pd.DataFrame(
                {
                    "logical_date": now.date(),
                    "run_id": "r1",
                    "shard": 0,
                    "decided_at": now,
                    "customer_id": ids,
                    "policy": "exploit",
                }
            ),
            mode="replace_run",
            run_filter={"run_id": "r1", "shard": 0},
        )
        warehouse.write(
            "customer_segments",
            pd.DataFrame({"logical_date": now.date(), "run_id": "r1", "customer_id": ids, "segment": 1}),
            mode="replace_run",
            run_filter={"run_id": "r1"},
        )
        rejected = [json.dumps({"event_id": f"e{i}", "customer_id": c}) for i, c in enumerate(ids)]
        warehouse.write(
            "rejected_rows",
            pd.DataFrame({"run_id": "r1", "table_name": "events", "row_number": range(len(ids)), "rule": "x"}).assign(
                row_json=rejected, rejected_at=now
            ),
            mode="replace_run",
            run_filter={"run_id": "r1"},
        )
    folder = cfg.run_dir("r1") / "extract"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"customer_id": ids, "x": range(len(ids))}).to_parquet(folder / "customers.parquet")
    (cfg.reports_dir / "validation").mkdir(parents=True, exist_ok=True)
    (cfg.reports_dir / "validation" / "report.json").write_text(json.dumps({"sample": ids}))
    cache = cfg.home / "cache" / "text"
    cache.mkdir(parents=True, exist_ok=True)
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in [*texts, "a message title"]]
    np.savez(cache / "minilm-test.npz", keys=np.array(keys), vectors=np.ones((len(keys), 4), dtype=np.float32))


def test_forgotten_customers_leave_no_trace_and_no_later_extract(cfg: HeraldConfig) -> None:
    from pipelines.warehouse import get_warehouse
    from pipelines.warehouse.extract import extract, load_extract
    from pipelines.warehouse.forget import find_traces, forget_customers

    tables = load_extract(extract(cfg, "before", "training", AS_OF).paths)
    reviewers = tables["reviews"].dropna(subset=["text"])["customer_id"].unique()[:2].tolist()
    forgotten = [*reviewers, tables["customers"]["customer_id"].iloc[-1]]
    kept = tables["customers"]["customer_id"].iloc[0]
    texts = tables["reviews"].loc[tables["reviews"]["customer_id"].isin(forgotten), "text"].dropna().tolist()
    _outputs(cfg, [*forgotten, kept], texts)
    assert len(find_traces(cfg, forgotten)) >= 5

    result = forget_customers(cfg, forgotten, request_id="DSR-1", actor="test")

    assert result.traces == []
    assert result.rows_deleted == {"decisions": 3, "customer_segments": 3, "rejected_rows": 3}
    assert result.files_rewritten >= 1 and result.files_masked == 1
    assert result.cache_entries_removed >= len(set(texts)) > 0
    # The others are untouched: the kept customer's rows and the message vector stay.
    with get_warehouse(cfg) as warehouse:
        assert warehouse.query("decisions_for_run", {"run_id": "r1"})["customer_id"].tolist() == [kept]
    with np.load(cfg.home / "cache" / "text" / "minilm-test.npz") as data:
        assert hashlib.sha1(b"a message title").hexdigest() in data["keys"].tolist()
    # Every later extract leaves them out, for every purpose.
    for purpose in ("training", "scoring", "monitoring"):
        later = load_extract(extract(cfg, f"after-{purpose}", purpose, AS_OF).paths)
        for name in ("customers", "events", "sends", "reviews"):
            assert not later[name]["customer_id"].isin(forgotten).any(), (purpose, name)
        assert later["customers"]["customer_id"].eq(kept).any()
    # A repeated request finds nothing more to erase and keeps one suppression per request.
    again = forget_customers(cfg, forgotten, request_id="DSR-1")
    assert again.traces == [] and sum(again.rows_deleted.values()) == 0


def test_forget_needs_ids(cfg: HeraldConfig) -> None:
    from pipelines.errors import HeraldError
    from pipelines.warehouse.forget import forget_customers

    with pytest.raises(HeraldError, match="no customer id"):
        forget_customers(cfg, ["  ", ""])
