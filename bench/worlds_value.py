"""True policy values on one synthetic world: Herald's published decisions, the peers, random and the oracle.

Every policy is judged on the same customers (those the rules leave open at scoring) and the same
allowed candidates (active messages × consented channels × allowed hours, plus sending nothing),
with the world's true response (pipelines/synthetic load_oracle).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig

SUBSETS = ("all", "new", "seen")


def _table(cfg: HeraldConfig, name: str) -> pd.DataFrame:
    with duckdb.connect(str(cfg.duckdb_path), read_only=True) as con:
        return con.sql(f"SELECT * FROM {cfg.dataset}.{name}").df()


def greedy_choice(
    codes: np.ndarray, hold: np.ndarray, q: np.ndarray, cost: np.ndarray, allowed: np.ndarray, min_uplift: float
) -> np.ndarray:
    """Per customer code 0..k-1, the row with the best ``q`` uplift over its hold-out row net of ``cost``.

    Only rows in ``allowed`` compete; the hold-out row is chosen when no uplift reaches ``min_uplift``.
    Every customer must have exactly one hold-out row. Returns row positions, one per code.
    """
    k = int(codes.max()) + 1
    hold_row = np.full(k, -1)
    hold_row[codes[hold]] = np.flatnonzero(hold)
    net = np.where(hold | ~allowed, -np.inf, q - q[hold_row[codes]] - cost)
    order = np.lexsort((-net, codes))  # per code, the best net first
    first = order[np.searchsorted(codes[order], np.arange(k))]
    return np.where(net[first] >= min_uplift, first, hold_row)


def _value_block(
    codes: np.ndarray, hold: np.ndarray, truth: np.ndarray, cost: np.ndarray, allowed: np.ndarray
) -> dict[str, np.ndarray]:
    """Per customer: random (uniform over allowed rows incl. hold-out) and oracle (best true net) values."""
    k = int(codes.max()) + 1
    member = allowed | hold
    rand = np.bincount(codes[member], truth[member], k) / np.bincount(codes[member], minlength=k)
    oracle_row = greedy_choice(codes, hold, truth, cost, allowed, 0.0)
    return {"random": rand, "oracle": truth[oracle_row]}


def policy_values(cfg: HeraldConfig, now: datetime) -> dict[str, Any]:
    """Normalised policy values of Herald (published decisions and the champion's greedy choice) and the peers.

    Also the new-message benchmark: each policy restricted to messages never sent before scoring
    (plus sending nothing) vs restricted to messages seen in the log, as a ratio of normalised values.
    ``now`` is the instant the world was built at and its DAG runs stood for (tz-aware).
    """
    from bench.common import open_candidate_grids
    from bench.peers import action_rows, customer_features, fit_peers, message_features, training_rows
    from bench.policy import prepare_plan
    from pipelines.scoring.prepare import SCORING_ONLY_COLUMNS
    from pipelines.scoring.scorer import load_scorer
    from pipelines.synthetic import load_oracle
    from pipelines.tracking import read_run_summary
    from pipelines.training import features
    from pipelines.training.registry import load_champion

    oracle = load_oracle(cfg.home / "world")
    tables = {n: _table(cfg, n) for n in ("customers", "events", "messages", "sends", "reviews")}
    now = pd.Timestamp(now)
    cutoff = now - pd.Timedelta(days=cfg.label_window_days)
    rows, labels = training_rows(tables, cutoff, cfg.target)
    peers = fit_peers(rows, labels)
    cust_now = customer_features(tables, now)
    msg_feats = message_features(tables["messages"])
    seen = set(tables["sends"]["message_id"].dropna())

    scoring = read_run_summary(cfg, "herald_scoring") or {}
    decisions = _table(cfg, "decisions")
    decisions = decisions[decisions["run_id"] == scoring.get("dag_run_id", decisions["run_id"].max())]
    decided = decisions.set_index("customer_id")
    scorer = load_scorer(cfg, load_champion(cfg))

    plan = prepare_plan(cfg, "bench-generalisation", now.to_pydatetime())
    messages = pd.read_parquet(plan.messages_path)
    is_new_msg = ~messages["message_id"].isin(seen)
    policies = ("herald", "herald_greedy", *[p.name for p in peers])
    sums = {s: {p: 0.0 for p in (*policies, "random", "oracle")} for s in SUBSETS}
    n_open = 0
    for open_, grid in open_candidate_grids(cfg, plan, messages):
        recent = grid["recent_sends_7d"].to_numpy()
        codes, uniques = pd.factorize(grid["customer_id"])
        hold = grid["message_id"].isna().to_numpy()
        channels = grid["channel"].where(~hold, oracle.channels[0])  # ignored for hold-outs
        truth = oracle.p_convert(grid["customer_id"], grid["message_id"], channels, grid["send_hour"], recent)
        cost = np.where(hold, 0.0, grid["channel"].map(cfg.policy.channel_cost).fillna(0.0).to_numpy())
        profiles = open_.drop(columns=[c for c in SCORING_ONLY_COLUMNS if c in open_])
        q = {"herald_greedy": scorer(features.model_rows(grid, profiles, messages))}
        peer_rows = action_rows(grid, cust_now, msg_feats, recent)
        q.update({p.name: p.predict(peer_rows) for p in peers})
        new_row = grid["message_id"].isin(set(messages["message_id"][is_new_msg])).to_numpy()
        masks = {"all": ~hold, "new": new_row, "seen": ~hold & ~new_row}

        # Herald's published decision for each open customer, valued with the same truth.
        mine = decided.reindex(uniques)
        chosen_msg = mine["message_id"].where(mine["message_id"].notna(), None).to_numpy(object)
        sent = pd.notna(chosen_msg)
        herald_truth = oracle.p_convert(
            np.asarray(uniques),
            chosen_msg,
            np.where(sent, mine["channel"].fillna(oracle.channels[0]), oracle.channels[0]),
            np.where(sent, mine["send_hour"].fillna(0), 0).astype(int),
            open_.set_index("customer_id")["recent_sends_7d"].reindex(uniques).to_numpy(),
        )
        for subset, allowed in masks.items():
            if subset != "all" and not allowed.any():
                continue
            ref = _value_block(codes, hold, truth, cost, allowed)
            sums[subset]["random"] += ref["random"].sum()
            sums[subset]["oracle"] += ref["oracle"].sum()
            for name, scores in q.items():
                pick = greedy_choice(codes, hold, scores, cost, allowed, cfg.policy.min_uplift)
                sums[subset][name] += truth[pick].sum()
            if subset == "all":
                sums[subset]["herald"] += herald_truth.sum()
        n_open += len(uniques)
    values = {s: {k: v / max(n_open, 1) for k, v in d.items() if s == "all" or k != "herald"} for s, d in sums.items()}
    # Herald's published decisions choose among all messages, so only the "all" block values them.
    norm = {
        s: {p: _normalised(values[s][p], values[s]) for p in policies if s == "all" or p != "herald"} for s in SUBSETS
    }
    ratio = {
        p: norm["new"][p] / norm["seen"][p] if norm["seen"][p] and np.isfinite(norm["new"][p]) else float("nan")
        for p in policies
        if p != "herald"
    }
    return {
        "norm_policy_value": norm["all"],
        "values": values["all"],
        "open_customers": n_open,
        "messages": {"active": int(len(messages)), "new": int(is_new_msg.sum())},
        "new_messages": {"herald": ratio["herald_greedy"], "peer_lightgbm": ratio["peer_lightgbm"], "all": ratio},
        "new_vs_seen_norm_policy_value": {s: norm[s] for s in ("new", "seen")},
        "decisions_published": int(len(decisions)),
    }


def _normalised(value: float, block: dict[str, float]) -> float:
    spread = block["oracle"] - block["random"]
    return float((value - block["random"]) / spread) if spread > 0 else float("nan")
