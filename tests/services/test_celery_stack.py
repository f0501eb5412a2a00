"""The production path run for real: Airflow's CeleryExecutor on PostgreSQL and Redis, an MLflow server over HTTP.

One stack serves the whole module (starting it costs about a minute): api-server, scheduler,
dag-processor, triggerer and two Celery workers against a fresh PostgreSQL metadata database and the
local Redis broker, and an MLflow tracking server with a PostgreSQL backend store and a local
artifact root. Runs are triggered and followed only through Airflow's REST API v2, as an operator
or CI job would. The faults are injected on that same stack, in the runs the happy path needs, so
the module stays within its time budget:

* training: the MLflow server is stopped while ``register`` runs and started again once the try
  has failed; the retry registers the challenger once;
* first scoring run: the scheduler is restarted mid-run;
* second scoring run: one Celery worker is SIGKILLed in the middle of a scoring shard.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.services.production_stack import PG_HOST, PG_PORT, REDIS_HOST, REDIS_PORT, Stack, listening

pytestmark = [pytest.mark.slow, pytest.mark.services]

# A run takes minutes on a quiet machine; a shared 2-core machine under load needs far longer.
RUN_TIMEOUT_S = float(os.environ.get("HERALD_TEST_RUN_TIMEOUT_S", "1500"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not listening(PG_HOST, PG_PORT):
        pytest.skip(f"PostgreSQL is not listening on {PG_HOST}:{PG_PORT} (the Celery stack's metadata database)")
    if not listening(REDIS_HOST, REDIS_PORT):
        pytest.skip(f"Redis is not listening on {REDIS_HOST}:{REDIS_PORT} (the Celery broker)")
    from pipelines.config import load_config
    from pipelines.synthetic import build_world

    root = tmp_path_factory.mktemp("production_stack")
    home = root / "herald"
    herald_env = {
        "HERALD_HOME": str(home),
        "HERALD_WORLD__SIZE": "tiny",
        # Baselines only: the deep model's path through Airflow is tests/e2e's; here the executor,
        # broker, registry server and faults are under test, and the module must stay within minutes.
        "HERALD_DEEP__ENABLED": "false",
        "HERALD_PROMOTION_MARGIN": "-1.0",
        "HERALD_RETRY_DELAY_S": "2",
    }
    build_world(load_config(home=home, world={"size": "tiny"}))
    started = Stack(root, herald_env)
    try:
        t0 = time.monotonic()
        started.start()
        started.timings["stack start"] = time.monotonic() - t0
        yield started
    finally:
        started.stop()
        print("\nproduction stack timings (s):", {k: round(v, 1) for k, v in started.timings.items()})


def _config(stack: Stack):
    from pipelines.config import load_config

    return load_config(
        home=Path(stack.herald_env["HERALD_HOME"]), world={"size": "tiny"}, mlflow_tracking_uri=stack.mlflow_uri
    )


def _table(stack: Stack, name: str) -> pd.DataFrame:
    import duckdb

    cfg = _config(stack)
    with duckdb.connect(str(cfg.duckdb_path), read_only=True) as con:
        return con.sql(f"SELECT * FROM {cfg.dataset}.{name}").df()


def _registry(stack: Stack):
    from mlflow.tracking import MlflowClient

    return MlflowClient(stack.mlflow_uri, stack.mlflow_uri)


@pytest.fixture(scope="module")
def training(stack: Stack) -> dict[str, Any]:
    """herald_training, with the MLflow server stopped while ``register`` runs and back after its failed try.

    The DAG is paused while the server is down, so the retry waits for the server however long its
    restart takes on a busy machine (a paused DAG's running task goes on; nothing new is scheduled).
    """
    t0 = time.monotonic()
    run_id = stack.trigger("herald_training")
    stack.wait_for_task("herald_training", run_id, "register", {"running"}, timeout=RUN_TIMEOUT_S)
    stack.set_paused("herald_training", True)
    mlflow = stack.services["mlflow"]
    mlflow.stop(timeout=5)
    stopped_at = time.monotonic()
    failed = stack.wait_for_task(
        "herald_training", run_id, "register", {"up_for_retry", "failed", "success"}, timeout=300
    )
    mlflow.start()
    stack.wait_for_http(f"{stack.mlflow_uri}/health", "mlflow", timeout=300)
    stack.set_paused("herald_training", False)
    state = stack.wait_for_run("herald_training", run_id, timeout=RUN_TIMEOUT_S)
    stack.timings["training run"] = time.monotonic() - t0
    return {"run_id": run_id, "state": state, "register_after_stop": failed, "outage_s": time.monotonic() - stopped_at}


@pytest.fixture(scope="module")
def scoring(stack: Stack, training: dict[str, Any]) -> dict[str, Any]:
    """herald_scoring after training; the scheduler is restarted while the run is under way."""
    assert training["state"] == "success"
    t0 = time.monotonic()
    run_id = stack.trigger("herald_scoring")
    stack.wait_for_task("herald_scoring", run_id, "extract", {"running", "success"}, timeout=RUN_TIMEOUT_S)
    stack.restart("scheduler")
    state = stack.wait_for_run("herald_scoring", run_id, timeout=RUN_TIMEOUT_S)
    stack.timings["scoring run (scheduler restarted)"] = time.monotonic() - t0
    return {"run_id": run_id, "state": state}


def test_training_then_scoring_through_celery_workers_publishes_decisions(
    stack: Stack, training: dict[str, Any], scoring: dict[str, Any]
) -> None:
    assert training["state"] == "success", stack.services["scheduler"].tail()
    assert scoring["state"] == "success", stack.services["scheduler"].tail()
    decisions = _table(stack, "decisions")
    customers = _table(stack, "customers")
    mine = decisions[decisions["run_id"] == scoring["run_id"]]
    assert mine["customer_id"].is_unique
    assert sorted(mine["customer_id"]) == sorted(customers["customer_id"])
    assert _table(stack, "model_promotions")["promoted"].tolist() == [True]
    # Every task ran on a Celery worker: the records name the worker that ran it.
    tis = stack.task_instances("herald_scoring", scoring["run_id"])
    assert {ti["hostname"] for ti in tis} <= {"worker-a", "worker-b"}
    assert all(ti["state"] == "success" for ti in tis)


def test_scoring_shards_ran_on_both_workers(stack: Stack, scoring: dict[str, Any]) -> None:
    shards = [ti for ti in stack.task_instances("herald_scoring", scoring["run_id"]) if ti["task_id"] == "score_shard"]
    assert len(shards) == _config(stack).scoring_shards
    assert {ti["hostname"] for ti in shards} == {"worker-a", "worker-b"}


def test_the_registry_is_served_over_http_with_its_artifacts(stack: Stack, training: dict[str, Any]) -> None:
    cfg = _config(stack)
    client = _registry(stack)
    champion = client.get_model_version_by_alias(cfg.model_name, "champion")
    challenger = client.get_model_version_by_alias(cfg.model_name, "challenger")
    assert champion.version == challenger.version == "1"
    assert champion.tags["estimator"] in {"logreg", "lightgbm"}
    listed = {a.path for a in client.list_artifacts(champion.run_id)}
    assert {"plots", "reference"} <= listed
    # The files went through the server to its artifact root, not to a path the tasks wrote directly.
    assert any(stack.artifacts.rglob("MLmodel")), "no model files under the server's artifact root"
    assert not (Path(stack.herald_env["HERALD_HOME"]) / "mlflow").exists()


def test_mlflow_outage_during_register_fails_the_try_with_the_registry_error_then_registers_once(
    stack: Stack, training: dict[str, Any]
) -> None:
    run_id = training["run_id"]
    assert training["register_after_stop"]["state"] in {"up_for_retry", "failed"}
    tries = stack.tries("herald_training", run_id, "register")
    assert [t["state"] for t in sorted(tries, key=lambda t: t["try_number"])] == ["failed", "success"]
    first = stack.log("herald_training", run_id, "register", 1)
    assert "RegistryUnavailable" in first, first[-3000:]
    assert "stopped answering" in first or "is unreachable" in first, first[-3000:]
    versions = _registry(stack).search_model_versions(f"name = '{_config(stack).model_name}'")
    assert len(versions) == 1, [(v.version, v.run_id) for v in versions]


def test_scheduler_restart_mid_run_lets_the_run_complete(stack: Stack, scoring: dict[str, Any]) -> None:
    assert scoring["state"] == "success"
    assert stack.services["scheduler"].alive()


def test_sigkilled_worker_mid_shard_is_retried_on_the_other_and_publishes_one_decision_set(
    stack: Stack, scoring: dict[str, Any]
) -> None:
    t0 = time.monotonic()
    run_id = stack.trigger("herald_scoring")
    running = stack.wait_for_task("herald_scoring", run_id, "score_shard", {"running"}, timeout=RUN_TIMEOUT_S)
    victim = running["hostname"]
    survivor = ({"worker-a", "worker-b"} - {victim}).pop()
    stack.services[victim].kill()
    state = stack.wait_for_run("herald_scoring", run_id, timeout=RUN_TIMEOUT_S)
    stack.timings["scoring run (worker SIGKILLed)"] = time.monotonic() - t0
    assert state == "success", stack.services["scheduler"].tail()
    tries = stack.tries("herald_scoring", run_id, "score_shard", running["map_index"])
    by_try = sorted(tries, key=lambda t: t["try_number"])
    assert by_try[0]["hostname"] == victim and by_try[0]["state"] in {"failed", "up_for_retry"}
    assert by_try[-1]["hostname"] == survivor and by_try[-1]["state"] == "success"
    # Exactly one complete decision set for this run: every customer once, none twice.
    # (Publication once per date, across runs, is the "nothinglost" helper's change; this asserts per run.)
    decisions = _table(stack, "decisions")
    mine = decisions[decisions["run_id"] == run_id]
    assert mine["customer_id"].is_unique
    assert sorted(mine["customer_id"]) == sorted(_table(stack, "customers")["customer_id"])
