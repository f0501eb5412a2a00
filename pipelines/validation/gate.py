"""The data-validation gate: GX suites + cross-table rules on an extract, row quarantine, reports, pass/fail.

``validate`` is the one entry point the DAG tasks call. Structural and table-level problems
fail the run (DataValidationError); rows of events/sends/reviews that break a row rule are moved to
the ``rejected_rows`` warehouse table and left out of the Parquet files returned in ``paths``, as
long as they stay under the configured share of the table.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.errors import DataValidationError, RowAccountingError
from pipelines.validation import checks
from pipelines.validation.accounting import RowCount, check, write_metrics
from pipelines.validation.quarantine import (
    QUARANTINE_TABLES,
    rejected_frame,
    rejected_positions,
    write_kept,
    write_rejected,
)
from pipelines.validation.report import log_to_mlflow, write_reports
from pipelines.validation.results import RuleResult
from pipelines.validation.suites import run_suite, suite_parameters
from pipelines.validation.types import check_types
from pipelines.warehouse.contract import INPUT_TABLES

log = logging.getLogger(__name__)

# The gate's thresholds, all fields of HeraldConfig (reported with every result).
THRESHOLDS = (
    "validation_max_rejected_share",
    "validation_max_event_age_days",
    "validation_volume_min_ratio",
    "validation_volume_max_ratio",
)
FRESHNESS_PURPOSES = ("scoring", "monitoring")
MAX_MESSAGE_LINES = 20


def last_counts_path(cfg: HeraldConfig) -> Path:
    """Per-purpose row counts of the last successful validation (the volume baseline)."""
    return cfg.reports_dir / "validation" / "last_counts.json"


def validate(
    cfg: HeraldConfig,
    run_id: str,
    extracted: dict[str, Any],
    mlflow_run_id: str | None = None,
    *,
    purpose: str = "training",
) -> dict[str, Any]:
    """Validate an extract (``ExtractResult.to_dict()``); return counts, rules and the usable Parquet paths.

    Raises DataValidationError, after writing the report, when any table-level rule fails or a
    table's rejected share exceeds ``validation_max_rejected_share``.
    """
    windows: dict[str, str] = extracted["windows"]
    as_of = pd.Timestamp(windows["as_of"])
    params = suite_parameters(cfg, windows)
    frames = {name: pd.read_parquet(path).reset_index(drop=True) for name, path in extracted["paths"].items()}
    rules: dict[str, list[RuleResult]] = {}
    unusable: dict[str, set[str]] = {}

    for name, frame in frames.items():
        table = INPUT_TABLES.get(name)
        if table is None:
            continue  # not a contract table: nothing to check, passed on as extracted
        type_rules = check_types(table, frame)
        missing = {c.name for c in table.columns if c.required and c.name not in frame.columns}
        unusable[name] = missing | {r.column for r in type_rules if not r.success and r.column}
        rules[name] = type_rules + run_suite(name, frame, params, {"structure", "table", "row"}, unusable[name])
    for rule in checks.referential_integrity(frames, unusable):
        rules[rule.table].append(rule)
    if "messages" in frames and "image_uri" not in unusable.get("messages", {"image_uri"}):
        remote = bool(cfg.assets_uri and "://" in cfg.assets_uri)
        rules["messages"].append(checks.images_decode(frames["messages"], cfg.assets_dir, remote))

    # Classify every rule, then quarantine row-rule breakers of tables whose structure is sound.
    max_share = cfg.validation_max_rejected_share
    broken_rows: dict[str, dict[int, list[str]]] = {}
    for name, table_rules in rules.items():
        structure_ok = all(r.success for r in table_rules if r.level == "structure")
        quarantine = name in QUARANTINE_TABLES and structure_ok
        for r in table_rules:
            if r.outcome == "skipped":
                continue
            r.outcome = "passed" if r.success else ("quarantined" if quarantine and r.level == "row" else "failed")
        broken_rows[name] = rejected_positions(table_rules, len(frames[name])) if quarantine else {}
        n_in = len(frames[name])
        share = len(broken_rows[name]) / n_in if n_in else 0.0
        if share > max_share:
            table_rules.append(
                RuleResult(
                    name,
                    "rejected_share_below_threshold",
                    "expect_rejected_share_to_be_below",
                    "table",
                    False,
                    source="pandas",
                    unexpected_count=len(broken_rows[name]),
                    element_count=n_in,
                    observed=f"{share:.2%}",
                    note=f"more than {max_share:.2%} of the rows broke row rules (each row and its rules are in "
                    "rejected_rows; the limit is HERALD_VALIDATION_MAX_REJECTED_SHARE)",
                    outcome="failed",
                )
            )

    kept_frames = {n: f.drop(index=list(broken_rows.get(n, {}))) for n, f in frames.items()}
    messages_usable = not {"active_from", "active_to"} & unusable.get("messages", {"active_from"})
    if purpose == "scoring" and "messages" in frames and messages_usable:
        catalogue = checks.catalogue_active(frames["messages"], as_of)
        catalogue.outcome = "passed" if catalogue.success else "failed"
        rules["messages"].append(catalogue)
    # A missing or mistyped (e.g. naive) event_ts already failed its type rule; freshness cannot be judged.
    if purpose in FRESHNESS_PURPOSES and "event_ts" not in unusable.get("events", set()):
        fresh = checks.freshness(kept_frames.get("events"), as_of, cfg.validation_max_event_age_days)
        fresh.outcome = "passed" if fresh.success else "failed"
        rules.setdefault("events", []).append(fresh)
    previous = checks.load_last_counts(last_counts_path(cfg), purpose)
    rows_in = {n: len(f) for n, f in frames.items()}
    for rule in checks.volume(rows_in, previous, cfg.validation_volume_min_ratio, cfg.validation_volume_max_ratio):
        rule.outcome = "passed" if rule.success else "failed"
        rules.setdefault(rule.table, []).append(rule)

    # Rejected rows are written even when the gate fails, so people can see what was wrong.
    rejected = [rejected_frame(run_id, n, frames[n], b, rules.get(n, [])) for n, b in broken_rows.items() if b]
    n_rejected = write_rejected(cfg, run_id, pd.concat(rejected, ignore_index=True) if rejected else pd.DataFrame())

    failures = [r for table_rules in rules.values() for r in table_rules if r.outcome == "failed"]
    passed = not failures
    paths = dict(extracted["paths"])
    tables: dict[str, dict[str, Any]] = {}
    out_dir = Path(extracted.get("run_dir") or cfg.run_dir(run_id)) / "validated"
    for name, frame in frames.items():
        n_out = len(broken_rows.get(name, {}))
        kept = len(frame) - n_out
        if passed and name in QUARANTINE_TABLES and name in rules:
            # What was written is what downstream reads: count it, so the accounting checks the file.
            paths[name], kept = write_kept(frame, broken_rows.get(name, {}), out_dir, name)
        table_rules = rules.get(name, [])
        tables[name] = {
            "rows_in": len(frame),
            "kept": kept,
            "rejected": n_out,
            "rejected_share": n_out / len(frame) if len(frame) else 0.0,
            "passed": not any(r.outcome == "failed" for r in table_rules),
            "rules": [r.to_dict() for r in table_rules],
        }
        log.info("validation %s %s: %d rows in = %d kept + %d rejected", run_id, name, len(frame), kept, n_out)

    accounting = row_accounting(extracted.get("accounting", {}), tables)
    write_metrics(cfg, run_id, "extract", [e for e in accounting if e.step == "extract"])
    write_metrics(cfg, run_id, "validate", [e for e in accounting if e.step == "validate"])
    report = {
        "run_id": run_id,
        "purpose": purpose,
        "as_of": windows["as_of"],
        "passed": passed,
        "validated_at": datetime.now(UTC).isoformat(),
        "parameters": {k: str(v) for k, v in params.items()},
        "thresholds": {k: getattr(cfg, k) for k in THRESHOLDS},
        "rejected_rows_written": n_rejected,
        "failures": [r.line() for r in failures],
        "tables": tables,
        "row_accounting": [e.to_dict() | {"line": e.line()} for e in accounting],
        "paths": paths if passed else {},
    }
    report_paths = write_reports(cfg, run_id, report)
    if mlflow_run_id:
        log_to_mlflow(cfg, mlflow_run_id, report_paths, _metrics(tables, passed))

    if not passed:
        lines = [r.line() for r in failures]
        shown = lines[:MAX_MESSAGE_LINES] + (
            [f"… and {len(lines) - MAX_MESSAGE_LINES} more"] if len(lines) > MAX_MESSAGE_LINES else []
        )
        raise DataValidationError(
            f"data validation failed for run {run_id} ({len(lines)} broken rule{'s' * (len(lines) != 1)}):\n  "
            + "\n  ".join(shown)
            + f"\nreport: {report_paths['html']}"
        )
    checks.save_last_counts(last_counts_path(cfg), purpose, run_id, rows_in, windows["as_of"])
    return {
        "passed": True,
        "purpose": purpose,
        "tables": {
            n: {k: v for k, v in t.items() if k != "rules"}
            | {"rules": {r["rule"]: r["outcome"] for r in t["rules"] if r["outcome"] != "passed"}}
            for n, t in tables.items()
        },
        "rejected_rows": n_rejected,
        "row_accounting": [e.line() for e in accounting],
        "report": report_paths,
        "paths": paths,
    }


def row_accounting(extract: dict[str, dict[str, int]], tables: dict[str, dict[str, Any]]) -> list[RowCount]:
    """Extract and gate counts per table, checked: source = extracted + out of window, extracted = kept + rejected.

    Raises RowAccountingError when a step lost or doubled rows (``extract`` is absent for frames
    handed over without counts, e.g. in tests).
    """
    entries = [
        RowCount(
            "extract",
            name,
            a["source_rows"],
            kept=a["extracted"],
            out_of_scope=a["out_of_window"] + a.get("suppressed", 0),
            note=f"{a['suppressed']} of forgotten customers" if a.get("suppressed") else "",
        )
        for name, a in extract.items()
    ]
    entries += [
        RowCount("validate", name, t["rows_in"], kept=t["kept"], rejected=t["rejected"]) for name, t in tables.items()
    ]
    for entry in entries:
        written = extract.get(entry.table, {}).get("extracted")
        if entry.step == "validate" and written is not None and entry.rows_in != written:
            raise RowAccountingError(
                f"{entry.table}: the gate read {entry.rows_in} rows but the extract wrote {written}"
            )
    return check(entries)


def _metrics(tables: dict[str, dict[str, Any]], passed: bool) -> dict[str, float]:
    metrics: dict[str, float] = {"validation.passed": float(passed)}
    for name, t in tables.items():
        for key in ("rows_in", "kept", "rejected"):
            metrics[f"validation.{name}.{key}"] = float(t[key])
    return metrics
