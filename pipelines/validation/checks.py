"""Rules GX cannot express on one dataframe: cross-table references, image files, freshness, volume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.validation.results import SAMPLE_SIZE, RuleResult

# (table, column, referenced table, referenced key); NULL references are allowed here (hold-outs).
REFERENCES: tuple[tuple[str, str, str, str], ...] = (
    ("events", "customer_id", "customers", "customer_id"),
    ("sends", "customer_id", "customers", "customer_id"),
    ("sends", "message_id", "messages", "message_id"),
    ("reviews", "customer_id", "customers", "customer_id"),
)


def referential_integrity(frames: dict[str, pd.DataFrame], unusable: dict[str, set[str]]) -> list[RuleResult]:
    """Row rules: every non-NULL reference names an existing key of the referenced table."""
    results = []
    for table, column, ref_table, ref_key in REFERENCES:
        if table not in frames or ref_table not in frames:
            continue
        rule = f"{column}_references_{ref_table}"
        if column in unusable.get(table, set()) or ref_key in unusable.get(ref_table, set()):
            results.append(
                RuleResult(
                    table,
                    rule,
                    "expect_column_values_to_reference_key",
                    "row",
                    True,
                    column,
                    source="pandas",
                    outcome="skipped",
                    note="column missing or of the wrong type",
                )
            )
            continue
        values = frames[table][column]
        bad = values.notna() & ~values.isin(set(frames[ref_table][ref_key].dropna()))
        positions = np.flatnonzero(bad.to_numpy())
        results.append(
            RuleResult(
                table,
                rule,
                "expect_column_values_to_reference_key",
                "row",
                len(positions) == 0,
                column,
                source="pandas",
                unexpected_count=len(positions),
                element_count=len(values),
                sample=values.iloc[positions[:SAMPLE_SIZE]].tolist(),
                positions=positions,
                note="" if len(positions) == 0 else f"not a {ref_table}.{ref_key}",
            )
        )
    return results


def images_decode(messages: pd.DataFrame, assets_dir: Path, assets_remote: bool) -> RuleResult:
    """Table rule: each local banner (image_uri relative to the asset folder) exists and decodes with Pillow."""
    from PIL import Image, UnidentifiedImageError

    uris = messages["image_uri"] if "image_uri" in messages else pd.Series([], dtype=object)
    bad: list[str] = []
    checked = skipped = 0
    root = assets_dir.resolve()
    for message_id, uri in zip(messages.get("message_id", pd.Series(index=uris.index)), uris):
        if uri is None or (isinstance(uri, float) and np.isnan(uri)):
            continue
        uri = str(uri)
        if "://" in uri or assets_remote:
            skipped += 1  # gs:// creatives are checked where they live, not on a local run
            continue
        path = (root / uri).resolve()
        checked += 1
        if root not in path.parents:
            bad.append(f"{message_id}: {uri} (outside the asset folder)")
            continue
        try:
            with Image.open(path) as image:
                image.load()  # verify() misses truncated data; a full decode does not
        except FileNotFoundError:
            bad.append(f"{message_id}: {uri} (missing)")
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            bad.append(f"{message_id}: {uri} ({type(exc).__name__})")
    return RuleResult(
        "messages",
        "image_decodes",
        "expect_image_uri_to_decode",
        "table",
        not bad,
        "image_uri",
        source="pandas",
        unexpected_count=len(bad),
        element_count=checked,
        sample=bad[:SAMPLE_SIZE],
        observed={"checked": checked, "skipped_remote": skipped},
        note="" if not bad else f"under {assets_dir}",
    )


def freshness(events: pd.DataFrame | None, as_of: pd.Timestamp, max_age_days: float) -> RuleResult:
    """Table rule for scoring/monitoring runs: the newest (kept) event is at most ``max_age_days`` old."""
    newest = events["event_ts"].max() if events is not None and len(events) else None
    if newest is None or pd.isna(newest):
        return RuleResult(
            "events",
            "fresh",
            "expect_column_max_to_be_recent",
            "table",
            events is None,
            "event_ts",
            source="pandas",
            note="no events table: freshness not checked" if events is None else "no events",
        )
    newest = pd.Timestamp(newest)
    if newest.tzinfo is None:
        # A naive timestamp is a wall-clock time in an unknown zone: it cannot be set against the run's instant.
        return RuleResult(
            "events",
            "fresh",
            "expect_column_max_to_be_recent",
            "table",
            False,
            "event_ts",
            source="pandas",
            observed=f"newest {newest.isoformat()} has no time zone",
            note="events.event_ts is a naive timestamp: re-import with timezone: in the mapping (herald import)",
        )
    age_days = (pd.Timestamp(as_of) - newest).total_seconds() / 86400
    ok = age_days <= max_age_days
    return RuleResult(
        "events",
        "fresh",
        "expect_column_max_to_be_recent",
        "table",
        ok,
        "event_ts",
        source="pandas",
        element_count=len(events),
        observed=f"newest {newest.isoformat()}, {age_days:.1f} days before as_of",
        note=""
        if ok
        else (
            f"the extract is stale: newest event is {age_days:.0f} days before this run's date "
            f"({pd.Timestamp(as_of).date()}); the limit is "
            f"{max_age_days:g} days: set HERALD_VALIDATION_MAX_EVENT_AGE_DAYS or run with "
            f"--date {(newest + pd.Timedelta(days=1)).date()}"
        ),
    )


def catalogue_active(messages: pd.DataFrame, as_of: pd.Timestamp) -> RuleResult:
    """Table rule for scoring runs: at least one message is active on the run's date (UTC).

    A catalogue whose every message expired (or has not started) would leave every customer with
    nothing to send; the failure names the run's date and the newest ``active_to``.
    """
    day = as_of.tz_convert("UTC").date() if as_of.tzinfo else as_of.date()
    start = pd.to_datetime(messages["active_from"]).dt.date
    end = pd.to_datetime(messages["active_to"]).dt.date
    active = (start <= day) & (end >= day)
    n_active = int(active.sum())
    newest = end.dropna().max() if end.notna().any() else None
    earliest = start.dropna().min() if start.notna().any() else None
    observed = (
        f"{n_active} of {len(messages)} messages active on {day}; active_from from {earliest},"
        f" newest active_to {newest}"
    )
    return RuleResult(
        "messages",
        "some_message_active",
        "expect_some_message_active_on_run_date",
        "table",
        n_active > 0,
        "active_to",
        source="pandas",
        element_count=len(messages),
        observed=observed,
        note=""
        if n_active
        else f"no message is active on the run date {day} (newest active_to {newest}): extend active_to "
        "or add messages to the catalogue, or score a date the catalogue covers",
    )


def volume(
    rows: dict[str, int], previous: dict[str, Any] | None, min_ratio: float, max_ratio: float
) -> list[RuleResult]:
    """Table rules: each table's row count stays within [min_ratio, max_ratio] × the last successful run's."""
    if not previous:
        return []
    before: dict[str, int] = previous.get("rows", {})
    results = []
    for table in sorted(set(before) | set(rows)):
        now, then = rows.get(table), before.get(table)
        if then is None:
            continue  # a table new since last run has no baseline yet
        if now is None:
            results.append(
                RuleResult(
                    table,
                    "volume_in_band",
                    "expect_table_row_count_to_be_near_previous",
                    "table",
                    False,
                    source="pandas",
                    observed=f"absent now, {then} rows in run {previous.get('run_id')}",
                    note="the table disappeared since the last successful run",
                )
            )
            continue
        ratio = now / then if then else (1.0 if now == 0 else float("inf"))
        ok = min_ratio <= ratio <= max_ratio
        results.append(
            RuleResult(
                table,
                "volume_in_band",
                "expect_table_row_count_to_be_near_previous",
                "table",
                ok,
                source="pandas",
                element_count=now,
                observed=f"{now} rows vs {then} in run {previous.get('run_id')} ({ratio:.0%})",
                note="" if ok else f"outside {min_ratio:.0%}–{max_ratio:.0%} of the previous run",
            )
        )
    return results


def load_last_counts(path: Path, purpose: str) -> dict[str, Any] | None:
    """The row counts of the last successful validation for this purpose (windows differ per purpose)."""
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get(purpose)


def save_last_counts(path: Path, purpose: str, run_id: str, rows: dict[str, int], as_of: str) -> None:
    """Record this successful run's counts, keeping the other purposes' entries."""
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[purpose] = {"run_id": run_id, "as_of": as_of, "rows": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)  # atomic, so a crash never leaves a half-written baseline
