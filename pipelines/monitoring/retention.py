"""Retention: run hand-offs and reports older than ``privacy.retention_days`` are deleted by a daily task."""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.config import HeraldConfig


@dataclass
class RetentionResult:
    """What the cleanup removed: run folders and report files, and the cutoff it applied."""

    cutoff: str | None
    runs_deleted: list[str] = field(default_factory=list)
    reports_deleted: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def apply_retention(cfg: HeraldConfig, now: datetime) -> RetentionResult:
    """Delete run folders under ``HOME/runs`` and report files under ``HOME/reports`` older than the window.

    Age is the newest modification time inside a run folder (a retried run stays as long as its last
    write), and a report file's own time. ``privacy.retention_days = 0`` keeps everything. MLflow
    runs and warehouse tables are not touched: MLflow holds no personal data (README "Privacy") and
    the warehouse outputs are per run and erased per customer by ``herald forget``.
    """
    days = cfg.privacy.retention_days
    if days <= 0:
        return RetentionResult(cutoff=None)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    cutoff = (now - timedelta(days=days)).timestamp()
    result = RetentionResult(cutoff=datetime.fromtimestamp(cutoff, UTC).isoformat())
    if cfg.runs_dir.is_dir():
        for run in sorted(p for p in cfg.runs_dir.iterdir() if p.is_dir()):
            if _newest_mtime(run) < cutoff:
                shutil.rmtree(run)
                result.runs_deleted.append(run.name)
    if cfg.reports_dir.is_dir():
        for path in sorted(p for p in cfg.reports_dir.rglob("*") if p.is_file()):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                result.reports_deleted += 1
        for folder in sorted((p for p in cfg.reports_dir.rglob("*") if p.is_dir()), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()
    return result


def _newest_mtime(folder: Path) -> float:
    times = [p.stat().st_mtime for p in folder.rglob("*")]
    return max([folder.stat().st_mtime, *times])
