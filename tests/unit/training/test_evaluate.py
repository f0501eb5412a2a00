"""Quality figures and the reviewer's plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.training.evaluate import expected_calibration_error, normalised_auc, response_metrics, save_quality_plots


def test_metrics_of_a_calibrated_model_and_the_normalised_auc() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.3, 20_000)
    y = (rng.random(len(p)) < p).astype(int)
    metrics = response_metrics(y, p)
    assert 0.6 < metrics["auc"] < 0.8 and metrics["ece"] < 0.01
    assert expected_calibration_error(y, np.clip(p * 2, 0, 1)) > 0.05  # twice too high is miscalibrated
    assert normalised_auc(0.65, 0.75) == pytest.approx(0.6)
    assert np.isnan(response_metrics(np.zeros(5), np.full(5, 0.1))["auc"])


def test_quality_plots_draw_the_reviewed_model_beside_the_others(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    y = (rng.random(3000) < 0.1).astype(int)
    predictions = {
        "deep": np.clip(0.1 + 0.2 * y + rng.normal(0, 0.1, 3000), 0.001, 0.999),
        "lightgbm": rng.uniform(0.0, 0.3, 3000),
    }
    paths = save_quality_plots(y, predictions, tmp_path / "plots", "deep on the test split")
    # One readable chart per file, not a strip of five panels.
    assert [p.stem for p in paths] == ["roc", "precision_recall", "calibration", "cumulative_gain", "lift_by_decile"]
    for path in paths:
        with Image.open(path) as image:
            assert image.size == (800, 600)
