"""House rules of the layout: pipelines/ grouped by job, small modules, imports that run one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 300
JOBS = {
    "flows",
    "warehouse",
    "validation",
    "training",
    "scoring",
    "policy",
    "monitoring",
    "synthetic",
    "config",
    "cli",
}
SHARED = {"__init__.py", "errors.py", "tracking.py"}


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_pipelines_top_level_shows_the_jobs() -> None:
    entries = {p.name for p in (REPO / "pipelines").iterdir() if p.name != "__pycache__"}
    packages = {name for name in entries if (REPO / "pipelines" / name).is_dir()}
    assert packages == JOBS
    assert entries - packages <= SHARED, f"modules outside a job: {sorted(entries - packages - SHARED)}"


@pytest.mark.parametrize("path", _sources("pipelines", "models"), ids=lambda p: str(p.relative_to(REPO)))
def test_modules_stay_small(path: Path) -> None:
    name = str(path.relative_to(REPO))
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (limit {MAX_LINES}): split it by job"


@pytest.mark.parametrize("path", _sources("pipelines", "models"), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_run_one_way(path: Path) -> None:
    imported = _imports(path)
    assert not any(name == "airflow" or name.startswith("airflow.") for name in imported), "no Airflow below dags/"
    if path.is_relative_to(REPO / "models"):
        assert not any(name.startswith("pipelines") for name in imported), "models/ never imports pipelines/"
