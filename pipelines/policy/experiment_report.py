"""What a Hillstrom experiment reports: the policy-value table, its plots and the MLflow record of the run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig


def log_results(cfg: HeraldConfig, parent: str, result: dict[str, Any], curves: dict[str, Any], run_id: str) -> None:
    """Policy table, Qini plots, the safe-policy decision and the summary into the parent MLflow run."""
    import json

    import mlflow

    from pipelines.policy.uplift_eval import plot_policy_values, plot_uplift_curves

    out = cfg.run_dir(run_id) / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    table = policy_table(result)
    table.to_csv(out / "policy_values.csv", index=False)
    plot_policy_values(
        table, out / "policy_values.png", f"Hillstrom ({result['target']}): policy values on held-out customers"
    )
    plot_uplift_curves(curves, out / "qini_curves.png", "Hillstrom: Qini curves on held-out customers")
    (out / "hillstrom_result.json").write_text(json.dumps(result, indent=2, default=float))
    with mlflow.start_run(run_id=parent):
        mlflow.log_table(table, "evaluation/policy_values.json")
        for name in ("policy_values.csv", "policy_values.png", "qini_curves.png", "hillstrom_result.json"):
            mlflow.log_artifact(str(out / name), "evaluation")
        metrics = {
            f"policy.{p}.{k}": v
            for p, vals in result["policies"].items()
            for k, v in vals.items()
            if isinstance(v, float) and np.isfinite(v)
        }
        metrics.update({f"qini.{m}.{arm}": v for m, per in result["qini"].items() for arm, v in per.items()})
        metrics["best_single_arm.rate"] = result["best_single_arm"]["visit_rate"]
        # MLflow metric names allow no "@" (action names are message@channel).
        mlflow.log_metrics({k.replace("@", "_"): v for k, v in metrics.items()})
        for model, decision in result["safe_policy"].items():
            mlflow.set_tag(
                f"safe_policy.{model}",
                decision["deployed"] if decision["personalize"] else f"fallback:{decision['best_fixed_name']}",
            )
            mlflow.set_tag(f"safe_policy.{model}.reason", decision["reason"][:4900])
            mlflow.log_metrics(
                {
                    f"safe_policy.{model}.difference": decision["difference"],
                    f"safe_policy.{model}.ci_low": decision["ci_low"],
                    f"safe_policy.{model}.ci_high": decision["ci_high"],
                }
            )
        mlflow.log_params(
            {
                "target": result["target"],
                "split": "random customers",
                **{f"split.{k}": v for k, v in result["split_counts"].items()},
                "bootstrap": result["bootstrap"],
                "confidence": result["confidence"],
            }
        )


def policy_table(result: dict[str, Any]) -> pd.DataFrame:
    """One row per policy: IPS and DR with their intervals, and what was deployed."""
    records = []
    for name, v in result["policies"].items():
        records.append(
            {
                "policy": name,
                "ips": v["ips"],
                "ips_ci_low": v["ci_low"],
                "ips_ci_high": v["ci_high"],
                "snips": v["snips"],
                "dr": v["dr"],
                "dr_ci_low": v["dr_ci_low"],
                "dr_ci_high": v["dr_ci_high"],
                "deployed": v.get("deployed", ""),
            }
        )
    return pd.DataFrame.from_records(records)
