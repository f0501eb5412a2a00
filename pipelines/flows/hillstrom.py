"""Tasks of ``herald_hillstrom``: validate and import the Hillstrom CSV → train and evaluate on held-out customers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipelines.config import load_config

DAG_ID = "herald_hillstrom"


def import_file(as_of: str, path: str | None = None, target: str | None = None) -> dict[str, Any]:
    """Check the file (columns, arms, value sets) and write customers, messages and sends to its dataset."""
    from pipelines.warehouse.hillstrom.importer import hillstrom_config, import_file

    cfg = hillstrom_config(load_config())
    return import_file(cfg, path or None, target or None, datetime.fromisoformat(as_of)).to_dict()  # type: ignore[arg-type]


def evaluate(dag_run_id: str, as_of: str, imported: dict[str, Any]) -> dict[str, Any]:
    """Train the generic models on the imported data, value every policy on held-out customers, log to MLflow."""
    from pipelines.policy.experiment import evaluate
    from pipelines.warehouse.hillstrom.importer import ImportResult

    result = evaluate(
        load_config(), ImportResult(**imported), now=datetime.fromisoformat(as_of), run_id=f"{DAG_ID}-{dag_run_id}"
    )
    deployed = {name: p["deployed"] for name, p in result["policies"].items() if "deployed" in p}
    return {
        "mlflow_run_id": result["mlflow_run_id"],
        "target": result["target"],
        "best_single_arm": result["best_single_arm"],
        "deployed": deployed,
        "ips": {name: {k: float(p[k]) for k in ("ips", "ci_low", "ci_high")} for name, p in result["policies"].items()},
    }
