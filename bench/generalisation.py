"""Generalisation: Herald through its real DAGs on a family of synthetic worlds, beside two peers; real experiments.

For every world (structure × seed, DESIGN §7) the world is written into its own HERALD_HOME, then
``herald_training`` and ``herald_scoring`` run through the same runner the CLI uses
(pipelines/flows/runner.py, ``airflow dags test``). Herald's published decisions are valued with
the world's true response, beside a logistic-regression and a LightGBM peer on hand-made features
(bench/peers.py), each greedy over every allowed action. One configuration for every world.

``HERALD_BENCH_WORLDS=n`` runs only the first n worlds (a smoke run; the JSON says so), and
``HERALD_BENCH_SMOKE=1`` shrinks every world to 2,000 customers and runs Hillstrom on the committed
sample instead of the full file; ``HERALD_BENCH_STRUCTURES=a,b`` picks other structures (presets in
pipelines/config.py WORLD_STRUCTURES); ``HERALD_BENCH_REAL=0`` skips the real experiments.
``make bench SECTION=generalisation WORLDS=n`` sets the first.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bench.experiments import gerber_through_import, hillstrom_through_dag
from bench.worlds_value import policy_values
from pipelines.config import HeraldConfig, WorldSettings

# Four structures × three seeds = 12 worlds, sized so the section fits 90 minutes on 2 quiet cores
# (Airflow's per-task start-up dominates at these sizes). "noisy_busy" stays a preset outside the
# default family (HERALD_BENCH_STRUCTURES=default,content,... chooses others).
STRUCTURES = ("default", "content", "channel_timing", "price_sparse")
SEEDS = (11, 12, 13)
CUSTOMERS = 2_500
# One world per run is larger, so the family spans small and mid-sized data.
LARGE_WORLD = ("default", 13)
LARGE_CUSTOMERS = 10_000
SMOKE_CUSTOMERS = 2_000
# Every world is built at, and its DAG runs stand for, one fixed instant: the same seed gives the
# same tables, the same training window and the same figures on every run (the clock would move the
# worlds' dates, and with them the peers' and Herald's figures, from one run to the next).
WORLD_NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
# A quarter of the active catalogue launches on the scoring day in every world: never sent, known
# only by copy, banner and attributes (the new-message benchmark).
NEW_MESSAGE_SHARE = 0.25
# The classical models a served deep model or blend must not fall below (DESIGN §7).
BASELINES = ("lightgbm", "logreg")


@dataclass(frozen=True)
class WorldSpec:
    """One world of the family: its structure preset, seed and size."""

    structure: str
    seed: int
    customers: int

    @property
    def name(self) -> str:
        return f"{self.structure}-s{self.seed}-{self.customers // 1000}k"

    def settings(self) -> WorldSettings:
        """The world's settings: the structure's preset, sized, with the new-message share of every world."""
        return WorldSettings(
            structure=self.structure,
            seed=self.seed,
            customers=self.customers,
            new_message_share=NEW_MESSAGE_SHARE,
        )


def world_specs(
    limit: int | None = None, smoke: bool = False, structures: tuple[str, ...] = STRUCTURES
) -> list[WorldSpec]:
    """The family in run order: seeds round-robin over structures, so a short run still spans structures."""
    specs = [
        WorldSpec(s, seed, SMOKE_CUSTOMERS if smoke else LARGE_CUSTOMERS if (s, seed) == LARGE_WORLD else CUSTOMERS)
        for seed in SEEDS
        for s in structures
    ]
    return specs[:limit] if limit else specs


def world_config(base: HeraldConfig, spec: WorldSpec, root: Path) -> HeraldConfig:
    """The benchmark's config for one world: its own home (warehouse, MLflow, Airflow), everything else as given."""
    return base.model_copy(update={"home": root / spec.name, "world": spec.settings(), "warehouse_path": None})


def run_world(base: HeraldConfig, spec: WorldSpec, root: Path) -> dict[str, Any]:
    """Build one world, run the training and scoring DAGs on it, value Herald's decisions and the peers."""
    from pipelines.flows.runner import migrate, run_dag
    from pipelines.synthetic import build_world

    cfg = world_config(base, spec, root)
    shutil.rmtree(cfg.home, ignore_errors=True)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    build_world(cfg, WORLD_NOW)
    migrate(cfg)
    timings["world_s"] = time.perf_counter() - clock
    for dag_id in ("herald_training", "herald_scoring"):
        clock = time.perf_counter()
        # A run for the world's date, standing at the instant the world was built (conf as_of wins).
        run_dag(cfg, dag_id, logical_date=WORLD_NOW.date(), conf={"as_of": WORLD_NOW.isoformat()})
        timings[f"{dag_id}_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    valued = policy_values(cfg, WORLD_NOW)
    timings["valuation_s"] = time.perf_counter() - clock
    return {
        "name": spec.name,
        "structure": spec.structure,
        "seed": spec.seed,
        "customers": spec.customers,
        **valued,
        **model_quality(cfg),
        "timings_s": timings,
    }


def model_quality(cfg: HeraldConfig) -> dict[str, Any]:
    """Test AUC of each model the training DAG fitted, normalised by the true probabilities' AUC on the same rows."""
    from sklearn.metrics import roc_auc_score

    from pipelines.synthetic import load_oracle
    from pipelines.tracking import read_run_summary
    from pipelines.training.evaluate import normalised_auc
    from pipelines.training.registry import current_champion

    summary = read_run_summary(cfg, "herald_training") or {}
    champion = current_champion(cfg)
    out: dict[str, Any] = {"champion": champion.estimator if champion else None}
    rows_path = cfg.runs_dir / _safe(summary.get("dag_run_id", "")) / "features" / "training_rows.parquet"
    if not rows_path.is_file():
        out["norm_auc"] = {"error": f"no training rows at {rows_path}"}
        return out
    rows = pd.read_parquet(rows_path, columns=["send_id", "label", "split"])
    test = rows[rows["split"] == "test"]
    truth = load_oracle(cfg.home / "world").send_truth.set_index("send_id")["p_true"]
    oracle = float(roc_auc_score(test["label"], truth.reindex(test["send_id"]).to_numpy()))
    aucs = {name: m.get("test_auc") for name, m in summary.get("models", {}).items()}
    out["oracle_auc"] = oracle
    out["auc"] = aucs
    out["norm_auc"] = {n: (normalised_auc(a, oracle) if a is not None else None) for n, a in aucs.items()}
    out["champion_vs_best_baseline"] = champion_vs_best_baseline(cfg, champion)
    return out


def champion_vs_best_baseline(cfg: HeraldConfig, champion: Any) -> dict[str, Any]:
    """The champion's test AUC minus the best baseline's, with the gate's paired 90% bootstrap interval.

    Read from the gate's ``gate/auc_comparison.json`` in the champion version's run (the reviewed
    fit against the run's other models on the newest block's rows). ``below_beyond_interval`` is
    True when the whole interval lies below 0 (DESIGN §7: never below beyond its interval).
    """
    import json

    from pipelines.tracking import connect
    from pipelines.training.gate_page import AUC_COMPARISON_ARTIFACT

    if champion is None:
        return {"error": "no champion"}
    client = connect(cfg)
    run_id = client.get_model_version(champion.name, champion.version).run_id
    try:
        comparison = json.loads(Path(client.download_artifacts(run_id, AUC_COMPARISON_ARTIFACT)).read_text())
    except Exception as exc:  # an older run without the artifact says so instead of a number
        return {"error": f"no {AUC_COMPARISON_ARTIFACT} in run {run_id}: {exc}"}
    return best_baseline_difference(comparison)


def best_baseline_difference(comparison: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """From a gate comparison: the challenger minus the baseline with the highest AUC, and its interval."""
    from pipelines.training.gate_page import THIS_RUN

    baselines = {
        name.removesuffix(THIS_RUN): row
        for name, row in comparison.items()
        if name.removesuffix(THIS_RUN) in BASELINES and row.get("diff") is not None
    }
    if not baselines:
        return {"error": f"no baseline in the gate's comparison ({sorted(comparison)})"}
    best = max(baselines, key=lambda name: baselines[name]["auc"])
    row = baselines[best]
    return {
        "baseline": best,
        "diff": row["diff"],
        "diff_low": row["diff_low"],
        "diff_high": row["diff_high"],
        "below_beyond_interval": bool(row["diff_high"] < 0),
    }


def _safe(run_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def summarise(worlds: list[dict[str, Any]]) -> dict[str, Any]:
    """Worst-case figures, the new-message ratios and each DESIGN §7 target as met / not met."""
    ok = [w for w in worlds if "error" not in w]
    if not ok:
        return {"error": "no world finished"}
    npv = pd.DataFrame([w["norm_policy_value"] for w in ok], index=[w["name"] for w in ok])
    worst_world = npv["herald"].idxmin()
    peers_below = npv[(npv["peer_logreg"] < npv["herald"]) & (npv["peer_lightgbm"] < npv["herald"])]
    ratios = pd.DataFrame([w["new_messages"] for w in ok], index=npv.index)
    return {
        "worst": {
            "norm_policy_value": {k: float(npv[k].min()) for k in npv.columns},
            "world": worst_world,
            "herald_minus_best_peer": float((npv["herald"] - npv[["peer_logreg", "peer_lightgbm"]].max(axis=1)).min()),
        },
        "mean": {"norm_policy_value": {k: float(npv[k].mean()) for k in npv.columns}},
        "new_messages": {
            "herald": float(ratios["herald"].mean()),
            "peer_lightgbm": float(ratios["peer_lightgbm"].mean()),
            "worst": {"herald": float(ratios["herald"].min()), "peer_lightgbm": float(ratios["peer_lightgbm"].min())},
            "note": "mean over worlds of (normalised value choosing among new messages) / (among seen messages)",
        },
        "targets": {
            "herald_above_both_peers_on_every_world": bool(
                (npv["herald"] > npv[["peer_logreg", "peer_lightgbm"]].max(axis=1)).all()
            ),
            "worst_herald_where_peers_below_ge_0_8": (
                bool(peers_below["herald"].min() >= 0.8) if len(peers_below) else None
            ),
            "new_message_ratio_ge_0_8_on_every_world": bool((ratios["herald"] >= 0.8).all()),
            "champion_never_below_best_baseline_beyond_interval": _never_below(ok),
        },
    }


def _never_below(worlds: list[dict[str, Any]]) -> bool | None:
    """True when no world's champion is below its best baseline beyond the interval; None if none was compared."""
    compared = [w["champion_vs_best_baseline"] for w in worlds if "diff_high" in w.get("champion_vs_best_baseline", {})]
    return not any(c["below_beyond_interval"] for c in compared) if compared else None


def run(cfg: HeraldConfig) -> dict[str, Any]:
    """Run the family (or the first HERALD_BENCH_WORLDS worlds), Hillstrom and Gerber; DESIGN §8 generalisation.json."""
    limit = int(os.environ.get("HERALD_BENCH_WORLDS", "0")) or None
    smoke = os.environ.get("HERALD_BENCH_SMOKE", "") not in ("", "0", "false")
    structures = tuple(os.environ.get("HERALD_BENCH_STRUCTURES", ",".join(STRUCTURES)).split(","))
    root = cfg.home / "generalisation"
    started = time.perf_counter()
    worlds: list[dict[str, Any]] = []
    for spec in world_specs(limit, smoke, structures):
        try:
            worlds.append(run_world(cfg, spec, root))
        except Exception as exc:  # one world that fails says why; the others still count
            worlds.append({"name": spec.name, "structure": spec.structure, "seed": spec.seed, "error": repr(exc)})
    if os.environ.get("HERALD_BENCH_REAL", "1") in ("0", "false"):
        real: dict[str, Any] = {"skipped": "HERALD_BENCH_REAL=0"}
    else:
        real = {
            "hillstrom": _guarded(hillstrom_through_dag, cfg, root, smoke),
            "gerber": _guarded(gerber_through_import, cfg, root, smoke),
        }
    return {
        "smoke": bool(limit or smoke),
        "family": {
            "structures": list(structures),
            "seeds": list(SEEDS),
            "customers": SMOKE_CUSTOMERS if smoke else CUSTOMERS,
            "large_world": None if smoke else {"world": list(LARGE_WORLD), "customers": LARGE_CUSTOMERS},
            "new_message_share": NEW_MESSAGE_SHARE,
            "worlds_run": len(worlds),
        },
        "worlds": worlds,
        **summarise(worlds),
        "real": real,
        "duration_s": time.perf_counter() - started,
        "note": (
            "V = mean true P(convert) of the chosen action over customers the rules leave open at scoring; "
            "normalised (V − V(random)) / (V(oracle) − V(random)); random = uniform over allowed actions incl. "
            "sending nothing; oracle = best allowed action by true uplift net of channel cost. herald = the "
            "decisions herald_scoring published (ε-greedy included); herald_greedy = the champion's greedy "
            "choice recomputed on the same candidates (diagnostic). Peers: bench/peers.py."
        ),
    }


def _guarded(fn: Any, *args: Any) -> dict[str, Any]:
    try:
        return fn(*args)
    except Exception as exc:  # a real experiment that cannot run says why instead of inventing numbers
        return {"error": f"{type(exc).__name__}: {exc}"}
