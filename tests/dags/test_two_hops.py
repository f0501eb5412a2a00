"""Two hops from a DAG task to its work, by one name: task → ``pipelines.flows.<dag>.<task>`` → step ``<task>``."""

from __future__ import annotations

import importlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _dag_tasks() -> list[tuple[str, str]]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert not bag.import_errors and bag.dags, bag.import_errors
    # Tasks that call into pipelines/ (wiring tasks and Airflow's own operators have no step).
    return sorted(
        (dag_id, task.task_id)
        for dag_id, dag in bag.dags.items()
        for task in dag.tasks
        if "pipelines" in _source(getattr(task, "python_callable", None))
    )


def _source(fn: object) -> str:
    import inspect

    return inspect.getsource(fn) if fn is not None else ""


def _step_names(flow: object) -> set[str]:
    """Names of the steps a flows function reaches: what it imports from ``pipelines`` and the attributes it calls."""
    import ast
    import functools
    import inspect
    import textwrap

    fn = flow.func if isinstance(flow, functools.partial) else flow
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipelines"):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            names.add(node.func.attr)
    return names


def test_every_task_reaches_its_work_in_two_hops_by_name() -> None:
    """Task ``t`` of DAG ``herald_x`` is ``pipelines.flows.x.t``, which calls the step ``t`` of its job.

    The second hop is read from the flows function's source: it imports a ``pipelines`` name ``t``
    (aliases allowed: the original name counts) or calls an attribute ``t`` (``release.gate``).
    """
    missing: list[str] = []
    for dag_id, task_id in _dag_tasks():
        module_name = f"pipelines.flows.{dag_id.removeprefix('herald_')}"
        flow = getattr(importlib.import_module(module_name), task_id, None)
        if not callable(flow):
            missing.append(f"{dag_id}.{task_id}: no function {module_name}.{task_id}")
        elif task_id not in _step_names(flow):
            missing.append(f"{dag_id}.{task_id}: {module_name}.{task_id} calls no step named {task_id}")
    assert not missing, "\n".join(missing)
