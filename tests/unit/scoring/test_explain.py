"""Decision traces keep each customer's five best candidates compactly; the explanation marks the chosen one."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pipelines.scoring.explain import decision_traces, render_explanation


def test_traces_keep_the_top_five_by_net_uplift_per_customer() -> None:
    rng = np.random.default_rng(0)
    scored = pd.DataFrame(
        {
            "customer_id": np.repeat(["a", "b"], 12),
            "message_id": [f"m{i}" for i in range(12)] * 2,
            "channel": ["email", "push", "sms"] * 8,
            "send_hour": [8, 12] * 12,
            "p_response": rng.random(24) / 10,
        }
    )
    scored["uplift"] = scored["p_response"] - 0.02
    scored["net"] = scored["uplift"] - 0.001
    traces = decision_traces(scored, pd.Series({"a": 0.02, "b": 0.03}))
    assert sorted(traces["customer_id"]) == ["a", "b"]
    a = json.loads(traces.set_index("customer_id").loc["a", "trace_json"])
    best = scored[scored["customer_id"] == "a"].nlargest(5, "net")
    assert [c[0] for c in a["top"]] == best["message_id"].tolist()
    assert a["candidates_scored"] == 12 and a["holdout_p"] == 0.02
    assert len(traces.loc[0, "trace_json"]) < 600  # compact: a few hundred bytes per customer

    top = a["top"][0]
    explained = {
        "decision": {
            "customer_id": "a",
            "run_id": "r1",
            "decided_at": "2026-03-01T00:00:00+00:00",
            "message_id": top[0],
            "channel": top[1],
            "send_hour": top[2],
            "policy": "exploit",
            "propensity": 0.95,
            "p_response": top[3],
            "uplift": top[4],
            "reason": None,
            "model_name": "herald-response",
            "model_version": "3",
        },
        "trace": a,
        "model": {"estimator": "deep", "test_auc": "0.7100"},
        "validation": "passed (rows kept: customers 400/400)",
    }
    text = render_explanation(explained)
    assert "herald-response version 3" in text and "estimator deep" in text
    assert text.count("<- chosen") == 1 and "passed (rows kept" in text
