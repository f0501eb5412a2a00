"""Choose which trained model to register, log its review material and reference data, and gate it."""

from __future__ import annotations

from typing import Any

import mlflow

from models.pyfunc import load_estimator
from pipelines.config import HeraldConfig
from pipelines.monitoring.reference import log_reference
from pipelines.policy.replay import evaluate_policy_offline
from pipelines.tracking import connect
from pipelines.training.evaluate import save_quality_plots
from pipelines.training.evidence import fairness_evidence, policy_evidence
from pipelines.training.fit import TrainingSet, load_rows
from pipelines.training.gate_page import gate_comparison, publish_gate_page
from pipelines.training.proxies import proxy_inputs, proxy_section
from pipelines.training.registry import CHALLENGER, GateDecision, RegisteredModel, gate_challenger, register_challenger
from pipelines.training.review import Review, model_card, review_model, save_group_plot, write_card

# The model the platform is built around: registered for review on every run it is trained.
PREFERRED_CANDIDATE = "deep"


def pick_challenger(trained: list[dict[str, Any]]) -> dict[str, Any]:
    """The deep model when it was trained, else the baseline with the best validation AUC."""
    if not trained:
        raise ValueError("no trained model to register")
    deep = [m for m in trained if m["name"] == PREFERRED_CANDIDATE]
    return deep[0] if deep else best_on_validation(trained)


def pick_fallback(trained: list[dict[str, Any]], challenger: str) -> dict[str, Any] | None:
    """The best baseline on validation (never the test split), gated when the deep challenger is refused.

    Without it, a first run whose deep model loses to a baseline would leave nothing to serve, and
    a champion from an older run would never be refreshed while the deep model keeps losing.
    """
    others = [m for m in trained if m["name"] != challenger]
    return best_on_validation(others) if others and challenger == PREFERRED_CANDIDATE else None


def best_on_validation(trained: list[dict[str, Any]]) -> dict[str, Any]:
    return max(trained, key=lambda m: m["metrics"].get("valid_auc", float("-inf")))


def register_candidate(
    cfg: HeraldConfig,
    run_id: str,
    training: dict[str, Any],
    trained: list[dict[str, Any]],
    name: str,
    validation: dict[str, Any],
    alias: str | None = CHALLENGER,
) -> RegisteredModel:
    """Register one trained model from its own MLflow child run, with its test plots and drift reference.

    Each version then links to the run that holds its parameters, metrics, plots and model card;
    its plots draw the run's other models on the same test rows beside it.
    """
    ts = TrainingSet(**training)
    test = load_rows(ts.rows_path, "test")
    candidate = next(m for m in trained if m["name"] == name)
    ordered = [candidate, *(m for m in trained if m["name"] != name)]
    predictions = {m["name"]: load_estimator(m["estimator_path"]).predict_proba(test) for m in ordered}
    connect(cfg)
    plots = save_quality_plots(
        test["label"].to_numpy(),
        predictions,
        cfg.run_dir(run_id) / "plots" / name,
        f"{name} on the test split, beside the run's other models",
    )
    with mlflow.start_run(run_id=candidate["mlflow_run_id"]):
        for path in plots:
            mlflow.log_artifact(str(path), "plots")
    # Distributions only (no customer row reaches MLflow); the estimator adds its embeddings' sketch.
    log_reference(cfg, candidate["mlflow_run_id"], ts.reference_path, load_estimator(candidate["estimator_path"]))
    tags = {
        "data_validation": "passed" if validation.get("passed", False) else "failed",
        "feature_cutoff": ts.feature_cutoff,
        "test_auc": f"{candidate['metrics'].get('test_auc', float('nan')):.4f}",
        "dag_run_id": run_id,
        # A protected attribute is an input only when explicitly allowed; the version says which.
        "privacy.protected_inputs": ",".join(cfg.privacy.allow_protected_inputs) or "none",
    }
    return register_challenger(
        cfg, candidate["mlflow_run_id"], candidate["estimator_path"], candidate["name"], test, tags, alias=alias
    )


def log_comparison(cfg: HeraldConfig, trained: list[dict[str, Any]], mlflow_run_id: str) -> None:
    """Every model's validation and test metrics side by side on the DAG run's MLflow run."""
    connect(cfg)
    with mlflow.start_run(run_id=mlflow_run_id):
        mlflow.log_metrics({f"{m['name']}.{k}": v for m in trained for k, v in m["metrics"].items() if v == v})


def gate_candidate(
    cfg: HeraldConfig, run_id: str, training: dict[str, Any], registered: dict[str, Any], trained: list[dict[str, Any]]
) -> GateDecision:
    """Gate a registered version; a deep challenger must also beat every baseline of the same run.

    A baseline is gated against the champion only: it already is the best baseline on validation,
    and re-ranking baselines on the test split would just pick by test noise.
    """
    ts = TrainingSet(**training)
    test = load_rows(ts.rows_path, "test")
    challenger = RegisteredModel(**registered)
    baselines = {m["name"]: m["metrics"]["test_auc"] for m in trained if m["name"] != PREFERRED_CANDIDATE}
    if challenger.estimator != PREFERRED_CANDIDATE:
        baselines = {}
    candidate = next(m for m in trained if m["name"] == challenger.estimator)
    estimator = load_estimator(candidate["estimator_path"])
    review = review_model(estimator, test, cfg.protected_attributes)
    # The policy this model would run, valued off-policy on the held-out logged sends (DESIGN §5).
    policy_value = evaluate_policy_offline(test, estimator.predict_proba, cfg.policy)
    checks = [
        fairness_evidence(review, cfg.promotion_max_group_auc_gap, cfg.promotion_fairness_not_computed),
        policy_evidence(policy_value, cfg.policy.ope_block_when_worse),
    ]
    decision = gate_challenger(cfg, run_id, challenger, test, baselines, checks)
    publish_review(cfg, run_id, challenger, estimator, ts, trained, review, decision, policy_value)
    comparison = gate_comparison(cfg, test, estimator, challenger.to_dict(), trained, decision.to_dict())
    publish_gate_page(cfg, challenger.to_dict(), decision.to_dict(), comparison, policy_value, review.to_dict())
    return decision


def gate_fallback(
    cfg: HeraldConfig,
    run_id: str,
    training: dict[str, Any],
    trained: list[dict[str, Any]],
    registered: dict[str, Any],
    decision: dict[str, Any],
    validation: dict[str, Any],
) -> dict[str, Any]:
    """When the deep challenger is refused, register the run's best baseline and put it through the gate.

    The baseline version gets no alias unless the gate promotes it; the deep version keeps
    ``challenger`` so reviewers find it. Returns the fallback's registration and decision, or why
    there was none.
    """
    if decision["promoted"]:
        return {"gated": False, "why": "the challenger was promoted"}
    fallback = pick_fallback(trained, registered["estimator"])
    if fallback is None:
        return {"gated": False, "why": f"the challenger ({registered['estimator']}) has no baseline to fall back to"}
    version = register_candidate(cfg, run_id, training, trained, fallback["name"], validation, alias=None)
    gated = gate_candidate(cfg, run_id, training, version.to_dict(), trained)
    return {"gated": True, "registered": version.to_dict(), "decision": gated.to_dict()}


def publish_review(
    cfg: HeraldConfig,
    run_id: str,
    challenger: RegisteredModel,
    estimator: Any,
    ts: TrainingSet,
    trained: list[dict[str, Any]],
    review: Review,
    decision: GateDecision,
    policy_value: dict[str, Any],
) -> None:
    """Log the model card and review plots with the version's run and set the card as its description."""
    client = connect(cfg)
    version = client.get_model_version(challenger.name, challenger.version)
    card = model_card(
        name=challenger.name,
        version=challenger.version,
        estimator=challenger.estimator,
        window={"feature_cutoff": ts.feature_cutoff, "as_of": f"the run date of {run_id}"},
        schema=estimator.input_schema(),
        excluded=[a for a in cfg.protected_attributes if a not in cfg.privacy.allow_protected_inputs],
        metrics={m["name"]: m["metrics"] for m in trained},
        champion={"version": decision.champion_version, "auc": decision.champion_auc}
        if decision.champion_version
        else None,
        review=review,
        validation=version.tags.get("data_validation", "unknown"),
        policy_value=_policy_value_lines(policy_value),
    )
    proxies = proxy_inputs(
        load_rows(ts.rows_path, "test"),
        list(cfg.protected_attributes),
        estimator.input_schema(),
        cfg.privacy.proxy_top_k,
    )
    card += proxy_section(proxies, list(cfg.privacy.allow_protected_inputs), cfg.privacy.proxy_threshold)
    out = cfg.run_dir(run_id) / "review"
    card_path = write_card(card, out)
    plot = save_group_plot(review, out)
    with mlflow.start_run(run_id=version.run_id):
        mlflow.log_artifact(str(card_path))
        mlflow.log_artifact(str(plot), "plots")
        mlflow.log_dict(review.to_dict(), "review/review.json")
        mlflow.log_metrics({f"ablation_auc.{k}": v for k, v in review.ablation_auc.items()})
        if review.modality_attributions:
            mlflow.log_metrics(
                {f"ig_mean_abs.{k.replace(' ', '_')}": v for k, v in review.modality_attributions["mean_abs"].items()}
            )
        if review.max_group_auc_gap is not None:
            mlflow.log_metric("max_group_auc_gap", review.max_group_auc_gap)
        mlflow.log_dict(policy_value, "ope/policy_value.json")
        mlflow.log_metrics(_policy_metrics(policy_value))
    headline = policy_value["policy"].get(policy_value["headline"], {})
    client.set_model_version_tag(
        challenger.name,
        challenger.version,
        f"ope.{policy_value['headline']}_value",
        f"{headline.get('estimate', float('nan')):.5f} ({headline.get('status', 'not computed')})"[:250],
    )
    client.update_model_version(challenger.name, challenger.version, description=card)


def _policy_metrics(policy_value: dict[str, Any]) -> dict[str, float]:
    """Finite off-policy figures as MLflow metrics (an estimate that was not computed is left out)."""
    figures = {f"ope.{name}": e["estimate"] for name, e in policy_value["policy"].items()}
    figures |= {
        "ope.logging": policy_value["logging"]["estimate"],
        "ope.improvement_low": policy_value["improvement"]["ci_low"],
        "ope.effective_sample_size": policy_value["effective_sample_size"],
    }
    return {k: float(v) for k, v in figures.items() if v == v}


def _policy_value_lines(policy_value: dict[str, Any]) -> dict[str, str]:
    """The off-policy figures as the model card prints them, each with its status."""

    def interval(entry: dict[str, Any]) -> str:
        status = entry.get("status", "ok")
        if str(status).startswith("not computed"):
            return str(status)
        text = f"{entry['estimate']:.4f} [{entry['ci_low']:.4f}, {entry['ci_high']:.4f}]"
        return text if status == "ok" else f"{text} — {status}"

    lines = {f"this model's policy ({name})": interval(entry) for name, entry in policy_value["policy"].items()}
    lines["logging policy (on-policy)"] = interval(policy_value["logging"])
    lines[f"improvement over logging ({policy_value['headline']})"] = interval(policy_value["improvement"])
    lines["effective sample size"] = (
        f"{policy_value['effective_sample_size']:.1f} of {policy_value['n_rows']} rows "
        f"(estimates below {policy_value['min_effective_sample_size']:g} are unreliable: no evidence for the gate)"
    )
    excluded = {k: v for k, v in policy_value.get("excluded", {}).items() if v}
    lines["rows left out (unusable logging propensity)"] = (
        ", ".join(f"{v} {k}" for k, v in excluded.items()) if excluded else "none"
    )
    unlogged = policy_value.get("unlogged_actions", {})
    if unlogged:
        lines["target probability on never-logged actions (model guess only)"] = (
            f"{unlogged.get('share', 0.0):.1%} over {int(unlogged.get('actions', 0))} action(s)"
        )
    return lines
