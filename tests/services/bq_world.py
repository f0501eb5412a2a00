"""The hand-made world of test_bigquery_emulator.py: the inputs of the DuckDB unit tests plus every table Herald writes.

Each table is written with ``Warehouse.write`` (truncate), so both backends load it through their own
load path. The ledger and staging tables are written directly rather than by ``publish_run``, whose
script bqemulator cannot run (see test_replace_run_is_idempotent_and_touches_only_its_run).
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from pipelines.warehouse.base import Warehouse
from tests.unit.warehouse.test_warehouse_duckdb import customers, decision_rows, events, messages, reviews, sends, ts

DAY, NEXT_DAY = dt.date(2024, 3, 8), dt.date(2024, 3, 9)
# c2 asked to be forgotten (c9 too, who is not a customer): the extracts and counts must leave c2 out.
SUPPRESSED = ["c2", "c9"]
ERASED_TABLES = ("decisions", "customer_segments", "decision_traces", "rejected_rows")


def promotions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": ["t1", "t2", "t3"],
            "decided_at": [ts("2024-03-01"), ts("2024-03-05"), ts("2024-03-09")],
            "model_name": "herald-response",
            "version": ["1", "2", "3"],
            "alias": ["challenger,champion", "challenger", "challenger,champion"],
            "previous_champion_version": [None, "1", "1"],
            "promoted": [True, False, True],
            "actor": "gate",
            "reason": ["first", "worse", "better"],
            "metrics": "{}",
        }
    )


def metrics() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": ["m1", "m1", "m2"],
            "computed_at": [ts("2024-03-02"), ts("2024-03-02"), ts("2024-03-09")],
            "kind": ["data_drift", "retrain", "performance"],
            "subject": ["age", None, None],
            "metric": ["psi", "triggered", "auc"],
            "value": [0.4, 1.0, 0.7],
            "threshold": [0.2, None, 0.55],
            "breached": [True, False, False],
        }
    )


def decisions() -> pd.DataFrame:
    """Run r1 (two shards, replaced) and r2 (complete) of 2024-03-08; r2 decided a day later."""
    parts = []
    for run, shard, who, when in [("r1", 0, ["c1", "c2"], 8), ("r1", 1, ["c3"], 8), ("r2", 0, ["c1"], 12)]:
        rows = decision_rows(run, shard, who, when).assign(
            uplift=0.01, propensity=0.9, policy="greedy", reason=None, model_name="herald-response", model_version="1"
        )
        if run == "r2":
            rows["decided_at"] = ts("2024-03-09 06:00")
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def decisions_staging() -> pd.DataFrame:
    """Run r3 of 2024-03-09, staged but not published: shard 0 holds a hold-out (no message)."""
    rows = pd.concat([decision_rows("r3", 0, ["c1", "c3"]), decision_rows("r3", 1, ["c4"])], ignore_index=True)
    rows["logical_date"], rows["decided_at"] = NEXT_DAY, ts("2024-03-09 06:00")
    rows.loc[1, ["message_id", "channel"]] = None
    return rows.assign(uplift=0.02, propensity=0.5, policy="greedy", reason=None, model_name="m", model_version="2")


def segments(run_id: str, day: dt.date, who: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"logical_date": day, "run_id": run_id, "customer_id": who, "segment": range(len(who))})


def scoring_runs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "logical_date": [DAY, DAY, NEXT_DAY],
            "run_id": ["r1", "r2", "r3"],
            "status": ["replaced", "complete", "running"],
            "started_at": [ts("2024-03-08 05:00"), ts("2024-03-09 05:00"), ts("2024-03-09 05:30")],
            "published_at": [ts("2024-03-08 07:00"), ts("2024-03-09 07:00"), None],
            "as_of": [ts("2024-03-08")] * 3,
            "customers": [3, 1, None],
            "decisions": [3, 1, None],
            "messages_sent": [3, 1, None],
            "segments": [3, 1, None],
            "shards": [2, 1, 2],
            "model_name": "herald-response",
            "model_version": ["1", "1", "2"],
            "note": [None, "re-run", None],
        }
    )


def decision_traces() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": ["r1", "r1", "r2"],
            "shard": [0, 0, 0],
            "customer_id": ["c1", "c2", "c1"],
            "trace_json": [json.dumps({"top": ["m1", "m2"], "holdout": h}) for h in (False, True, False)],
        }
    )


def rejected_rows() -> pd.DataFrame:
    rows = [{"event_id": "e9", "customer_id": "c2"}, {"send_id": "s9", "customer_id": "c3"}, {"message_id": "m9"}]
    return pd.DataFrame(
        {
            "run_id": "import-1",
            "table_name": ["events", "sends", "messages"],
            "row_number": [4, 7, 1],
            "row_key": ["e9", "s9", "m9"],
            "rule": ["not_null", "range", "not_null"],
            "reason": ["event_ts is NULL", "sent_at in 2099", "title is NULL"],
            "row_json": [json.dumps(r) for r in rows],
            "rejected_at": ts("2024-03-07 04:00"),
        }
    )


def imports() -> pd.DataFrame:
    names = ["customers", "events", "messages", "sends", "reviews"]
    return pd.DataFrame(
        {
            "mapping": "gerber",
            "table_name": names,
            "source": "pipelines/warehouse/imports/mappings/gerber.yaml",
            "imported_at": ts("2024-03-07 04:00"),
            "source_rows": [4, 62, 3, 5, 2],
            "kept": [4, 61, 2, 4, 2],
            "rejected": [0, 1, 1, 1, 0],
        }
    )


def suppressed_customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": SUPPRESSED,
            "requested_at": ts("2024-03-07 09:00"),
            "request_id": ["forget-1", "forget-2"],
            "actor": "dpo",
        }
    )


def erased_tables() -> dict[str, pd.DataFrame]:
    """The output tables a forget request erases from (pipelines/warehouse/forget.py ERASED_TABLES)."""
    return {
        "decisions": decisions(),
        "customer_segments": segments("r2", DAY, ["c1", "c2", "c3"]),
        "decision_traces": decision_traces(),
        "rejected_rows": rejected_rows(),
    }


def world() -> dict[str, pd.DataFrame]:
    return {
        "customers": customers(),
        "events": events(),
        "messages": messages(),
        "sends": sends(),
        "reviews": reviews(),
        "suppressed_customers": suppressed_customers(),
        "model_promotions": promotions(),
        "monitoring_metrics": metrics(),
        **erased_tables(),
        "decisions_staging": decisions_staging(),
        "customer_segments_staging": segments("r3", NEXT_DAY, ["c1", "c3", "c4"]),
        "scoring_runs": scoring_runs(),
        "imports": imports(),
    }


def fill(wh: Warehouse, tables: dict[str, pd.DataFrame] | None = None) -> None:
    """Write the world (or ``tables``) to ``wh``; one load per table."""
    for name, frame in (world() if tables is None else tables).items():
        wh.write(name, frame)
