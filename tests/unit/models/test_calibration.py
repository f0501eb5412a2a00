"""Calibrated, blended and fixed-action response models: probabilities, delegation, pickling, the pyfunc."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from models.baselines import FixedActionResponse, action_keys
from models.calibration import BlendResponse, CalibratedResponse, Calibrator, stacking_weights
from models.preprocessing import TabularPreprocessor
from models.pyfunc import save_estimator


def _scores(n: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p_true = rng.uniform(0.01, 0.3, n)
    y = (rng.random(n) < p_true).astype(int)
    return np.clip(p_true * 2.5, 0, 0.99), y  # ranks right, probabilities 2.5x too high


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibrators_bring_scores_to_observed_rates(method: str) -> None:
    scores, y = _scores()
    calibrated = Calibrator(method).fit(scores, y).transform(scores)
    assert abs(calibrated.mean() - y.mean()) < 0.01 < abs(scores.mean() - y.mean())
    top = scores > np.quantile(scores, 0.9)
    assert abs(calibrated[top].mean() - y[top].mean()) < 0.03


def test_auto_takes_platt_on_few_responders_and_refuses_one_class() -> None:
    scores, y = _scores(2000)
    assert Calibrator("auto").fit(scores, y).chosen == "platt"
    with pytest.raises(ValueError, match="both responders"):
        Calibrator().fit(scores, np.zeros_like(y))


class _Tower:
    name = "deep"

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        return np.full(len(rows), 0.4)

    def input_schema(self) -> dict[str, str]:
        return {"x": "double"}

    def customer_embeddings(self, rows: pd.DataFrame) -> np.ndarray:
        return np.ones((len(rows), 2))


def test_the_wrapper_serves_calibrated_probabilities_and_keeps_the_models_abilities(tmp_path: Path) -> None:
    scores, y = _scores()
    wrapped = CalibratedResponse(_Tower(), Calibrator("platt").fit(scores, y))
    rows = pd.DataFrame({"x": [1.0, 2.0]})
    assert wrapped.name == "deep" and wrapped.input_schema() == {"x": "double"}
    assert hasattr(wrapped, "customer_embeddings") and wrapped.customer_embeddings(rows).shape == (2, 2)
    assert not hasattr(wrapped, "modality_attributions")
    loaded = joblib.load(save_estimator(wrapped, tmp_path / "m.joblib"))
    np.testing.assert_allclose(loaded.predict_proba(rows), wrapped.predict_proba(rows))
    assert loaded.predict_proba(rows)[0] < 0.4  # 0.4 is 2.5x too high here: calibration lowers it


def test_a_blend_averages_logits_and_speaks_through_its_first_member() -> None:
    class Other(_Tower):
        name = "lightgbm"

        def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
            return np.full(len(rows), 0.1)

    blend = BlendResponse([_Tower(), Other()])
    p = blend.predict_proba(pd.DataFrame({"x": [0.0]}))[0]
    assert p == pytest.approx(1 / (1 + np.exp(-(np.log(0.4 / 0.6) + np.log(0.1 / 0.9)) / 2)))
    assert hasattr(blend, "customer_embeddings")


def _members(n: int = 8000, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a member that knows the true rate, a weaker one that knows half of it, and pure noise."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(a + b - 2)))).astype(int)
    strong = 1 / (1 + np.exp(-(a + b - 2)))
    weak = 1 / (1 + np.exp(-(a - 2)))
    noise = 1 / (1 + np.exp(-rng.normal(-2, 1, n)))
    return y, strong, weak, noise


def test_stacking_weighs_a_member_that_adds_nothing_at_zero() -> None:
    y, strong, _, noise = _members()
    weights = stacking_weights([noise, strong], y)
    assert sum(weights) == pytest.approx(1.0)
    assert weights[0] < 0.05 < 0.95 < weights[1]
    blended = BlendResponse.combine([noise, strong], weights)
    assert _auc(y, blended) >= _auc(y, strong) - 0.002 > _auc(y, BlendResponse.combine([noise, strong], [1, 1]))


def test_stacking_keeps_both_members_that_each_know_something() -> None:
    y, strong, weak, _ = _members()
    rng = np.random.default_rng(2)
    other = 1 / (1 + np.exp(-(_logit(strong) - _logit(weak) + rng.normal(0, 0.3, len(y)) - 2)))  # knows b only
    weights = stacking_weights([weak, other], y)
    assert min(weights) > 0.3
    assert _auc(y, BlendResponse.combine([weak, other], weights)) > max(_auc(y, weak), _auc(y, other)) + 0.02


def test_stacking_falls_back_to_equal_weights_and_names_bad_lengths() -> None:
    _, strong, weak, _ = _members(200)
    assert stacking_weights([strong, weak], np.zeros(200)) == [0.5, 0.5]  # one class: nothing to learn
    with pytest.raises(ValueError, match="199 labels"):
        stacking_weights([strong, weak], np.zeros(199))


def test_the_fixed_action_model_predicts_each_actions_smoothed_logged_rate() -> None:
    rows = pd.DataFrame(
        {
            "message_id": ["m1"] * 100 + ["m2"] * 100 + [None] * 50,
            "channel": ["email"] * 200 + ["none"] * 50,
            "x": np.arange(250.0),
            "label": [1] * 30 + [0] * 70 + [1] * 5 + [0] * 95 + [1] * 1 + [0] * 49,
        }
    )
    model = FixedActionResponse(TabularPreprocessor.fit(rows)).fit(rows)
    p = model.predict_proba(rows)
    overall = 36 / 250
    assert p[0] == pytest.approx((30 + 20 * overall) / 120) and p[0] > p[150] > p[-1] * 0  # m1 > m2
    assert model.best_action() == "m1|email"
    assert list(action_keys(rows.iloc[[0, -1]])) == ["m1|email", "holdout"]
    unseen = pd.DataFrame({"message_id": ["m9"], "channel": ["sms"], "x": [1.0]})
    assert model.predict_proba(unseen)[0] == pytest.approx(overall)
    assert {"message_id", "channel"} <= set(model.input_schema())


def test_lightgbm_without_validation_rows_boosts_the_given_rounds() -> None:
    from models.baselines import LightGBMResponse

    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"x": rng.normal(size=400), "label": rng.integers(0, 2, 400)})
    prep = TabularPreprocessor.fit(rows)
    model = LightGBMResponse(prep, rounds=7).fit(rows)
    assert model.booster.current_iteration() == 7 and model.best_iterations is None
    stopped = LightGBMResponse(prep).fit(rows.iloc[:300], rows.iloc[300:])
    assert stopped.best_iterations is not None and stopped.best_iterations <= 600


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))
