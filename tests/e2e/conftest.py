"""One tiny demo run shared by the end-to-end tests that read its state (DAG flow, browser)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_cfg(tmp_path_factory: pytest.TempPathFactory):
    """Config of the shared tiny world (its own HERALD_HOME); the protocol's choice is promoted."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HERALD_HOME", str(tmp_path_factory.mktemp("herald_e2e")))
    mp.setenv("HERALD_WORLD__SIZE", "tiny")
    # The protocol's choice is promoted on a first run (no champion to compare with) and scoring serves
    # it end to end; tests/e2e/test_monitoring.py takes the other path (nothing eligible: fixed action).
    from pipelines.config import load_config

    yield load_config()
    mp.undo()


@pytest.fixture(scope="session")
def demo_ran(demo_cfg):
    """Build the world and run training, scoring and monitoring through `airflow dags test`, once."""
    from pipelines.flows.runner import DAG_IDS, migrate, run_dag
    from pipelines.synthetic import build_world

    build_world(demo_cfg)
    migrate(demo_cfg)
    for dag_id in DAG_IDS:
        run_dag(demo_cfg, dag_id)
    return demo_cfg


@pytest.fixture(scope="session")
def demo_home(demo_cfg) -> Path:
    return demo_cfg.home
