"""Short run summaries each DAG leaves in HERALD_HOME/reports, and the demo's closing table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.config import HeraldConfig


def summary_path(cfg: HeraldConfig, dag_id: str) -> Path:
    """Where the latest run of ``dag_id`` leaves its summary (JSON under ``reports/``)."""
    return cfg.reports_dir / f"latest_{dag_id}.json"


def write_run_summary(cfg: HeraldConfig, dag_id: str, summary: dict[str, Any]) -> Path:
    """Write the facts a person wants after a run (volumes, metrics, versions) as JSON."""
    path = summary_path(cfg, dag_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str))
    return path


def read_run_summary(cfg: HeraldConfig, dag_id: str) -> dict[str, Any] | None:
    """The latest run summary of ``dag_id``, or None when the DAG has not run here."""
    path = summary_path(cfg, dag_id)
    return json.loads(path.read_text()) if path.is_file() else None
