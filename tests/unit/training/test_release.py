"""Which trained model is registered as challenger, and which baseline is gated when it is refused."""

from __future__ import annotations

import pytest

from pipelines.training.release import pick_challenger, pick_fallback


def _trained(**valid_aucs: float) -> list[dict]:
    return [{"name": name, "metrics": {"valid_auc": auc, "test_auc": 0.5}} for name, auc in valid_aucs.items()]


def test_the_deep_model_is_the_challenger_even_when_a_baseline_validates_better() -> None:
    trained = _trained(logreg=0.66, lightgbm=0.70, deep=0.68)
    assert pick_challenger(trained)["name"] == "deep"
    assert pick_fallback(trained, "deep")["name"] == "lightgbm"


def test_without_a_deep_model_the_best_baseline_is_challenger_and_there_is_no_fallback() -> None:
    trained = _trained(logreg=0.71, lightgbm=0.70)
    assert pick_challenger(trained)["name"] == "logreg"
    assert pick_fallback(trained, "logreg") is None


def test_a_run_that_trained_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no trained model"):
        pick_challenger([])
