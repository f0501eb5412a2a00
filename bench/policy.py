"""Policy value on the synthetic world (normalised against random and oracle) and off-policy estimates vs the truth."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig

POLICY_RUN = "bench-policy"


def ensure_champion(cfg: HeraldConfig) -> dict[str, Any]:
    """Build the world and train + promote a champion through the training DAG, unless they exist.

    Returns the champion (as a dict) and the path of the training rows it was tested on. The
    flows read their config from the environment, so ``cfg`` must be the environment's config.
    """
    from bench.quality import train_through_dag
    from pipelines.flows.runner import task_result
    from pipelines.training.registry import current_champion

    champion = current_champion(cfg) if cfg.duckdb_path.exists() else None
    if champion is None:
        train_through_dag(cfg)
        champion = current_champion(cfg)
        if champion is None:
            decision = task_result(cfg, "herald_training", "gate")
            fallback = task_result(cfg, "herald_training", "gate_fallback")
            reasons = decision["reasons"] + fallback.get("decision", {}).get("reasons", [])  # type: ignore[index,union-attr]
            raise RuntimeError(f"training did not promote a champion: {'; '.join(reasons)}")
    return {"champion": champion, "rows_path": str(latest_training_rows(cfg))}


def latest_training_rows(cfg: HeraldConfig) -> Path:
    paths = sorted(cfg.runs_dir.glob("*/features/training_rows.parquet"), key=lambda p: p.stat().st_mtime)
    if not paths:
        raise FileNotFoundError(f"no training rows under {cfg.runs_dir}")
    return paths[-1]


def prepare_plan(cfg: HeraldConfig, run_id: str, now: datetime | None = None) -> Any:
    """Extract and prepare a scoring run as of ``now`` (default: this moment; no validation: the
    benchmark measures scoring)."""
    from pipelines.scoring.prepare import prepare
    from pipelines.warehouse.extract import extract

    now = now or datetime.now(UTC)
    extracted = extract(cfg, run_id, "scoring", now)
    return prepare(cfg, run_id, extracted.paths, now)


def _true_p(oracle: Any, frame: pd.DataFrame) -> np.ndarray:
    channels = frame["channel"].where(frame["message_id"].notna(), oracle.channels[0])  # ignored for hold-outs
    return oracle.p_convert(
        frame["customer_id"], frame["message_id"], channels, frame["send_hour"], frame["recent_sends_7d"]
    )


def policy_values(cfg: HeraldConfig, plan: Any, scorer: Any, oracle: Any) -> dict[str, float]:
    """True values of greedy, ε-greedy, random and oracle policies over the customers the rules leave open.

    Customers blocked by rules get nothing under every policy, so they would add the same term to
    each value and are left out. ε-greedy is valued by its exact expectation, not one random draw.
    """
    from bench.common import open_candidate_grids
    from pipelines.policy.choice import exploration_rate, greedy_choice
    from pipelines.scoring.prepare import SCORING_ONLY_COLUMNS
    from pipelines.training import features

    messages = pd.read_parquet(plan.messages_path)
    eps = exploration_rate(cfg.policy)
    sums = {"greedy": 0.0, "explore": 0.0, "random": 0.0, "oracle": 0.0, "holdout": 0.0}
    n = 0
    for open_, grid in open_candidate_grids(cfg, plan, messages):
        profiles = open_.drop(columns=[c for c in SCORING_ONLY_COLUMNS if c in open_])
        grid["q"] = scorer(features.model_rows(grid, profiles, messages))
        grid["truth"] = _true_p(oracle, grid)
        hold = grid["message_id"].isna().to_numpy()
        cost = grid["channel"].map(cfg.policy.channel_cost).fillna(0.0).to_numpy()
        by = grid["customer_id"]
        q_hold = by.map(pd.Series(grid["q"].to_numpy()[hold], index=by[hold])).to_numpy()
        t_hold = by.map(pd.Series(grid["truth"].to_numpy()[hold], index=by[hold])).to_numpy()
        true_net = np.where(hold, 0.0, grid["truth"].to_numpy() - t_hold - cost)
        codes, customers = pd.factorize(by, sort=False)
        sends = np.flatnonzero(~hold)
        best = greedy_choice(
            grid["q"].to_numpy()[sends] - q_hold[sends], cost[sends], codes[sends], cfg.policy.min_uplift
        )
        best = np.r_[best, np.full(len(customers) - len(best), -1, dtype=np.int64)]
        greedy_idx = pd.Series(np.arange(len(customers)), index=customers)
        hold_idx = pd.Series(np.flatnonzero(hold), index=by[hold].to_numpy()).reindex(customers).to_numpy()
        chosen = np.where(best >= 0, sends[np.maximum(best, 0)], hold_idx)
        oracle_idx = pd.Series(true_net).groupby(by.to_numpy()).idxmax().reindex(greedy_idx.index).to_numpy()
        truth = grid["truth"].to_numpy()
        mean_truth = pd.Series(truth).groupby(by.to_numpy()).mean().reindex(greedy_idx.index).to_numpy()
        sums["greedy"] += truth[chosen].sum()
        sums["explore"] += ((1 - eps) * truth[chosen] + eps * mean_truth).sum()
        sums["random"] += mean_truth.sum()
        sums["oracle"] += truth[oracle_idx].sum()
        sums["holdout"] += truth[hold_idx].sum()
        n += len(greedy_idx)
    return {k: v / n for k, v in sums.items()} | {"customers": n}


def normalised(value: float, random: float, oracle: float) -> float:
    return float((value - random) / (oracle - random)) if oracle != random else float("nan")


def ope_against_truth(cfg: HeraldConfig, rows_path: str, scorer: Any, oracle: Any) -> dict[str, Any]:
    """OPE of the deployed ε-greedy policy on the champion's test split, next to its true value."""
    from pipelines.policy.ope_intervals import evaluate, on_policy_value
    from pipelines.policy.replay import replay_target_policy
    from pipelines.training.dataset import load_rows

    test = load_rows(rows_path, "test")
    replay = replay_target_policy(test, scorer, cfg.policy, max_rows=cfg.policy.ope_max_rows, seed=0)
    c = replay.candidates
    true_value = float((_true_p(oracle, c) * c["target_prob"]).groupby(c["context"]).sum().mean())
    estimates = evaluate(
        replay.bandit,
        cfg.policy.ope_bootstrap,
        cfg.policy.ope_confidence,
        seed=0,
        min_ess=cfg.policy.ope_min_effective_sample_size,
    )
    out: dict[str, Any] = {name: {**r, "true_value": true_value} for name, r in estimates.items()}
    out["logging"] = on_policy_value(replay.bandit.reward, cfg.policy.ope_bootstrap, cfg.policy.ope_confidence)
    out["n_rows"] = int(len(replay.bandit.reward))
    out["effective_sample_size"] = replay.bandit.effective_sample_size()
    return out


def run(cfg: HeraldConfig) -> dict[str, Any]:
    from bench.quality import fit_latent_scorer
    from pipelines.scoring.scorer import load_scorer
    from pipelines.synthetic import load_oracle

    prepared = ensure_champion(cfg)
    champion = prepared["champion"]
    scorer = load_scorer(cfg, champion)
    oracle = load_oracle(cfg.home / "world")
    plan = prepare_plan(cfg, POLICY_RUN)
    values = policy_values(cfg, plan, scorer, oracle)
    # Diagnostic: the same policy driven by LightGBM given the hidden traits (not observable in
    # production); it bounds what a model of the observed data could reach at this sample size.
    latent = policy_values(cfg, plan, fit_latent_scorer(cfg, prepared["rows_path"]), oracle)
    return {
        "norm_policy_value": {
            "greedy": normalised(values["greedy"], values["random"], values["oracle"]),
            "explore": normalised(values["explore"], values["random"], values["oracle"]),
        },
        "values": values,
        "diagnostics": {
            "greedy_norm_policy_value_lightgbm_on_true_latents": normalised(
                latent["greedy"], latent["random"], latent["oracle"]
            )
        },
        "ope": ope_against_truth(cfg, prepared["rows_path"], scorer, oracle),
        "model": {"name": champion.name, "version": champion.version, "estimator": champion.estimator},
        "note": (
            "V = mean true P(convert) of the chosen action over customers the rules leave open, as of now; "
            "random = uniform over allowed actions incl. sending nothing; oracle = best allowed action by true "
            "uplift net of channel cost; explore = exact expectation of the ε-greedy policy. OPE on the "
            "champion's test split (logged sends with logging propensities), true value from the oracle."
        ),
    }
