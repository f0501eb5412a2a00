"""The production path's metadata stores on a real PostgreSQL: MLflow's registry and Airflow's metadata."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.services]


def test_mlflow_registry_with_a_postgres_backend(postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Register, alias and load a Herald model with MLflow's tracking store on PostgreSQL."""
    monkeypatch.setenv("HERALD_HOME", str(tmp_path))
    monkeypatch.setenv("HERALD_MLFLOW_TRACKING_URI", postgres_database)
    from mlflow.tracking import MlflowClient

    from models.baselines import LogisticResponse
    from models.preprocessing import TabularPreprocessor
    from models.pyfunc import save_estimator
    from pipelines.config import load_config
    from pipelines.registry import CHAMPION, register_challenger
    from pipelines.tracking import dag_run

    cfg = load_config()
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"message_id": ["m1"] * 400, "channel": rng.choice(["email", "push"], 400),
                         "signal": rng.normal(size=400)})
    rows["label"] = (rows["signal"] + rng.normal(size=400) > 1).astype(int)
    path = save_estimator(LogisticResponse(TabularPreprocessor.fit(rows)).fit(rows), tmp_path / "m.joblib")
    # The pyfunc's artifacts go to a local folder; the experiment lives in PostgreSQL.
    client = MlflowClient(postgres_database)
    client.create_experiment(cfg.mlflow_experiment, artifact_location=(tmp_path / "artifacts").as_uri())
    registered = register_challenger(cfg, dag_run(cfg, "herald_training", "pg-run"), str(path), "logreg", rows)
    client.set_registered_model_alias(cfg.model_name, CHAMPION, registered.version)
    assert str(client.get_model_version_by_alias(cfg.model_name, CHAMPION).version) == registered.version
    import mlflow

    # Resolve the alias with this registry's own client: MLflow's process-wide URIs may point at
    # another test's store by now, and `models:/` URIs resolve through them.
    champion = client.get_model_version_by_alias(cfg.model_name, CHAMPION)
    model = mlflow.pyfunc.load_model(client.get_model_version_download_uri(cfg.model_name, champion.version))
    from pipelines.registry import predict_served

    assert predict_served(model, rows.head(10)).shape == (10,)


def test_airflow_metadata_on_postgres_parses_herald_dags(postgres_database: str, tmp_path: Path) -> None:
    """`airflow db migrate` on PostgreSQL, then the DAG processor's view of Herald's DAGs."""
    from pipelines.config import load_config
    from pipelines.orchestrate import airflow_bin, airflow_env

    cfg = load_config(home=tmp_path)
    env = {**airflow_env(cfg), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_database}
    migrate = subprocess.run([airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    listed = subprocess.run([airflow_bin(), "dags", "list-import-errors", "--local", "-o", "json"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "herald_" not in listed.stdout  # no import errors reported for any Herald DAG file
    dags = subprocess.run([airflow_bin(), "dags", "list", "--local", "-o", "json"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert dags.returncode == 0, dags.stderr[-2000:]
    listing = next(line for line in dags.stdout.splitlines() if line.startswith("["))  # warnings precede the JSON
    assert {d["dag_id"] for d in json.loads(listing)} >= {"herald_training", "herald_scoring", "herald_monitoring"}
