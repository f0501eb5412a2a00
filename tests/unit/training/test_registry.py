"""Champion/challenger in a real MLflow registry: the first good model is promoted, a credibly worse one refused."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from models.baselines import LogisticResponse
from models.preprocessing import TabularPreprocessor
from models.pyfunc import save_estimator

pytestmark = pytest.mark.slow


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "message_id": np.where(rng.random(n) < 0.1, None, "m1"),
            "channel": rng.choice(["email", "push"], n),
            "signal": signal,
            "gender": rng.choice(["F", "M"], n),
            "label": (rng.random(n) < 1 / (1 + np.exp(-(2 * signal - 2)))).astype(int),
        }
    )


def _estimator(train: pd.DataFrame, path: Path, shuffle_labels: bool) -> str:
    frame = (
        train.assign(label=np.random.default_rng(1).permutation(train["label"].to_numpy())) if shuffle_labels else train
    )
    estimator = LogisticResponse(TabularPreprocessor.fit(frame, exclude=["gender"])).fit(frame)
    return str(save_estimator(estimator, path))


def test_gate_promotes_a_good_first_model_and_refuses_a_worse_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERALD_HOME", str(tmp_path))
    from mlflow.tracking import MlflowClient

    from pipelines.config import load_config
    from pipelines.tracking import start
    from pipelines.training.promotion import GateInputs, gate_decision, paired_bootstrap
    from pipelines.training.registry import apply_decision, current_champion, predict_served, register_challenger
    from pipelines.warehouse import get_warehouse

    cfg = load_config()
    with get_warehouse(cfg, must_exist=False) as warehouse:  # the warehouse exists before any training run
        warehouse.write("customers", pd.DataFrame({"customer_id": ["c0"]}))
    train, test = _rows(3000, 0), _rows(2000, 1)
    good = _estimator(train, tmp_path / "good.joblib", shuffle_labels=False)
    bad = _estimator(train, tmp_path / "bad.joblib", shuffle_labels=True)
    bounds = {"margin": 0.0, "max_ece": 1.0, "max_group_auc_gap": 1.0}

    first = register_challenger(cfg, start(cfg, "herald_training", "run-1"), good, "logreg", test)
    retried = register_challenger(cfg, start(cfg, "herald_training", "run-1"), good, "logreg", test)
    assert retried == first  # a retried register task reuses the run's version instead of adding one
    # The serving environment is the lock's pins, declared rather than inferred by MLflow.
    requirements = Path(mlflow.artifacts.download_artifacts(f"{first.model_uri}/requirements.txt")).read_text()
    assert "torch==2.13.0\n" in requirements and "lightgbm==" in requirements
    decided = gate_decision(GateInputs(first.version, "logreg", 0.7, 0.0, None), **bounds)
    promoted = apply_decision(cfg, "run-1", decided)
    assert promoted.promoted, promoted.reasons

    second = register_challenger(cfg, start(cfg, "herald_training", "run-2"), bad, "logreg", test)
    champion = current_champion(cfg)
    assert champion is not None and champion.version == first.version
    served = {
        "challenger": predict_served(mlflow.pyfunc.load_model(second.model_uri), test),
        "champion": predict_served(mlflow.pyfunc.load_model(champion.model_uri), test),
    }
    boot = paired_bootstrap(test["label"].to_numpy(), served, np.ones(len(test)), test["customer_id"].to_numpy())
    inputs = GateInputs(second.version, "logreg", 0.5, 0.0, None, champion.version, "logreg")
    inputs.versus_champion = boot.auc_difference("challenger", "champion")
    refused = apply_decision(cfg, "run-2", gate_decision(inputs, **bounds))
    assert not refused.promoted
    assert any("champion v1" in reason for reason in refused.reasons)

    client = MlflowClient(cfg.tracking_uri, cfg.tracking_uri)
    assert str(client.get_model_version_by_alias(cfg.model_name, "champion").version) == first.version
    assert str(client.get_model_version_by_alias(cfg.model_name, "challenger").version) == second.version
    assert client.get_model_version(cfg.model_name, second.version).tags["gate.promoted"] == "False"
    assert len(client.search_model_versions(f"name = '{cfg.model_name}'")) == 2
    with get_warehouse(cfg) as warehouse:
        history = warehouse.query("model_promotions_history")
    assert history["promoted"].tolist() == [True, False]
    assert history["reason"].str.len().gt(0).all()

    # "Which model served on date D": from the promotions table, by the CLI as well.
    from datetime import datetime

    from typer.testing import CliRunner

    from pipelines.cli import app
    from pipelines.training.registry import champion_at

    assert champion_at(cfg, datetime.now(UTC))["version"] == first.version
    assert champion_at(cfg, datetime(2001, 1, 1, tzinfo=UTC)) is None
    said = CliRunner().invoke(app, ["champion"])
    assert said.exit_code == 0 and f"version {first.version}," in said.output, said.output
    assert CliRunner().invoke(app, ["champion", "--at", "2001-01-01"]).exit_code == 1


def test_a_rerun_of_the_same_dag_run_reuses_its_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_HOME", str(tmp_path))
    from pipelines.config import load_config
    from pipelines.tracking import connect, start
    from pipelines.training.registry import register_challenger

    cfg = load_config()
    train, test = _rows(2000, 0), _rows(500, 1)
    path = _estimator(train, tmp_path / "good.joblib", shuffle_labels=False)
    client = connect(cfg)
    parent = start(cfg, "herald_training", "run-7")
    experiment = client.get_run(parent).info.experiment_id
    children = [client.create_run(experiment, run_name="logreg").info.run_id for _ in range(2)]  # train, re-run
    tags = {"dag_run_id": "run-7"}
    first = register_challenger(cfg, children[0], path, "logreg", test, tags)
    again = register_challenger(cfg, children[1], path, "logreg", test, tags)
    assert again.version == first.version
    other = register_challenger(cfg, children[1], path, "lightgbm", test, tags)  # another estimator: its own
    assert other.version != first.version
    assert len(client.search_model_versions(f"name = '{cfg.model_name}'")) == 2
