"""Drift tests as pure functions: calibrated false alarms, power, missing shares, NULL columns, no self-comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.monitoring.drift_report import same_window
from pipelines.monitoring.drift_tests import drift_tests, drifted_columns, holm


def frame(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "spend": rng.lognormal(3 + shift, 1, n),
            "count": rng.poisson(2, n),
            "segment": rng.choice(list("abcde"), n, p=[0.4, 0.3, 0.15, 0.1, 0.05]),
            "flag": rng.random(n) < 0.2,
        }
    )


def test_no_change_alarms_at_most_at_the_configured_level_even_with_35_rows() -> None:
    # The case: reference 400 rows, current 35 from the same distribution.
    rng = np.random.default_rng(0)
    alarms = 0
    for _ in range(40):
        tests, _ = drift_tests(frame(400, rng), frame(35, rng), ["spend", "count", "segment", "flag"], permutations=199)
        alarms += bool(drifted_columns(tests))
    assert alarms <= 6  # 5% of 40 is 2; 6 or more would happen with probability < 1% at a true 5%


def test_a_real_shift_is_found_and_ranked_first() -> None:
    rng = np.random.default_rng(1)
    tests, _ = drift_tests(frame(400, rng), frame(400, rng, shift=0.5), ["spend", "count", "segment"])
    assert drifted_columns(tests) == ["spend"]
    assert tests[0].column == "spend" and tests[0].drifted and tests[0].method == "ks"


def test_missing_share_change_and_an_all_null_column_count_as_drift() -> None:
    rng = np.random.default_rng(2)
    ref, cur = frame(300, rng), frame(300, rng)
    cur.loc[: len(cur) // 2, "spend"] = np.nan  # half the values go missing
    cur["count"] = np.nan  # the column becomes entirely NULL
    tests, notes = drift_tests(ref, cur, ["spend", "count", "segment"], permutations=199)
    assert drifted_columns(tests) == ["count", "spend"]
    null = next(t for t in tests if t.column == "count" and t.kind == "missing")
    assert null.note == "became entirely NULL" and null.drifted
    assert any("count" in n for n in notes)  # its values could not be tested: said, not hidden


def test_results_ignore_row_order_and_repeat() -> None:
    rng = np.random.default_rng(3)
    ref, cur = frame(200, rng), frame(50, rng, shift=0.3)
    first, _ = drift_tests(ref, cur, list(ref.columns), permutations=199)
    again, _ = drift_tests(ref.sample(frac=1, random_state=1), cur.iloc[::-1], list(ref.columns), permutations=199)
    assert [t.to_dict() for t in first] == [t.to_dict() for t in again]


def test_constant_columns_do_not_alarm() -> None:
    ref = pd.DataFrame({"x": np.ones(100), "c": ["a"] * 100})
    tests, _ = drift_tests(ref, ref.head(40).copy(), ["x", "c"])
    assert not drifted_columns(tests)


def test_identical_windows_are_never_compared() -> None:
    rng = np.random.default_rng(4)
    a = frame(100, rng)
    same = {"reference": "customer features as of 2025-06-01T00:00:00+00:00"}
    assert "same window" in same_window({**same, "current": same["reference"]}, a, frame(100, rng))
    assert "identical rows" in same_window({"reference": "x", "current": "y"}, a, a.iloc[::-1].copy())
    assert same_window({"reference": "x", "current": "y"}, a, frame(100, rng)) is None


def test_holm_adjustment() -> None:
    assert holm(np.array([0.01, 0.04, 0.03])).tolist() == [0.03, 0.06, 0.06]
