"""Two hops from a DAG task to its work, by one name: task → ``pipelines.flows.<dag>.<task>`` → step ``<task>``."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _dag_tasks() -> list[tuple[str, str]]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert not bag.import_errors and bag.dags, bag.import_errors
    return sorted((dag_id, task_id) for dag_id, dag in bag.dags.items() for task_id in dag.task_ids)


def _step_names(fn: object) -> set[str]:
    """Names a flows function imports or calls: where its one step is found."""
    import inspect
    import textwrap

    target = getattr(fn, "func", fn)  # functools.partial of a shared flow step
    names: set[str] = set()
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(target)))):
        if isinstance(node, ast.ImportFrom):
            names.update(alias.name for alias in node.names if alias.asname is None)
        elif isinstance(node, ast.Call):
            names.add(node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", ""))
    return names


def test_every_task_reaches_its_work_in_two_hops_by_name() -> None:
    """Task ``t`` of DAG ``herald_x`` → ``pipelines.flows.x.t`` → a step function also named ``t``."""
    missing: list[str] = []
    for dag_id, task_id in _dag_tasks():
        module_name = f"pipelines.flows.{dag_id.removeprefix('herald_')}"
        flow = getattr(importlib.import_module(module_name), task_id, None)
        if not callable(flow):
            missing.append(f"{dag_id}.{task_id}: no function {module_name}.{task_id}")
        elif task_id not in _step_names(flow):
            missing.append(f"{dag_id}.{task_id}: {module_name}.{task_id} calls no step named {task_id}")
    assert not missing, "\n".join(missing)
