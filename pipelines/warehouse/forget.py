"""Forget customers (GDPR Art. 17): suppress them in every later extract and erase them from everything Herald wrote.

Herald reads the source tables (customers, events, sends, reviews) and never deletes from them:
that is the source warehouse owner's side (README "Privacy"). What Herald wrote itself is erased
here: the output tables, the Parquet hand-offs under ``HERALD_HOME/runs``, ids in reports, and the
text-embedding cache entries of the customers' reviews. :func:`find_traces` then proves nothing is left.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipelines.config import HeraldConfig
from pipelines.errors import HeraldError
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import SUPPRESSED_CUSTOMERS
from pipelines.warehouse.extract import ensure_suppression_table

# Output tables holding one row per customer, erased by queries/forget_<table>.sql.
ERASED_TABLES = ("decisions", "customer_segments", "decision_traces", "rejected_rows")
# Files that may name a customer in text: ids are masked in place.
TEXT_SUFFIXES = (".json", ".html", ".md", ".txt", ".csv", ".log")
MASK = "[forgotten]"
# The review-text separator of the text tower (models/components/text.py PART_SEPARATOR).
REVIEW_PART_SEPARATOR = " | "


@dataclass
class ForgetResult:
    """What a forget request did, and what (if anything) still names the customers."""

    request_id: str
    customers: int
    rows_deleted: dict[str, int] = field(default_factory=dict)
    files_rewritten: int = 0
    files_masked: int = 0
    cache_entries_removed: int = 0
    traces: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def forget_customers(
    cfg: HeraldConfig, customer_ids: list[str], request_id: str | None = None, actor: str | None = None
) -> ForgetResult:
    """Suppress ``customer_ids`` and erase them from Herald's tables, run files, reports and caches.

    Idempotent: a repeated request finds nothing more to erase. Raises HeraldError on an empty or
    malformed id list. The suppression list keeps the bare id (and when and who asked), which is
    what later extracts need to leave the customer out.
    """
    ids = _clean_ids(customer_ids)
    request_id = request_id or f"forget-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    result = ForgetResult(request_id=request_id, customers=len(ids))
    with get_warehouse(cfg) as warehouse:
        present = set(warehouse.list_tables())
        ensure_suppression_table(warehouse, present)
        now = pd.Timestamp(datetime.now(UTC))
        suppressed = pd.DataFrame(
            {
                "customer_id": pd.Series(ids, dtype=object),
                "requested_at": pd.Series([now] * len(ids), dtype="datetime64[ns, UTC]"),
                "request_id": pd.Series([request_id] * len(ids), dtype=object),
                "actor": pd.Series([actor or os.environ.get("USER", "unknown")] * len(ids), dtype=object),
            }
        )
        warehouse.write(
            SUPPRESSED_CUSTOMERS.name, suppressed, mode="replace_run", run_filter={"request_id": request_id}
        )
        texts = (
            warehouse.query("review_texts_of", {"customer_ids": ids})["text"].tolist() if "reviews" in present else []
        )
        for table in ERASED_TABLES:
            if table in present:
                before = len(warehouse.query(f"customer_ids_in_{table}", {"customer_ids": ids}))
                warehouse.query(f"forget_{table}", {"customer_ids": ids})
                result.rows_deleted[table] = before
    result.files_rewritten, result.files_masked = _erase_files(cfg, ids)
    result.cache_entries_removed = _purge_text_cache(cfg.home / "cache" / "text", texts)
    result.traces = find_traces(cfg, ids)
    return result


def find_traces(cfg: HeraldConfig, customer_ids: list[str]) -> list[str]:
    """Every place Herald wrote that still names one of ``customer_ids`` (empty after a forget).

    Looks in the output tables, every Parquet file with a ``customer_id`` column and every text
    file under ``HERALD_HOME`` (runs, reports, the local MLflow artifact store).
    """
    ids = _clean_ids(customer_ids)
    found: list[str] = []
    with get_warehouse(cfg) as warehouse:
        present = set(warehouse.list_tables())
        for table in ERASED_TABLES:
            if table in present:
                hits = warehouse.query(f"customer_ids_in_{table}", {"customer_ids": ids})
                found += [f"table {table}: {cid}" for cid in hits["customer_id"]]
    wanted = set(ids)
    for path in _files(cfg):
        if path.suffix == ".parquet":
            hits = _parquet_ids(path) & wanted
            found += [f"{path}: {cid}" for cid in sorted(hits)]
        elif path.suffix in TEXT_SUFFIXES:
            text = path.read_text(errors="replace")
            found += [f"{path}: {cid}" for cid in ids if cid in text]
    return found


def _clean_ids(customer_ids: list[str]) -> list[str]:
    ids = sorted({str(c).strip() for c in customer_ids if c is not None and str(c).strip()})
    if not ids:
        raise HeraldError("no customer id given: pass the ids to forget, e.g. `herald forget c_000123 c_000456`")
    return ids


def _files(cfg: HeraldConfig) -> list[Path]:
    """Files Herald wrote that may hold customer data: run hand-offs, reports, the local MLflow store."""
    roots = [cfg.runs_dir, cfg.reports_dir, cfg.home / "mlflow"]
    return [p for root in roots if root.is_dir() for p in root.rglob("*") if p.is_file()]


def _parquet_ids(path: Path) -> set[str]:
    try:
        if "customer_id" not in pq.read_schema(path).names:
            return set()
        return set(pq.read_table(path, columns=["customer_id"]).column(0).to_pylist())
    except Exception:  # noqa: BLE001 - an unreadable file is reported by the caller's scan, not fatal here
        return set()


def _erase_files(cfg: HeraldConfig, ids: list[str]) -> tuple[int, int]:
    """Drop the customers' rows from Parquet hand-offs and mask their ids in text files."""
    wanted = set(ids)
    rewritten = masked = 0
    for path in _files(cfg):
        if path.suffix == ".parquet" and _parquet_ids(path) & wanted:
            frame = pd.read_parquet(path)
            keep = frame[~frame["customer_id"].isin(wanted)]
            tmp = path.with_suffix(".parquet.tmp")
            keep.to_parquet(tmp, index=False)
            os.replace(tmp, path)  # readers never see a half-written file
            rewritten += 1
        elif path.suffix in TEXT_SUFFIXES:
            text = path.read_text(errors="replace")
            if any(cid in text for cid in ids):
                for cid in ids:
                    text = text.replace(cid, MASK)
                path.write_text(text)
                masked += 1
    return rewritten, masked


def _purge_text_cache(folder: Path, texts: list[str]) -> int:
    """Remove the MiniLM vectors of the customers' review texts (keyed by the text's SHA-1) from the cache."""
    if not folder.is_dir() or not texts:
        return 0
    parts = {p for t in texts for p in str(t).split(REVIEW_PART_SEPARATOR) if p.strip()}
    # Same key as models/components/text.py (SHA-1 of the text); importing it would load torch.
    doomed = {hashlib.sha1(p.encode("utf-8")).hexdigest() for p in parts | {str(t) for t in texts}}
    removed = 0
    for chunk in sorted(folder.glob("minilm-*.npz")):
        with np.load(chunk) as data:
            keys, vectors = data["keys"], data["vectors"]
        drop = np.isin(keys, list(doomed))
        if not drop.any():
            continue
        removed += int(drop.sum())
        if drop.all():
            chunk.unlink()
        else:
            tmp = chunk.with_name(chunk.stem + ".tmp.npz")
            np.savez(tmp, keys=keys[~drop], vectors=vectors[~drop])
            os.replace(tmp, chunk)
    return removed


def forget_summary(result: ForgetResult) -> str:
    """One line for the CLI and the task log."""
    rows = ", ".join(f"{t} {n}" for t, n in result.rows_deleted.items()) or "no output table yet"
    return (
        f"request {result.request_id}: {result.customers} customer(s) suppressed; rows erased: {rows}; "
        f"Parquet files rewritten {result.files_rewritten}; text files masked {result.files_masked}; "
        f"text-cache vectors removed {result.cache_entries_removed}; traces left {len(result.traces)}"
        + (f" ({json.dumps(result.traces[:5])})" if result.traces else "")
    )
