"""The decisions report: plain-words counts, the randomized control apart from rule no-sends, realised lift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.scoring.report import plain_summary, realised_lift, render_decisions_report, summarize_decisions


def _decisions(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kind = rng.choice(["sent", "below", "consent", "control"], size=n, p=[0.5, 0.25, 0.15, 0.1])
    sent = kind == "sent"
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "message_id": np.where(sent, rng.choice(["m1", "m2"], n), None),
            "channel": np.where(sent, rng.choice(["email", "push"], n), None),
            "send_hour": np.where(sent, rng.choice([8, 18], n), None),
            "uplift": np.where(sent, 0.02, 0.0),
            "p_response": 0.05,
            "propensity": 0.9,
            "policy": np.select([kind == "consent", kind == "control"], ["rule", "control"], "exploit"),
            "reason": np.select(
                [kind == "below", kind == "consent", kind == "control"],
                ["below_threshold", "no_consent", "randomized_control"],
                None,
            ),
            "decided_at": pd.Timestamp("2026-11-01T06:00", tz="UTC"),
            "model_name": "herald-response",
            "model_version": "1",
        }
    )


def test_counts_in_plain_words_keep_the_randomized_control_apart() -> None:
    d = _decisions()
    s = summarize_decisions(d)
    assert s["sent"] + s["no_message"] == len(d)
    assert s["control"] == int((d["policy"] == "control").sum())
    assert {r["reason"] for r in s["reasons"]} == {"below_threshold", "no_consent"}  # control is not a "reason"
    text = plain_summary(s)
    assert f"no message: {s['no_message']:,} (predicted uplift below the threshold" in text
    assert f"randomized control {s['control']:,}" in text and "{" not in text


def test_realised_lift_compares_treated_with_the_randomized_control_and_has_an_interval(tmp_path: Path) -> None:
    d = _decisions(4000, seed=1)
    rng = np.random.default_rng(2)
    treated = d["message_id"].notna().to_numpy()
    d["label"] = (rng.random(len(d)) < np.where(treated, 0.08, 0.04)).astype(int)
    lift = realised_lift(d)
    assert lift is not None
    assert lift["lift_low"] < 0.04 < lift["lift_high"]  # the true lift is inside the interval
    assert lift["lift_low"] > 0  # and 2000 vs 400 customers tell it from zero
    messages = pd.DataFrame({"message_id": ["m1", "m2"], "title": ["Spring sale", "New arrivals"]})
    path, figures = render_decisions_report(d, messages, tmp_path, run_id="scheduled__x", matched=d)
    html = path.read_text()
    assert "Realised lift vs control" in html and "Spring sale" in html and "randomized control group" in html
    assert (tmp_path / "volume_by_hour.png").is_file() and (tmp_path / "realised_lift.png").is_file()
    assert figures["realised"]["lift"] == lift["lift"]


def test_without_outcomes_the_report_says_they_have_not_arrived(tmp_path: Path) -> None:
    path, figures = render_decisions_report(_decisions(), pd.DataFrame(columns=["message_id"]), tmp_path, run_id="r")
    assert figures["realised"] is None and "No outcomes yet" in path.read_text()
