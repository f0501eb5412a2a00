"""Review material: per-group metrics ignore tiny groups, ablation blanks whole modalities."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.training.publish import model_card
from pipelines.training.review import Review, ablation, group_metrics


class _ScoresByColumn:
    """A stand-in estimator whose score is one numeric input column (missing = 0)."""

    name = "stub"

    def __init__(self, column: str) -> None:
        self.column = column

    def input_schema(self) -> dict[str, str]:
        return {self.column: "double", "rev_text": "string"}

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        return pd.to_numeric(rows[self.column], errors="coerce").fillna(0.0).to_numpy()


def _frame(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    return pd.DataFrame(
        {
            "evt_spend": score,
            "rev_text": ["nice"] * n,
            "gender": rng.choice(["F", "M"], n),
            "region": np.where(np.arange(n) < 30, "tiny", "big"),
            "label": (rng.random(n) < score * 0.3).astype(int),
        }
    )


def test_group_metrics_skip_groups_with_few_responders() -> None:
    frame = _frame()
    per, gap = group_metrics(frame, frame["evt_spend"].to_numpy(), ["gender", "region"])
    assert np.isnan(per["region"]["tiny"]["auc"]) and np.isfinite(per["region"]["big"]["auc"])
    assert 0 <= gap < 0.1  # same signal in both genders


def test_ablation_blanks_the_modality_inputs() -> None:
    frame = _frame()
    result = ablation(_ScoresByColumn("evt_spend"), frame, frame["label"].to_numpy())
    assert result["full"] > 0.6
    assert abs(result["event_aggregates"] - 0.5) < 1e-9  # the only signal column blanked


def test_model_card_names_excluded_attributes_and_metrics() -> None:
    card = model_card(
        name="m",
        version="3",
        estimator="deep",
        window={"feature_cutoff": "2026-01-01"},
        schema={"a": "double"},
        excluded=["gender", "age_band"],
        metrics={"deep": {"test_auc": 0.7}},
        champion={"version": "2", "auc": 0.69},
        review=Review(),
        validation="passed",
    )
    assert "gender, age_band" in card and "| deep | 0.7000" in card and "Champion v2" in card
