"""Real randomized experiments for the generalisation section: Hillstrom through its DAG, Gerber through an import.

Each is valued the same way (pipelines/policy/experiment.py ``evaluate``): Herald's models are
trained on a random part of the people, and every policy — each fixed arm, random, and Herald's
personalised policy behind its safe-policy check — is valued by IPS and DR on held-out people with
bootstrap intervals. Target (DESIGN §7): the deployed policy never below the best fixed arm by
more than 0.3 points.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.config import REPO_ROOT, HeraldConfig

SAMPLES = REPO_ROOT / "tests" / "data"
GERBER = REPO_ROOT.parent / "shared" / "data" / "gerber" / "social_pressure.csv"
# Gerber's letters went out in the last week of July 2006 (the mapping's mailing_start); the primary
# was on 8 August, so every outcome is known by the 20th.
GERBER_AS_OF = datetime(2006, 8, 20, tzinfo=UTC)


def hillstrom_through_dag(base: HeraldConfig, root: Path, smoke: bool) -> dict[str, Any]:
    """The Hillstrom experiment through ``herald_hillstrom`` (import → train → value on held-out people)."""
    from pipelines.flows.runner import HILLSTROM_DAG_ID, migrate, run_dag
    from pipelines.policy.experiment import RUN_SUMMARY_ID
    from pipelines.tracking import read_run_summary
    from pipelines.warehouse.hillstrom.importer import hillstrom_config

    path = SAMPLES / "hillstrom_sample.csv" if smoke else base.hillstrom.path
    if not Path(path).is_file():
        return {"error": f"Hillstrom file {path} not found (set HERALD_HILLSTROM__PATH)"}
    cfg = base.model_copy(
        update={
            "home": root / "hillstrom",
            "warehouse_path": None,
            "hillstrom": base.hillstrom.model_copy(update={"path": Path(path)}),
        }
    )
    shutil.rmtree(cfg.home, ignore_errors=True)
    clock = time.perf_counter()
    migrate(cfg)
    os.environ["HERALD_HILLSTROM__PATH"] = str(path)  # the DAG's tasks read the config from the environment
    try:
        run_dag(cfg, HILLSTROM_DAG_ID)
    finally:
        os.environ.pop("HERALD_HILLSTROM__PATH", None)
    summary = read_run_summary(hillstrom_config(cfg), RUN_SUMMARY_ID)
    if summary is None:
        return {"error": "herald_hillstrom left no run summary"}
    return valued(summary, path, smoke, time.perf_counter() - clock)


def gerber_through_import(base: HeraldConfig, root: Path, smoke: bool) -> dict[str, Any]:
    """The Gerber experiment imported as any user's data (`herald import --mapping gerber`), then valued.

    The control group is the hold-out and the four letters are the arms, with the propensities the
    mapping derives from the arm sizes; the outcome is ``voted``. Runs in this process (there is no
    DAG for an arbitrary experiment): import into its own home, then ``evaluate`` as of 2006-08-20.
    """
    from pipelines.config import load_config
    from pipelines.policy.experiment import evaluate
    from pipelines.warehouse.hillstrom.importer import ImportResult
    from pipelines.warehouse.imports import import_mapping

    path = SAMPLES / "gerber_sample.csv" if smoke else Path(os.environ.get("HERALD_GERBER_PATH", GERBER))
    if not path.is_file():
        return {"error": f"Gerber file {path} not found (set HERALD_GERBER_PATH)"}
    home = root / "gerber"
    shutil.rmtree(home, ignore_errors=True)
    before = os.environ.get("HERALD_HOME")
    os.environ["HERALD_HOME"] = str(home)  # the import's settings (channel mail, implied consent) live there
    clock = time.perf_counter()
    try:
        report = import_mapping(load_config(deep=base.deep), "gerber", sources={"people": path}, replace=True)
        cfg = load_config(deep=base.deep, hillstrom=base.hillstrom, mlflow_experiment="herald-gerber")
        imported = ImportResult(
            path=str(path),
            dataset=cfg.dataset,
            target="voted",
            rows={table: counts["kept"] for table, counts in report.tables.items()},
            campaign_start=GERBER_AS_OF.isoformat(),
            campaign_end=GERBER_AS_OF.isoformat(),
            arms={},
        )
        summary = evaluate(cfg, imported, now=GERBER_AS_OF, experiment_cfg=cfg)
    finally:
        if before is None:
            os.environ.pop("HERALD_HOME", None)
        else:
            os.environ["HERALD_HOME"] = before
    return {"rows": report.tables, **valued(summary, path, smoke, time.perf_counter() - clock)}


def valued(summary: dict[str, Any], path: str | Path, smoke: bool, seconds: float) -> dict[str, Any]:
    """Every policy's IPS and DR with intervals, and the deployed policies against the best fixed arm."""
    policies = {
        name: {k: p[k] for k in ("ips", "ci_low", "ci_high", "dr", "dr_ci_low", "dr_ci_high") if k in p}
        for name, p in summary["policies"].items()
    }
    best = summary["best_single_arm"]
    best_rate = float(best.get("visit_rate", best.get("rate", np.nan)))
    deployed = {n: p for n, p in policies.items() if n.startswith("personalized_") and not n.endswith("_raw")}
    return {
        "source": str(path),
        "sample_only": smoke,
        "best_single_arm": best,
        "policies": policies,
        "deployed_minus_best_arm_points": {n: 100 * (p["ips"] - best_rate) for n, p in deployed.items()},
        "target_within_0_3_points": {n: bool(100 * (p["ips"] - best_rate) >= -0.3) for n, p in deployed.items()},
        "duration_s": seconds,
    }
