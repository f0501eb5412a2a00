"""Batch scoring end to end at scale (≥200k customers × every candidate), the bare forward pass, shard memory 1×/4×.

The champion is trained on the benchmark world; the scored warehouse is a copy of that world with
its customers (and their events, sends and reviews) replicated under new ids up to
``bench_scoring_customers``, so every scored customer has real history and every candidate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bench.policy import ensure_champion
from pipelines.config import HeraldConfig

SCORING_RUN = "bench-scoring"
RSS_RUN = "bench-scoring-rss"
REPO = Path(__file__).resolve().parent.parent

# Scores one shard of a saved plan in a fresh interpreter and reports its peak RSS (ru_maxrss, KiB on Linux).
_RSS_CHILD = """
import json, resource, sys
from pipelines.config import load_config
from pipelines.training.registry import RegisteredModel
from pipelines.scoring.prepare import ScoringPlan
from pipelines.scoring.shard import score_shard
plan = ScoringPlan(**json.loads(open(sys.argv[1]).read()))
champion = RegisteredModel(**json.loads(sys.argv[3]))
out = score_shard(load_config(), sys.argv[2], int(sys.argv[4]), plan, champion)
print(json.dumps({**out, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


# Replicated tables and the id columns that get the copy's suffix (customer ids, and the table's own key).
_REPLICATED = {
    "customers": ("customer_id",),
    "events": ("event_id", "customer_id"),
    "sends": ("send_id", "customer_id"),
    "reviews": ("review_id", "customer_id"),
}


def scaled_world(cfg: HeraldConfig, customers: int) -> tuple[HeraldConfig, int]:
    """A warehouse copy with the world's customers replicated ``ceil(customers / n)`` times; its config and factor.

    Copy k > 0 of a row gets ``#k`` appended to its ids, so copies are distinct customers with the
    same history; messages are shared. Built once per size with DuckDB, in SQL.
    """
    import duckdb

    with duckdb.connect(str(cfg.duckdb_path), read_only=True) as con:
        n = con.execute(f"SELECT count(*) FROM {cfg.dataset}.customers").fetchone()[0]
    factor = max(1, -(-customers // n))
    target = cfg.home / f"scaled_{factor}x.duckdb"
    scaled = cfg.model_copy(update={"warehouse_path": target})
    if factor == 1:
        return cfg, 1
    if target.exists():
        with duckdb.connect(str(target), read_only=True) as con:
            if con.execute(f"SELECT count(*) FROM {cfg.dataset}.customers").fetchone()[0] == n * factor:
                return scaled, factor
        target.unlink()
    with duckdb.connect(str(target)) as con:
        con.execute(f"ATTACH '{cfg.duckdb_path}' AS src (READ_ONLY)")
        con.execute(f"CREATE SCHEMA {cfg.dataset}")
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'src' AND table_schema = ?",
                [cfg.dataset],
            ).fetchall()
        }
        suffix = "CASE WHEN copy.k = 0 THEN '' ELSE '#' || CAST(copy.k AS VARCHAR) END"
        for table in sorted(tables & {*_REPLICATED, "messages"}):
            ids = _REPLICATED.get(table, ())
            replaced = f" REPLACE ({', '.join(f't.{c} || {suffix} AS {c}' for c in ids)})" if ids else ""
            source = f"src.{cfg.dataset}.{table} AS t"
            if ids:
                source += f", range({factor}) AS copy(k)"
            con.execute(f"CREATE TABLE {cfg.dataset}.{table} AS SELECT t.*{replaced} FROM {source}")
    return scaled, factor


def end_to_end(cfg: HeraldConfig, champion: Any) -> dict[str, Any]:
    """Warehouse read → features → every shard scored and decided → staged → published, in this process."""
    from bench.policy import prepare_plan
    from pipelines.scoring.publish import publish
    from pipelines.scoring.scorer import load_scorer
    from pipelines.scoring.shard import score_shard

    scorer = load_scorer(cfg, champion)  # loading the model is a per-task constant, not per row
    started = time.perf_counter()
    plan = prepare_plan(cfg, SCORING_RUN)
    prepared = time.perf_counter()
    results = [score_shard(cfg, SCORING_RUN, s, plan, champion, scorer=scorer) for s in plan.shards]
    scored = time.perf_counter()
    published = publish(cfg, SCORING_RUN, plan, champion, with_segments=False)
    done = time.perf_counter()
    rows = sum(int(r["candidates_scored"]) for r in results)
    return {
        "plan": plan,
        "candidates": rows,
        "customers": plan.n_customers,
        "decisions_published": published["decisions"],
        "seconds": done - started,
        "prepare_seconds": prepared - started,
        "shard_seconds": scored - prepared,
        "publish_seconds": done - scored,
    }


def bare_forward(cfg: HeraldConfig, champion: Any, plan: Any, max_customers: int = 2000) -> dict[str, float]:
    """The champion's estimator.predict_proba alone, on candidate rows built beforehand (a slice of shard 0)."""
    import mlflow

    from pipelines.policy.choice import allowed_channels, blocking_reason
    from pipelines.scoring.candidates import candidate_rows, holdout_rows
    from pipelines.scoring.prepare import SCORING_ONLY_COLUMNS, iter_shard
    from pipelines.tracking import connect
    from pipelines.training import features

    connect(cfg)
    estimator = mlflow.pyfunc.load_model(champion.model_uri).unwrap_python_model().estimator
    messages = pd.read_parquet(plan.messages_path)
    as_of = datetime.fromisoformat(plan.as_of)
    parts, taken = [], 0
    for batch in iter_shard(plan, plan.shards[0]):
        open_ = batch[blocking_reason(batch, allowed_channels(batch, cfg), cfg.policy, len(messages)).isna().to_numpy()]
        grid = pd.concat(
            [holdout_rows(open_, cfg, as_of), candidate_rows(open_, messages, cfg, as_of)], ignore_index=True
        )
        grid["recent_sends_7d"] = grid["customer_id"].map(open_.set_index("customer_id")["recent_sends_7d"]).to_numpy()
        profiles = open_.drop(columns=[c for c in SCORING_ONLY_COLUMNS if c in open_])
        parts.append(features.model_rows(grid, profiles, messages))
        taken += len(open_)
        if taken >= max_customers:
            break
    started = time.perf_counter()
    n = 0
    for rows in parts:  # the same batch sizes scoring uses
        estimator.predict_proba(rows)
        n += len(rows)
    seconds = time.perf_counter() - started
    return {"rows": n, "seconds": seconds, "rows_per_s": n / seconds}


def shard_rss(cfg: HeraldConfig, champion: Any, plan: Any, factor: int, base: int) -> dict[str, Any]:
    """Peak RSS of scoring one shard holding ``factor`` × ``base`` of shard 0's customers, in a fresh process."""
    shard = plan.shards[0]
    customers = pd.read_parquet(plan.shard_path(shard)).head(base)
    folder = Path(plan.customers_dir).parent / f"rss_{factor}x"
    folder.mkdir(parents=True, exist_ok=True)
    # Copies of the shard with distinct ids: same per-customer work, factor × the customers.
    copies = [customers.assign(customer_id=customers["customer_id"] + (f"#{k}" if k else "")) for k in range(factor)]
    pd.concat(copies, ignore_index=True).to_parquet(
        folder / f"shard={shard}.parquet", index=False, row_group_size=plan.batch_customers
    )
    scaled = replace(plan, customers_dir=str(folder), shards=[shard], n_customers=len(customers) * factor)
    plan_file = folder / "plan.json"
    plan_file.write_text(json.dumps(scaled.to_dict()))
    env = {**os.environ, "HERALD_HOME": str(cfg.home), "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _RSS_CHILD,
            str(plan_file),
            f"{RSS_RUN}-{factor}x",
            json.dumps(champion.to_dict()),
            str(shard),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "customers": len(customers) * factor,
        "peak_rss_mb": result["maxrss_kb"] / 1024,
        "candidates": result["candidates_scored"],
    }


def run(cfg: HeraldConfig) -> dict[str, Any]:
    """The scoring section of DESIGN §8 (``make bench SECTION=scoring``)."""
    prepared = ensure_champion(cfg)
    champion = prepared["champion"]
    scaled, factor = scaled_world(cfg, cfg.bench_scoring_customers)
    e2e = end_to_end(scaled, champion)
    bare = bare_forward(scaled, champion, e2e["plan"])
    rows_per_s = e2e["candidates"] / e2e["seconds"]
    base = min(cfg.bench_rss_customers, len(pd.read_parquet(e2e["plan"].shard_path(e2e["plan"].shards[0]))))
    one, four = (shard_rss(scaled, champion, e2e["plan"], f, base) for f in (1, 4))
    minutes_1m = e2e["seconds"] * (1_000_000 / e2e["customers"]) / 60.0
    return {
        "candidate_rows_per_s": rows_per_s,
        "bare_forward_rows_per_s": bare["rows_per_s"],
        "throughput_ratio": rows_per_s / bare["rows_per_s"],
        "peak_rss_mb": {"1x": one["peak_rss_mb"], "4x": four["peak_rss_mb"]},
        "projected_minutes_1m_customers": minutes_1m,
        "measured": {
            "customers": e2e["customers"],
            "replication_factor": factor,
            "candidate_rows": e2e["candidates"],
            "candidates_per_customer": e2e["candidates"] / max(e2e["customers"], 1),
            "decisions_published": e2e["decisions_published"],
            "seconds": e2e["seconds"],
            "prepare_seconds": e2e["prepare_seconds"],
            "shard_seconds": e2e["shard_seconds"],
            "publish_seconds": e2e["publish_seconds"],
            "shard_only_rows_per_s": e2e["candidates"] / e2e["shard_seconds"],
            "bare_forward_rows": bare["rows"],
            "rss_customers": {"1x": one["customers"], "4x": four["customers"]},
            "batch_customers": e2e["plan"].batch_customers,
            "shards": len(e2e["plan"].shards),
        },
        "model": {"name": champion.name, "version": champion.version, "estimator": champion.estimator},
        "note": (
            "End to end = extract from the warehouse, features, every shard scored, decided and staged, then "
            "the run published in one transaction; one process, shards in sequence. The scored warehouse "
            f"replicates the benchmark world {factor}x under new ids (same histories). Bare forward = the "
            "champion's estimator.predict_proba on prebuilt candidate rows of shard 0 (same batch sizes). Peak "
            "RSS = ru_maxrss of a fresh process scoring one shard with 1x and 4x a slice of its customers. The 1M "
            f"projection scales this run's end-to-end time linearly from {e2e['customers']:,} customers on one "
            "process (not a 1M run); shards run in parallel in Airflow."
        ),
    }
