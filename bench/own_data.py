"""Bring your own data at full size: the whole Gerber file through its mapping, `herald check`, then
herald_training and herald_scoring through Airflow as of the experiment's date (2006-08-20)."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipelines.config import REPO_ROOT, HeraldConfig

GERBER = REPO_ROOT.parent / "shared" / "data" / "gerber" / "social_pressure.csv"
RUN_DATE = date(2006, 8, 20)


def run(cfg: HeraldConfig) -> dict[str, Any]:
    """Seconds per step, rows in = kept + rejected, the champion and the decisions written."""
    import duckdb

    from pipelines.config import load_config
    from pipelines.flows.runner import migrate, run_dag
    from pipelines.tracking import read_run_summary
    from pipelines.warehouse.check import check_warehouse
    from pipelines.warehouse.imports import import_mapping

    path = Path(os.environ.get("HERALD_GERBER_PATH", GERBER))
    if not path.is_file():
        return {"error": f"Gerber file {path} not found (set HERALD_GERBER_PATH)"}
    home = cfg.home / "own_data"
    os.environ["HERALD_HOME"] = str(home)  # its own warehouse, settings and registry; Airflow tasks inherit it
    seconds: dict[str, float] = {}
    t0 = time.monotonic()
    report = import_mapping(load_config(), "gerber", sources={"people": path}, replace=True)
    seconds["import"] = time.monotonic() - t0
    run_cfg = load_config()
    t0 = time.monotonic()
    faults = check_warehouse(run_cfg, datetime(RUN_DATE.year, RUN_DATE.month, RUN_DATE.day, tzinfo=UTC))
    seconds["check"] = time.monotonic() - t0
    migrate(run_cfg)
    for dag_id in ("herald_training", "herald_scoring"):
        t0 = time.monotonic()
        run_dag(run_cfg, dag_id, logical_date=RUN_DATE)
        seconds[dag_id] = time.monotonic() - t0
    training = read_run_summary(run_cfg, "herald_training") or {}
    with duckdb.connect(str(run_cfg.duckdb_path), read_only=True) as con:
        decided = con.sql(
            "SELECT count(DISTINCT customer_id), count(*) FILTER (WHERE message_id IS NOT NULL) FROM herald.decisions"
        ).fetchone()
    return {
        "file": str(path),
        "run_date": RUN_DATE.isoformat(),
        "rows": report.tables,
        "check_faults": [f.line() for f in faults],
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "models": training.get("models"),
        "releases": training.get("releases"),
        "decisions": {"customers": decided[0], "letters_sent": decided[1]} if decided else None,
    }
