"""The training run's last step: the summary of what serves now and why, and the MLflow run closed."""

from __future__ import annotations

from typing import Any

from pipelines import tracking
from pipelines.config import HeraldConfig


def finish(
    cfg: HeraldConfig,
    dag_id: str,
    record: dict[str, Any],
    rows: dict[str, Any],
    decision: dict[str, Any],
    fallback: dict[str, Any],
) -> dict[str, Any]:
    """Close the MLflow run and leave the run's summary (what serves now, and why) for people and the demo.

    ``record`` is the run record of ``register``; ``decision`` and ``fallback`` are the gate's and the
    fallback gate's results. Returns whether a version was promoted, which, and what serves now.
    """
    served = fallback["decision"] if fallback["gated"] and fallback["decision"]["promoted"] else decision
    served_by = fallback["registered"] if served is not decision else record["registered"]
    summary = {
        "dag_run_id": record["dag_run_id"],
        "rows": rows,
        "validation": record["validation"],
        "protocol": record["training"].get("split_counts", {}),
        "models": {
            m["name"]: {k: v for k, v in m["metrics"].items() if k.startswith(("test_", "cv_"))}
            for m in record["trained"]
        },
        "selection": {k: v for k, v in record["selection"].items() if k != "evidence"},
        "evidence": record["selection"].get("evidence", {}),
        "releases": [
            {"registered": record["registered"], "gate": decision},
            *([{"registered": fallback["registered"], "gate": fallback["decision"]}] if fallback["gated"] else []),
        ],
    }
    if served["promoted"] and served_by["estimator"] == "fixed_action":
        summary["serving"] = (
            "the best fixed action by logged outcome: no learned model beat the prior-rate predictor with confidence"
        )
    elif served["promoted"]:
        summary["serving"] = f"{served_by['estimator']} v{served['version']} (new champion)"
    else:
        summary["serving"] = "the previous champion (nothing promoted this run)"
    tracking.write_run_summary(cfg, dag_id, summary)
    tracking.finish(cfg, record["mlflow_run_id"])
    return {"promoted": served["promoted"], "version": served["version"], "serving": summary["serving"]}
