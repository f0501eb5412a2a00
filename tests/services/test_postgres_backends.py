"""The production path's metadata stores on a real PostgreSQL: MLflow's registry and Airflow's metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.services]


REGISTRY_ROUND_TRIP = """
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from models.baselines import LogisticResponse
from models.preprocessing import TabularPreprocessor
from models.pyfunc import save_estimator
from pipelines.config import load_config
from pipelines.training.registry import CHAMPION, predict_served, register_challenger
from pipelines.tracking import start

home, store = Path(sys.argv[1]), sys.argv[2]
cfg = load_config()
rng = np.random.default_rng(0)
rows = pd.DataFrame({"message_id": ["m1"] * 400, "channel": rng.choice(["email", "push"], 400),
                     "signal": rng.normal(size=400)})
rows["label"] = (rows["signal"] + rng.normal(size=400) > 1).astype(int)
path = save_estimator(LogisticResponse(TabularPreprocessor.fit(rows)).fit(rows), home / "m.joblib")
client = MlflowClient(store)
# Runs and the registry live in PostgreSQL; the pyfunc's files go to a local artifact folder.
client.create_experiment(cfg.mlflow_experiment, artifact_location=(home / "artifacts").as_uri())
registered = register_challenger(cfg, start(cfg, "herald_training", "pg-run"), str(path), "logreg", rows)
client.set_registered_model_alias(cfg.model_name, CHAMPION, registered.version)
assert str(client.get_model_version_by_alias(cfg.model_name, CHAMPION).version) == registered.version
model = mlflow.pyfunc.load_model(f"models:/{cfg.model_name}@{CHAMPION}")
assert predict_served(model, rows.head(10)).shape == (10,)
print("registry round trip ok")
"""


def test_mlflow_registry_with_a_postgres_backend(postgres_database: str, tmp_path: Path) -> None:
    """Register, alias and load a Herald model with MLflow's tracking store and registry on PostgreSQL.

    Runs in its own interpreter, as an Airflow task does: MLflow's tracking URI is process-wide.
    """
    env = {**os.environ, "HERALD_HOME": str(tmp_path), "HERALD_MLFLOW_TRACKING_URI": postgres_database}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    done = subprocess.run(
        [sys.executable, "-c", REGISTRY_ROUND_TRIP, str(tmp_path), postgres_database],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "registry round trip ok" in done.stdout


def test_airflow_metadata_on_postgres_parses_herald_dags(postgres_database: str, tmp_path: Path) -> None:
    """`airflow db migrate` on PostgreSQL, then the DAG processor's view of Herald's DAGs."""
    from pipelines.config import load_config
    from pipelines.flows.runner import airflow_bin, airflow_env

    cfg = load_config(home=tmp_path)
    env = {**airflow_env(cfg), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_database}
    migrate = subprocess.run([airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    listed = subprocess.run(
        [airflow_bin(), "dags", "list-import-errors", "--local", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "herald_" not in listed.stdout  # no import errors reported for any Herald DAG file
    dags = subprocess.run(
        [airflow_bin(), "dags", "list", "--local", "-o", "json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert dags.returncode == 0, dags.stderr[-2000:]
    listing = next(line for line in dags.stdout.splitlines() if line.startswith("["))  # warnings precede the JSON
    assert {d["dag_id"] for d in json.loads(listing)} >= {"herald_training", "herald_scoring", "herald_monitoring"}
