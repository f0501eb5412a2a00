"""Real data: held-out Hillstrom customers, personalized policies (safe policy improvement) against fixed arms."""

from __future__ import annotations

from typing import Any

from pipelines.config import HeraldConfig

REQUIRED_POLICIES = ("personalized_deep", "personalized_lightgbm", "all_mens", "all_womens", "nobody", "random")


def run(cfg: HeraldConfig) -> dict[str, Any]:
    """Run the whole experiment once and report DESIGN §8's hillstrom.json keys (plus the raw personalized values)."""
    from pipelines.policy.experiment import run_experiment

    if not cfg.hillstrom.path.is_file():
        return {"error": f"Hillstrom file {cfg.hillstrom.path} not found (set HERALD_HILLSTROM__PATH)"}
    result = run_experiment(cfg, deep=cfg.deep.enabled)
    policies = result["policies"]
    missing = [p for p in REQUIRED_POLICIES if p not in policies]
    best = result["best_single_arm"]
    body: dict[str, Any] = {
        "best_single_arm": {"name": best["name"], "visit_rate": best["visit_rate"]},
        # personalized_<model> is the deployed policy (after safe policy improvement);
        # personalized_<model>_raw the model's greedy choice before it; naive_tlearner the DESIGN §7 reference.
        "policies": policies,
        "safe_policy": {
            m: {
                k: d[k]
                for k in (
                    "deployed",
                    "personalize",
                    "best_fixed_name",
                    "personalized_value",
                    "best_fixed_value",
                    "difference",
                    "ci_low",
                    "ci_high",
                    "estimator",
                    "reason",
                )
            }
            for m, d in result["safe_policy"].items()
        },
        "deployed_minus_best_arm_points": {
            m: 100 * (policies[f"personalized_{m}"]["ips"] - best["visit_rate"]) for m in result["safe_policy"]
        },
        "qini": result["qini"],
        "models": result["models"],
        "modalities_deep": result["modalities"],
        "hillstrom_config": {
            "target": result["target"],
            "split": result["split_counts"],
            "confidence": result["confidence"],
            "bootstrap": result["bootstrap"],
            "seed": cfg.hillstrom.seed,
        },
        "timings_s": result["timings_s"],
        "note": (
            "IPS/DR on the test customers only (random customer split: train / early-stop / validation for the "
            "safe-policy decision / test); fixed and random policies use the LightGBM reward model for DR."
        ),
    }
    if missing:
        body["error"] = f"policies not evaluated: {', '.join(missing)} (deep model disabled?)"
    return body
