"""The registered pyfunc scores rows as a warehouse query returns them (issue: int64 / float send_hour)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.baselines import LogisticResponse
from models.preprocessing import TabularPreprocessor
from models.pyfunc import ESTIMATOR_ARTIFACT, HeraldResponsePyfunc, save_estimator, signature_for, to_model_input


def _training_rows(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    hour = rng.choice([8, 9, 18], n)
    count = rng.integers(0, 5, n)
    return pd.DataFrame(
        {
            "send_hour": hour.astype(str),  # a category in training, as the features write it
            "recent_sends_7d": count.astype(float),
            "channel": rng.choice(["email", "push"], n),
            "label": (rng.random(n) < np.where(hour == 9, 0.5, 0.05)).astype(int),
        }
    )


def test_casting_rules() -> None:
    schema = {"send_hour": "string", "recent_sends_7d": "double"}
    raw = pd.DataFrame(
        {
            "send_hour": pd.array([9, None, 18], dtype="Int64"),
            "recent_sends_7d": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    out = to_model_input(raw, schema)
    assert out["send_hour"].tolist() == ["9", None, "18"]
    assert out["recent_sends_7d"].tolist()[0] == 1.0 and np.isnan(out["recent_sends_7d"].tolist()[1])
    floats = to_model_input(pd.DataFrame({"send_hour": [9.0, 9.5], "recent_sends_7d": [True, False]}), schema)
    assert floats["send_hour"].tolist() == ["9", "9.5"] and floats["recent_sends_7d"].tolist() == [1.0, 0.0]


@pytest.mark.slow
def test_load_model_predicts_on_warehouse_typed_rows(tmp_path: Path) -> None:
    import mlflow

    train = _training_rows()
    estimator = LogisticResponse(TabularPreprocessor.fit(train)).fit(train)
    schema = estimator.input_schema()
    assert schema["send_hour"] == "string"
    path = save_estimator(estimator, tmp_path / "estimator.joblib")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    # An experiment of this store: another test may have left the process's active experiment elsewhere.
    experiment = mlflow.set_experiment("pyfunc-types")
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=HeraldResponsePyfunc(),
            artifacts={ESTIMATOR_ARTIFACT: str(path)},
            code_paths=[str(Path(__file__).resolve().parents[3] / "models")],
            signature=signature_for(schema),
        )
    model = mlflow.pyfunc.load_model(info.model_uri)
    typed = train.drop(columns="label").head(50).reset_index(drop=True)
    expected = estimator.predict_proba(typed)
    as_int = typed.assign(send_hour=typed["send_hour"].astype("int64"))
    as_float = typed.assign(send_hour=typed["send_hour"].astype(float))
    nullable = typed.assign(
        send_hour=typed["send_hour"].astype("int64").astype("Int64"),
        recent_sends_7d=typed["recent_sends_7d"].astype("int64").astype("Int64"),
    )
    for rows in (typed, as_int, as_float, nullable):
        np.testing.assert_allclose(np.asarray(model.predict(rows), dtype=float), expected, rtol=1e-9)
