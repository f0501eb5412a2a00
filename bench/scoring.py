"""Batch scoring throughput end to end vs the bare forward pass, and shard memory at 1× and 4× customers."""

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


def end_to_end(cfg: HeraldConfig, champion: Any) -> dict[str, Any]:
    """Warehouse read → features → every shard scored and decided → decisions written, in this process."""
    from bench.policy import prepare_plan
    from pipelines.scoring.scorer import load_scorer
    from pipelines.scoring.shard import score_shard

    scorer = load_scorer(cfg, champion)  # loading the model is a per-task constant, not per row
    started = time.perf_counter()
    plan = prepare_plan(cfg, SCORING_RUN)
    prepared = time.perf_counter()
    results = [score_shard(cfg, SCORING_RUN, s, plan, champion, scorer=scorer) for s in plan.shards]
    done = time.perf_counter()
    rows = sum(int(r["candidates_scored"]) for r in results)
    return {
        "plan": plan,
        "candidates": rows,
        "customers": plan.n_customers,
        "seconds": done - started,
        "prepare_seconds": prepared - started,
        "shard_seconds": done - prepared,
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
        grid = pd.concat([holdout_rows(open_, as_of), candidate_rows(open_, messages, cfg, as_of)], ignore_index=True)
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


def shard_rss(cfg: HeraldConfig, champion: Any, plan: Any, factor: int) -> dict[str, Any]:
    """Peak RSS of scoring one shard holding ``factor`` × shard 0's customers, in a fresh process."""
    shard = plan.shards[0]
    customers = pd.read_parquet(plan.shard_path(shard))
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
    prepared = ensure_champion(cfg)
    champion = prepared["champion"]
    e2e = end_to_end(cfg, champion)
    bare = bare_forward(cfg, champion, e2e["plan"])
    rows_per_s = e2e["candidates"] / e2e["seconds"]
    one, four = shard_rss(cfg, champion, e2e["plan"], 1), shard_rss(cfg, champion, e2e["plan"], 4)
    minutes_1m = e2e["seconds"] * (1_000_000 / e2e["customers"]) / 60.0
    return {
        "candidate_rows_per_s": rows_per_s,
        "bare_forward_rows_per_s": bare["rows_per_s"],
        "throughput_ratio": rows_per_s / bare["rows_per_s"],
        "peak_rss_mb": {"1x": one["peak_rss_mb"], "4x": four["peak_rss_mb"]},
        "projected_minutes_1m_customers": minutes_1m,
        "measured": {
            "customers": e2e["customers"],
            "candidate_rows": e2e["candidates"],
            "seconds": e2e["seconds"],
            "prepare_seconds": e2e["prepare_seconds"],
            "shard_seconds": e2e["shard_seconds"],
            "shard_only_rows_per_s": e2e["candidates"] / e2e["shard_seconds"],
            "bare_forward_rows": bare["rows"],
            "rss_customers": {"1x": one["customers"], "4x": four["customers"]},
            "batch_customers": e2e["plan"].batch_customers,
            "shards": len(e2e["plan"].shards),
        },
        "model": {"name": champion.name, "version": champion.version, "estimator": champion.estimator},
        "note": (
            "End to end = extract from the warehouse, features, every shard scored, decided and written, one "
            "process, shards in sequence; bare forward = the champion's estimator.predict_proba on prebuilt "
            "candidate rows of shard 0 (same batch sizes). Peak RSS = ru_maxrss of a fresh process scoring one "
            "shard with 1× and 4× its customers. The 1M projection scales this run's end-to-end time linearly "
            f"from {e2e['customers']:,} customers on one process (a slice, not a 1M run); shards run in "
            "parallel in Airflow."
        ),
    }
