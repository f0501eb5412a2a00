"""Off-policy evaluation on the synthetic world: the oracle's true value of the policy lies in the intervals."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from pipelines.policy.ope_intervals import evaluate
from pipelines.policy.replay import evaluate_policy_offline, replay_target_policy
from pipelines.synthetic import load_oracle
from tests.unit.scoring.conftest import TinyWorld


@pytest.fixture(scope="module")
def logged(tiny_world: TinyWorld) -> pd.DataFrame:
    from pipelines.training.dataset import build_features, load_rows
    from pipelines.warehouse.extract import extract

    cfg = tiny_world.cfg
    extracted = extract(cfg, "ope-train", "training", tiny_world.as_of)
    cutoff = tiny_world.as_of - timedelta(days=cfg.label_window_days)
    ts = build_features(cfg, "ope-train", extracted.paths, cutoff, tiny_world.as_of)
    return load_rows(ts.rows_path)


def test_true_value_lies_in_the_intervals_in_most_seeds(tiny_world: TinyWorld, logged: pd.DataFrame) -> None:
    oracle = load_oracle(tiny_world.cfg.home / "world")
    p_true = oracle.send_truth.set_index("send_id")["p_true"]

    def model(rows: pd.DataFrame) -> np.ndarray:
        # A deliberately miscalibrated reward model built on the truth: DR must correct it.
        p = oracle.p_convert(
            rows["customer_id"],
            rows["message_id"],
            rows["channel"].where(rows["message_id"].notna(), "email"),
            rows["send_hour"],
            rows["recent_sends_7d"],
        )
        return 0.8 * p

    settings = tiny_world.cfg.policy
    # The tiny world has a fixed date and seed, so the logged contexts are the same on every run; only
    # the outcomes are redrawn. With 10 draws, a 90% interval covers at least 6 times unless it is
    # badly under-covering (for a true 90%, fewer than 6 happens with probability ~0.2%).
    seeds = range(10)
    hits = {"ips": 0, "ips_clip": 0, "snips": 0, "dr": 0, "dr_os": 0}
    for seed in seeds:
        rows = logged.copy()
        # Fresh outcomes per seed, drawn from the world's true probabilities of the logged actions.
        rows["label"] = (np.random.default_rng(seed).random(len(rows)) < rows["send_id"].map(p_true)).astype(int)
        replay = replay_target_policy(rows, model, settings, max_rows=1500, seed=seed)
        c = replay.candidates
        truth = oracle.p_convert(
            c["customer_id"],
            c["message_id"],
            c["channel"].where(c["message_id"].notna(), "email"),
            c["send_hour"],
            c["recent_sends_7d"],
        )
        true_value = float((truth * c["target_prob"]).groupby(c["context"]).sum().mean())
        for name, r in evaluate(replay.bandit, n_boot=200, confidence=0.9, seed=seed).items():
            hits[name] += r["ci_low"] <= true_value <= r["ci_high"]
    # DR is the estimator the gate and model card lead with: it must cover like a 90% interval.
    # IPS and SNIPS rest on the few rows where the logged action matches the target's (effective
    # sample ~10-20 here), where even BCa intervals under-cover somewhat (about 80% measured over 40 seeds).
    required = {"dr": 6, "dr_os": 6, "ips": 4, "ips_clip": 4, "snips": 4}
    for name, hit in hits.items():
        assert hit >= required[name], f"{name} covered the true value in {hit} of {len(seeds)} seeds"


def test_offline_evaluation_reports_policy_against_logging(tiny_world: TinyWorld, logged: pd.DataFrame) -> None:
    test_rows = logged[logged["split"] == "test"]
    settings = tiny_world.cfg.policy.model_copy(update={"ope_bootstrap": 50})
    out = evaluate_policy_offline(test_rows, lambda r: np.full(len(r), 0.04) + 0.01 * r["message_id"].notna(), settings)
    assert out["n_rows"] == min(len(test_rows), settings.ope_max_rows)
    assert set(out["policy"]) == {"ips", "ips_clip", "snips", "dr", "dr_os"}
    for r in (*out["policy"].values(), out["logging"], out["improvement"]):
        if str(r.get("status", "ok")).startswith("not computed"):
            assert np.isnan(r["estimate"]) and "effective sample size" in r["status"]
        else:
            assert r["ci_low"] <= r["estimate"] <= r["ci_high"]
    assert out["effective_sample_size"] > 0 and isinstance(out["reliable"], bool)
    assert out["excluded"] == {"null": 0, "non_positive": 0, "above_one": 0}
    assert 0.0 <= out["unlogged_actions"]["share"] <= 1.0


def test_target_policy_only_sends_messages_live_on_the_logged_day(tiny_world: TinyWorld, logged: pd.DataFrame) -> None:
    # The logging policy could only send live messages; an action it could never take has no
    # logged support, so the replayed target policy must not put probability on it either.
    rows = logged[logged["split"] == "test"]
    replay = replay_target_policy(rows, lambda r: np.full(len(r), 0.05), tiny_world.cfg.policy, max_rows=300)
    sent = replay.candidates.dropna(subset=["message_id"])
    day = replay.contexts["send_id"].map(rows.set_index("send_id")["sent_at"])
    sent_day = pd.to_datetime(day.to_numpy()[sent["context"].to_numpy()], utc=True).tz_localize(None).normalize()
    window = rows.drop_duplicates("message_id").set_index("message_id")[["msg_active_from", "msg_active_to"]]
    live_from = pd.to_datetime(sent["message_id"].map(window["msg_active_from"]).to_numpy())
    live_to = pd.to_datetime(sent["message_id"].map(window["msg_active_to"]).to_numpy())
    assert len(sent) > 0
    assert ((live_from <= sent_day) & (sent_day <= live_to)).all()
    # Some message of the catalogue was not live on some logged day: the test has something to check.
    assert sent.groupby("context")["message_id"].nunique().min() < window.shape[0]
