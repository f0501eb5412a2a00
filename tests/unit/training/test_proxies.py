"""Proxies: the input built from a protected attribute tops its list; an unrelated one scores near zero."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.training.proxies import cramers_v, proxy_inputs, proxy_section


def test_proxies_rank_the_leaking_inputs_first() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    gender = rng.choice(["F", "M"], n)
    rows = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "gender": gender,
            # 90% aligned with gender: a proxy; spend shifted by gender; region independent.
            "favourite": np.where(rng.random(n) < 0.9, np.where(gender == "F", "beauty", "sports"), "home"),
            "evt_spend": rng.normal(50, 10, n) + np.where(gender == "F", 15, 0),
            "region": rng.choice(["uk", "de", "fr"], n),
            "channel": rng.choice(["email", "sms"], n),
        }
    )
    schema = {"favourite": "string", "region": "string", "channel": "string", "evt_spend": "double"}
    proxies = proxy_inputs(rows, ["gender", "age_band"], schema, top_k=3)
    assert list(proxies) == ["gender"]  # age_band absent from the rows
    ranked = dict(proxies["gender"])
    assert [c for c, _ in proxies["gender"]][:2] == ["favourite", "evt_spend"]
    assert ranked["favourite"] > 0.7 and ranked["region"] < 0.05
    assert "channel" not in ranked  # an action, not the person
    card = proxy_section(proxies, [], threshold=0.3)
    assert "favourite" in card and "(proxy)" in card and "Protected attributes used as inputs: none" in card


def test_cramers_v_is_zero_for_independent_and_one_for_identical() -> None:
    x = pd.Series(["a", "b"] * 500)
    assert cramers_v(x, x) > 0.99
    assert cramers_v(x, pd.Series(["u"] * 250 + ["v"] * 250 + ["u"] * 250 + ["v"] * 250)) < 0.05
