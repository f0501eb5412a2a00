"""The data rules of `herald check`: keys, NULLs, references, channels, banners, windows and freshness."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.warehouse.check import IMPORT_FIX, Fault
from pipelines.warehouse.contract import HOLDOUT_CHANNEL, INPUT_TABLES
from pipelines.warehouse.extract import extract_windows

QUARANTINED = ("events", "sends", "reviews")
NOT_NULL = {
    "sends": ("customer_id", "channel", "sent_at"),
    "events": ("customer_id", "event_ts"),
    "reviews": ("customer_id",),
}


def data_faults(
    cfg: HeraldConfig, warehouse: Any, as_of: datetime, purposes: tuple[str, ...], sound: set[str]
) -> list[Fault]:
    """Rules over the rows of every table in ``sound`` (present, with the contract's columns and types)."""
    faults: list[Fault] = []
    stats: dict[str, dict[str, Any]] = {}
    windows = extract_windows(cfg, "training", as_of)
    params = {"since": windows.feature_cutoff, "until": as_of}
    for name in ("customers", "sends", "events", "reviews"):
        if name in sound:
            row = warehouse.query(f"check_{name}", params if name == "sends" else None).iloc[0].to_dict()
            stats[name] = row
            faults += _keys(name, row)
    if "messages" in sound:
        messages = warehouse.query("check_messages")
        faults += _message_faults(cfg, messages, as_of, "scoring" in purposes)
    if "sends" in sound:
        faults += _channel_faults(cfg, warehouse.query("check_send_channels"))
        if {"customers", "messages"} <= sound:
            refs = warehouse.query("check_send_references").iloc[0]
            for column, target in (("customer_id", "customers"), ("message_id", "messages")):
                n = int(refs[f"unknown_{column.split('_')[0]}"])
                if n:
                    faults.append(
                        Fault(
                            "sends",
                            column,
                            f"references {target}",
                            f"{n:,} sends name a {column} not in {target}",
                            f"import the missing {target} or drop those sends; {IMPORT_FIX}",
                            blocking=False,
                        )
                    )
        if "training" in purposes:
            faults += _window_faults(cfg, stats["sends"], windows.feature_cutoff, as_of)
    if "events" in sound and {"scoring", "monitoring"} & set(purposes):
        faults += _freshness(cfg, stats["events"], as_of)
    return faults


def _keys(name: str, row: dict[str, Any]) -> list[Fault]:
    key = INPUT_TABLES[name].key
    # Rows of these tables the gate quarantines (within its tolerance); a bad customer key stops a run.
    quarantined = name in QUARANTINED
    faults = []
    if int(row["null_key"]):
        faults.append(
            Fault(
                name,
                key,
                "key is not NULL",
                f"{int(row['null_key']):,} of {int(row['n_rows']):,} rows have no {key}",
                f"give every row a {key}; herald import rejects such rows into rejected_rows",
                blocking=not quarantined,
            )
        )
    if int(row["repeated_key"]):
        faults.append(
            Fault(
                name,
                key,
                "key is unique",
                f"{int(row['repeated_key']):,} rows repeat another row's {key}",
                f"deduplicate on {key}; herald import keeps the first and rejects the rest",
                blocking=not quarantined,
            )
        )
    for column in NOT_NULL.get(name, ()):
        n = int(row.get(f"null_{column}", 0) or 0)
        if n:
            faults.append(Fault(name, column, "not NULL", f"{n:,} rows have no {column}", IMPORT_FIX, blocking=False))
    return faults


def _message_faults(cfg: HeraldConfig, messages: pd.DataFrame, as_of: datetime, scoring: bool) -> list[Fault]:
    faults = []
    ids = messages["message_id"]
    if ids.isna().any():
        faults.append(
            Fault(
                "messages",
                "message_id",
                "key is not NULL",
                f"{int(ids.isna().sum())} messages have no message_id",
                IMPORT_FIX,
            )
        )
    if ids.dropna().duplicated().any():
        repeated = sorted(ids[ids.duplicated()].dropna().unique())[:5]
        faults.append(
            Fault(
                "messages",
                "message_id",
                "key is unique",
                f"repeated: {', '.join(map(str, repeated))}",
                "give each message variant its own message_id",
            )
        )
    unresolved = [f"{m}: {u} ({why})" for m, u in zip(ids, messages["image_uri"]) if (why := _unresolved(cfg, u))]
    if unresolved:
        faults.append(
            Fault(
                "messages",
                "image_uri",
                "banner image resolves",
                f"{len(unresolved)} do not: " + "; ".join(unresolved[:3]),
                f"local banners are paths under {cfg.assets_dir} (herald import copies absolute paths and paths "
                "relative to the mapping there); gs:// URIs need HERALD_WAREHOUSE_BACKEND=bigquery",
            )
        )
    if scoring and len(messages):
        day = as_of.date()
        start = pd.to_datetime(messages["active_from"]).dt.date
        end = pd.to_datetime(messages["active_to"]).dt.date
        active = (start.isna() | (start <= day)) & (end.isna() | (end >= day))
        if not active.any():
            spans = f"{start.min()} – {end.max()}"
            faults.append(
                Fault(
                    "messages",
                    "active_from",
                    "a message is active on the run's date",
                    f"none of {len(messages)} messages is active on {day} (they run {spans})",
                    "score with --date inside the messages' active dates, or extend active_to",
                )
            )
    return faults


def _unresolved(cfg: HeraldConfig, uri: Any) -> str | None:
    if uri is None or (isinstance(uri, float) and uri != uri):
        return None
    text = str(uri)
    if "://" in text:
        remote = cfg.warehouse_backend == "bigquery" or bool(cfg.assets_uri and "://" in cfg.assets_uri)
        return None if remote and text.startswith("gs://") else "remote URI on the embedded warehouse"
    root = cfg.assets_dir.resolve()
    path = (root / text).resolve()
    if Path(text).is_absolute() or root not in path.parents:
        return f"outside {root}"
    return None if path.is_file() else "no such file"


def _channel_faults(cfg: HeraldConfig, channels: pd.DataFrame) -> list[Fault]:
    allowed = {*cfg.channels, HOLDOUT_CHANNEL}
    unknown = channels[channels["channel"].notna() & ~channels["channel"].isin(allowed)]
    if unknown.empty:
        return []
    said = ", ".join(f"{c!r} ({int(n):,} sends)" for c, n in zip(unknown["channel"], unknown["n_rows"]))
    wanted = sorted({*cfg.channels, *unknown["channel"]})
    return [
        Fault(
            "sends",
            "channel",
            "channel is configured",
            f"{said}; configured: {cfg.channels} and 'none' for hold-outs",
            f"set HERALD_CHANNELS='{json.dumps(wanted)}' (settings.channels in the mapping), "
            "or map the values onto configured channels",
            blocking=False,
        )
    ]


def _window_faults(cfg: HeraldConfig, sends: dict[str, Any], since: datetime, until: datetime) -> list[Fault]:
    labelled = int(sends.get(f"labelled_{cfg.target}") or 0)
    if labelled:
        return []
    first, last = sends.get("first_sent_at"), sends.get("last_sent_at")
    span = (
        "the table holds no sends"
        if pd.isna(last)
        else f"the sends run from {pd.Timestamp(first).date()} to {pd.Timestamp(last).date()}"
    )
    suggestion = (
        ""
        if pd.isna(last)
        else f"run with --date {(pd.Timestamp(last) + timedelta(days=8)).date()} (after the attribution window), or "
    )
    return [
        Fault(
            "sends",
            cfg.target,
            "the training window holds labelled sends",
            f"0 sends with {cfg.target} between {since.date()} and {until.date()} "
            f"(HERALD_LABEL_WINDOW_DAYS={cfg.label_window_days} days before this run's date); {span}",
            f"{suggestion}set HERALD_LABEL_WINDOW_DAYS to reach them",
        )
    ]


def _freshness(cfg: HeraldConfig, events: dict[str, Any], as_of: datetime) -> list[Fault]:
    last = events.get("last_event_ts")
    if last is None or pd.isna(last):
        return []
    age = (pd.Timestamp(as_of) - pd.Timestamp(last)).total_seconds() / 86400
    limit = cfg.validation_max_event_age_days
    if age <= limit:
        return []
    return [
        Fault(
            "events",
            "event_ts",
            "events are fresh",
            f"newest event is {age:.0f} days before this run's date ({pd.Timestamp(last).date()} vs {as_of.date()}); "
            f"the limit is {limit:g} days",
            "set HERALD_VALIDATION_MAX_EVENT_AGE_DAYS or run with "
            f"--date {(pd.Timestamp(last) + timedelta(days=1)).date()}",
        )
    ]
