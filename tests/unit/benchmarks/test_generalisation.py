"""The generalisation benchmark's pure parts: the family, the greedy choice, the peers' features, the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.generalisation import LARGE_CUSTOMERS, STRUCTURES, best_baseline_difference, summarise, world_specs
from bench.peers import action_rows, customer_features, message_features
from bench.worlds_value import greedy_choice


def test_the_family_has_at_least_four_structures_by_three_seeds_and_one_larger_world() -> None:
    specs = world_specs()
    assert len(specs) >= 12 and len({s.structure for s in specs}) >= 4 and len({s.seed for s in specs}) >= 3
    assert [s.customers for s in specs].count(LARGE_CUSTOMERS) == 1
    assert len({s.name for s in specs}) == len(specs)
    # A short run still spans structures, and every world gets the same new-message share.
    assert [s.structure for s in world_specs(limit=len(STRUCTURES))] == list(STRUCTURES)
    assert {s.settings().new_message_share for s in specs} == {0.25}
    assert all(s.customers == 2_000 for s in world_specs(smoke=True))


def test_greedy_choice_takes_the_best_net_uplift_or_nothing() -> None:
    codes = np.array([0, 0, 0, 1, 1, 1])
    hold = np.array([True, False, False, True, False, False])
    q = np.array([0.10, 0.12, 0.15, 0.20, 0.201, 0.19])
    cost = np.array([0.0, 0.0, 0.04, 0.0, 0.0, 0.0])
    allowed = ~hold
    # Customer 0: row 2 has the larger q but its cost leaves 0.01 < 0.02 of row 1; customer 1: nothing clears 0.002.
    assert greedy_choice(codes, hold, q, cost, allowed, 0.002).tolist() == [1, 3]
    # Only rows in ``allowed`` compete.
    assert greedy_choice(codes, hold, q, cost, np.array([False, False, True, False, False, True]), 0.0).tolist() == [
        2,
        3,
    ]


def _tables() -> dict[str, pd.DataFrame]:
    now = pd.Timestamp("2026-03-01", tz="UTC")
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "signup_date": [pd.Timestamp("2025-01-01").date()] * 2,
            "birth_year": pd.array([1990, None], dtype="Int64"),
            "gender": ["F", None],
            "region": ["uk", "de"],
            "loyalty_tier": ["gold", "none"],
            "consent_email": [True, False],
            "consent_push": [True, True],
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "event_ts": [now - pd.Timedelta(days=d) for d in (1, 2, 90)] + [now - pd.Timedelta(days=3)],
            "event_type": ["view", "purchase", "view", "app_open"],
            "product_category": ["shoes", "shoes", "home", None],
            "amount": [np.nan, 80.0, np.nan, np.nan],
            "device": ["web", "web", "web", "app"],
        }
    )
    messages = pd.DataFrame(
        {
            "message_id": ["m1", "m2"],
            "product_category": ["shoes", None],
            "offer_type": ["discount", "content"],
            "discount_pct": [20.0, np.nan],
        }
    )
    reviews = pd.DataFrame({"customer_id": ["a"], "created_at": [now - pd.Timedelta(days=5)], "rating": [5]})
    return {"customers": customers, "events": events, "messages": messages, "reviews": reviews}, now


def test_peer_features_use_the_lookback_only_and_know_new_messages_by_attributes() -> None:
    tables, now = _tables()
    cust = customer_features(tables, now, lookback_days=60)
    assert cust.loc["a", "n_view"] == 1 and cust.loc["a", "spend"] == 80.0  # the 90-day-old view is out
    assert cust.loc["a", "share_shoes"] == 1.0 and cust.loc["b", "share_shoes"] == 1 / 6
    actions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "message_id": ["m1", None, "m2"],
            "channel": ["email", "none", "push"],
            "send_hour": [8, 8, 20],
        }
    )
    rows = action_rows(actions, cust, message_features(tables["messages"]), np.array([1, 0, 2]))
    assert rows["category_match"].tolist() == [1.0, 0.0, 1 / 6]
    assert rows["is_holdout"].tolist() == [0.0, 1.0, 0.0]
    assert rows["m_category"].tolist() == ["shoes", "none", "unknown"]
    assert rows["channel_consented"].tolist() == [1.0, 0.0, 1.0]


def test_summary_flags_each_target_as_measured() -> None:
    worlds = [
        {
            "name": "w1",
            "norm_policy_value": {"herald": 0.9, "peer_logreg": 0.5, "peer_lightgbm": 0.6},
            "new_messages": {"herald": 0.85, "peer_lightgbm": 0.5},
            "champion_vs_best_baseline": {
                "diff": -0.01,
                "diff_low": -0.03,
                "diff_high": 0.01,
                "below_beyond_interval": False,
            },
        },
        {
            "name": "w2",
            "norm_policy_value": {"herald": 0.3, "peer_logreg": 0.4, "peer_lightgbm": 0.2},
            "new_messages": {"herald": 0.7, "peer_lightgbm": 0.9},
            "champion_vs_best_baseline": {"error": "no champion"},
        },
        {"name": "w3", "error": "boom"},
    ]
    out = summarise(worlds)
    assert out["worst"]["world"] == "w2" and out["worst"]["norm_policy_value"]["herald"] == 0.3
    assert out["targets"] == {
        "herald_above_both_peers_on_every_world": False,
        "worst_herald_where_peers_below_ge_0_8": True,
        "new_message_ratio_ge_0_8_on_every_world": False,
        "champion_never_below_best_baseline_beyond_interval": True,
    }
    worlds[1]["champion_vs_best_baseline"] = {
        "diff": -0.02,
        "diff_low": -0.04,
        "diff_high": -0.001,
        "below_beyond_interval": True,
    }
    assert summarise(worlds)["targets"]["champion_never_below_best_baseline_beyond_interval"] is False
    for world in worlds[:2]:
        world["champion_vs_best_baseline"] = {"error": "no champion"}
    assert summarise(worlds)["targets"]["champion_never_below_best_baseline_beyond_interval"] is None


def test_the_champion_is_compared_with_the_baseline_of_highest_auc() -> None:
    row = {"auc_low": 0.6, "auc_high": 0.7}
    comparison = {
        "blend v1 (challenger)": {"auc": 0.66, **row},
        "deep (this run)": {"auc": 0.69, "diff": -0.03, "diff_low": -0.05, "diff_high": -0.01, **row},
        "lightgbm (this run)": {"auc": 0.67, "diff": -0.01, "diff_low": -0.02, "diff_high": 0.004, **row},
        "logreg (this run)": {"auc": 0.64, "diff": 0.02, "diff_low": 0.01, "diff_high": 0.03, **row},
    }
    out = best_baseline_difference(comparison)  # deep is not a baseline, however high its AUC
    assert out == {
        "baseline": "lightgbm",
        "diff": -0.01,
        "diff_low": -0.02,
        "diff_high": 0.004,
        "below_beyond_interval": False,
    }
    comparison["lightgbm (this run)"]["diff_high"] = -0.001
    assert best_baseline_difference(comparison)["below_beyond_interval"] is True
    assert "error" in best_baseline_difference({"blend v1 (challenger)": comparison["blend v1 (challenger)"]})
