"""The model card and review material a registered version carries in MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from pipelines.config import HeraldConfig
from pipelines.tracking import VERSION_DESCRIPTION_MAX, connect, fit_markdown
from pipelines.training.dataset import TrainingSet, load_rows
from pipelines.training.promotion import GateDecision
from pipelines.training.proxies import proxy_inputs, proxy_section
from pipelines.training.registry import RegisteredModel
from pipelines.training.review import MIN_GROUP_POSITIVES, Review, save_group_plot

# Tables the registered version's description leaves out first when the card is over MLflow's limit:
# they stay in the artifact model_card.md, and attributions also as the run's metrics.
CARD_DETAILS = ("Attributions", "Integrated gradients", "Modality ablation", "Fairness")


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
    selection: dict[str, Any] | None = None,
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
        selection=selection,
        decision=decision.reasons,
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
    description = fit_markdown(card, VERSION_DESCRIPTION_MAX, f"model_card.md of run {version.run_id}", CARD_DETAILS)
    client.update_model_version(challenger.name, challenger.version, description=description)


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


def model_card(
    *,
    name: str,
    version: str,
    estimator: str,
    window: dict[str, str],
    schema: dict[str, str],
    excluded: list[str],
    metrics: dict[str, dict[str, float]],
    champion: dict[str, Any] | None,
    review: Review,
    validation: str,
    policy_value: dict[str, Any] | None = None,
    selection: dict[str, Any] | None = None,
    decision: list[str] | None = None,
) -> str:
    """The model card in Markdown: also set as the registered version's description.

    ``selection`` is ``promotion.Selection.to_dict()`` (interval evidence per candidate and the
    reasons of the choice); ``decision`` the gate's reasons.
    """
    lines = [
        f"# {name} v{version} — {estimator}",
        "",
        "**Intended use.** Estimate P(converted | customer, message, channel, send hour) and, against the "
        "hold-out, the uplift of each candidate, for Herald's daily next-best-message scoring. Not for "
        "credit, pricing or any decision outside marketing contact.",
        "",
        f"**Data window.** Features as of {window.get('feature_cutoff', '?')}; labels from sends up to "
        f"{window.get('as_of', '?')}. Rolling-origin validation by send time; this version is refitted on "
        "every labelled send and calibrated on out-of-fold scores. Test figures: the newest block, scored "
        f"by fits that never saw it. Data validation: {validation}.",
        "",
        f"**Inputs.** {len(schema)} raw columns: " + ", ".join(sorted(schema)) + ".",
        "",
        f"**Excluded protected attributes.** {', '.join(excluded) or 'none'} (used only for fairness review).",
        "",
        *(
            [
                "**Serving the best fixed action.** No learned model beat the prior-rate predictor with "
                "confidence, so every customer gets the action with the best logged response rate "
                "(consent, quiet hours, caps and channel cost still apply).",
                "",
            ]
            if estimator == "fixed_action"
            else []
        ),
        "## Test metrics (newest block)",
        "",
        "| model | AUC | PR-AUC | log loss | Brier | ECE |",
        "|---|---|---|---|---|---|",
    ]
    for model, m in metrics.items():
        lines.append(
            f"| {model} | "
            + " | ".join(f"{_nan(m.get(f'test_{k}')):.4f}" for k in ("auc", "pr_auc", "log_loss", "brier", "ece"))
            + " |"
        )
    if selection:
        lines += selection_lines(selection)
    lines += ["", "## Against the current champion", ""]
    if champion:
        lines.append(
            f"Champion v{champion.get('version')}: AUC {champion.get('auc') or float('nan'):.4f} on out-of-fold "
            "rows newer than its training data (NaN: too few such rows)."
        )
    else:
        lines.append("No champion when this version was gated: it could become the first one.")
    lines += [f"- {r}" for r in decision or []]
    if policy_value:
        lines += ["", "## Policy value (off-policy, newest block)", ""]
        lines += [f"- {k}: {v}" for k, v in policy_value.items()]
    lines += [
        "",
        "## Fairness (newest block, per group)",
        "",
        _gap_sentence(review),
        "",
    ]
    for column, per in review.group_metrics.items():
        cells = "; ".join(
            f"{g}: n={int(m['n'])}, responders={int(m.get('positives', 0))}, "
            f"AUC={'not computed' if not np.isfinite(m['auc']) else format(m['auc'], '.3f')}, "
            f"mean p={m['mean_prediction']:.4f}, rate={m['response_rate']:.4f}"
            for g, m in per.items()
        )
        lines.append(f"- **{column}** — {cells}")
    if review.ablation_auc:
        lines += ["", "## Modality ablation (test AUC with the modality's inputs blanked)", ""]
        lines += [f"- {k}: {v:.4f}" for k, v in review.ablation_auc.items()]
    if review.attributions:
        lines += ["", "## Attributions (AUC lost when the column is shuffled)", ""]
        lines += [f"- {k}: {v:+.4f}" for k, v in review.attributions.items()]
    if review.modality_attributions:
        ig = review.modality_attributions
        lines += [
            "",
            f"## Integrated gradients by modality ({ig['rows']} test rows, logit units)",
            "",
            "Contribution of each modality to the logit relative to all modalities blank; "
            f"worst completeness error {ig['max_completeness_error']:.1e}.",
            "",
            "| modality | mean abs | mean |",
            "|---|---|---|",
        ]
        lines += [
            f"| {k} | {v:.4f} | {ig['mean'][k]:+.4f} |"
            for k, v in sorted(ig["mean_abs"].items(), key=lambda kv: -kv[1])
        ]
    lines += [
        "",
        "## Known limits",
        "",
        "- Trained on logged sends of one logging policy; actions it rarely took are estimated with little data.",
        "- Labels are conversions within the 7-day attribution window; later effects are not seen.",
        f"- Group AUCs for groups with under {MIN_GROUP_POSITIVES} responders (or non-responders) are not computed.",
        "",
    ]
    return "\n".join(lines)


def _nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


def selection_lines(selection: dict[str, Any]) -> list[str]:
    """The card's "how this version was chosen" section: interval evidence per candidate and reasons."""
    lines = [
        "",
        "## How this version was chosen",
        "",
        "Out-of-fold rows of every validation block, paired customer-bootstrap intervals. A candidate is "
        "eligible when the lower bound of its AUC gain over the prior-rate predictor (the past response "
        "rate, AUC 0.5) is above zero; the log-loss gain over it says how much its probabilities add.",
        "",
        "| candidate | AUC [interval] | log-loss gain [interval] |",
        "|---|---|---|",
    ]
    for name, e in selection.get("evidence", {}).items():
        lines.append(
            f"| {name} | {_nan(e['auc']):.4f} [{_nan(e['auc_low']):.4f}, {_nan(e['auc_high']):.4f}] | "
            f"{_nan(e['log_loss_gain']):+.5f} [{_nan(e['log_loss_gain_low']):+.5f}, "
            f"{_nan(e['log_loss_gain_high']):+.5f}] |"
        )
    lines += ["", *[f"- {r}" for r in selection.get("reasons", [])]]
    return lines


def write_card(text: str, out_dir: Path) -> Path:
    """Write the card as ``model_card.md`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model_card.md"
    path.write_text(text)
    return path


def _gap_sentence(review: Review) -> str:
    """The card's fairness headline: the gap over the groups it covers, and which groups it could not cover."""
    missing = review.auc_not_computed
    if review.max_group_auc_gap is None:
        head = "Largest AUC gap between groups: not computed (no attribute has two groups with a computable AUC)."
    else:
        head = f"Largest AUC gap between groups with a computable AUC: {review.max_group_auc_gap:.4f}."
    if missing:
        head += f" AUC not computed for {len(missing)} group(s): {'; '.join(missing)}."
    return head
