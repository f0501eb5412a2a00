"""The reviewer's gate page: why a registered version was (not) promoted, on its MLflow run.

One renderer, called once per gated version (``release.gate_candidate``): it takes the gate's
decision dict as it is (extra keys a newer gate adds are shown, not dropped) with the review
material already computed, and writes

- the training runs' description (``mlflow.note.content``: the version's own run and the DAG
  run's parent run), so the MLflow run page opens on the decision and its reasons;
- ``gate.*`` / ``ope.*`` / ``fairness.*`` tags on the version's run and the model version, so
  runs can be searched by outcome;
- ``gate/gate_page.md`` as an artifact, and a note whenever two aliases share one version.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.config import HeraldConfig
from pipelines.training.evaluate import auc_comparison

CONFIDENCE = 0.90
# The page's ``auc_comparison`` as JSON in the version's run (NaN as null); the run's models keyed name + THIS_RUN.
AUC_COMPARISON_ARTIFACT = "gate/auc_comparison.json"
THIS_RUN = " (this run)"
# Below this share of effective rows an off-policy interval rests on a handful of customers.
LOW_ESS_SHARE = 0.10


def _f(x: Any, digits: int = 4) -> str:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "n/a" if not np.isfinite(value) else f"{value:.{digits}f}"


def _interval(entry: dict[str, Any], key: str = "estimate", low: str = "ci_low", high: str = "ci_high") -> str:
    return f"{_f(entry.get(key))} [{_f(entry.get(low))}, {_f(entry.get(high))}]"


def render_gate_page(
    decision: dict[str, Any],
    *,
    model: dict[str, str],
    comparison: dict[str, dict[str, float]],
    policy_value: dict[str, Any] | None,
    review: dict[str, Any] | None,
    protected: list[str],
    aliases: dict[str, str],
    bounds: dict[str, float],
) -> tuple[str, dict[str, str]]:
    """The gate page (Markdown) and its tags, from the gate's decision and the review material.

    ``model``: name, version, estimator. ``comparison``: ``auc_comparison`` output (challenger
    first). ``policy_value``: ``evaluate_policy_offline`` output. ``review``: ``Review.to_dict()``.
    ``aliases``: alias → version of the registered model after the gate. ``bounds``: the gate's
    settings (margin, max ECE, max group AUC gap) as configured.
    """
    promoted = bool(decision.get("promoted"))
    verdict = "PROMOTED to champion" if promoted else "NOT promoted"
    title = f"{model['name']} v{model['version']} ({model['estimator']})"
    lines = [f"# Gate: {title} — {verdict}", ""]
    lines += ["## Why", "", *(f"- {r}" for r in decision.get("reasons") or ["(the gate gave no reason)"]), ""]
    known = {"promoted", "version", "reasons", "challenger_auc", "champion_version", "champion_auc"}
    extra = {k: v for k, v in decision.items() if k not in known}
    if extra:
        lines += ["Other figures the gate recorded: " + "; ".join(f"{k} = {_show(v)}" for k, v in extra.items()), ""]

    conf = f"{CONFIDENCE:.0%}"
    lines += [
        "## Challenger vs champion and baselines (test split)",
        "",
        f"AUC with its {conf} bootstrap interval; the difference is the challenger's AUC minus the other's, "
        f"paired on the same resampled rows (an interval above 0 means the challenger is better beyond noise). "
        f"The gate requires a margin of {bounds.get('margin')} over each.",
        "",
        "| model | AUC | challenger − model |",
        "|---|---|---|",
    ]
    for name, row in comparison.items():
        diff = "—" if "diff" not in row else _interval(row, "diff", "diff_low", "diff_high")
        lines.append(f"| {name} | {_interval(row, 'auc', 'auc_low', 'auc_high')} | {diff} |")
    lines.append("")

    tags = {
        "gate.decision": "promoted" if promoted else "not promoted",
        "gate.reasons": "; ".join(decision.get("reasons") or [])[:4900],
        "gate.challenger_auc": _f(decision.get("challenger_auc")),
        "gate.champion_version": str(decision.get("champion_version") or "none"),
    }
    lines += _policy_section(policy_value, tags)
    lines += _fairness_section(review, protected, bounds, tags)
    lines += _alias_section(aliases, model["version"], promoted)
    lines += [
        "## Charts",
        "",
        "One PNG per chart in this run's `plots/` artifacts: ROC, precision-recall, calibration, cumulative gain, "
        "lift by decile (this model bold, the run's other models beside it on the same test rows), and the "
        "per-group figures of the review.",
        "",
    ]
    return "\n".join(lines), tags


def _show(value: Any) -> str:
    if isinstance(value, float):
        return _f(value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items())
    return str(value)


def _policy_section(policy_value: dict[str, Any] | None, tags: dict[str, str]) -> list[str]:
    lines = ["## Off-policy value of the policy this model would run", ""]
    if not policy_value:
        return [*lines, "Not computed: no logged sends with propensities in the test split.", ""]
    conf = f"{float(policy_value.get('confidence', CONFIDENCE)):.0%}"
    n, ess = int(policy_value.get("n_rows", 0)), float(policy_value.get("effective_sample_size", float("nan")))
    lines += [f"Conversion rate per customer, {conf} bootstrap intervals, on {n:,} held-out logged sends.", ""]
    lines += ["| estimator | value | note |", "|---|---|---|"]
    for name, entry in (policy_value.get("policy") or {}).items():
        flags = [k for k in ("unreliable", "warning", "reliable") if k in entry]
        note = "; ".join(f"{k}: {entry[k]}" for k in flags) or ""
        lines.append(f"| this model's policy ({name}) | {_interval(entry)} | {note} |")
    logging = policy_value.get("logging") or {}
    lines.append(f"| logging policy (what was sent) | {_interval(logging)} | on-policy mean |")
    gain = policy_value.get("improvement_dr") or {}
    lines += ["", f"**Doubly-robust improvement over the logging policy: {_interval(gain)}.**"]
    low, high, est = (float(gain.get(k, float("nan"))) for k in ("ci_low", "ci_high", "estimate"))
    if np.isfinite(high) and high < 0:
        lines.append("The policy is estimated **worse** than the logging policy, beyond the interval's noise.")
    elif np.isfinite(est) and est < 0:
        lines.append(
            "The point estimate is **below** the logging policy; the interval includes 0, so the data cannot "
            "tell them apart."
        )
    elif np.isfinite(low) and low > 0:
        lines.append("The policy is estimated better than the logging policy beyond the interval's noise.")
    else:
        lines.append("The interval includes 0: the data cannot tell this policy from the logging policy.")
    share = ess / n if n else float("nan")
    lines.append(
        f"Effective sample size {ess:,.0f} of {n:,} rows ({share:.1%})"
        + (": few rows carry the estimate; read its interval with caution." if share < LOW_ESS_SHARE else ".")
    )
    lines.append("")
    tags |= {
        "ope.dr": _f((policy_value.get("policy") or {}).get("dr", {}).get("estimate"), 5),
        "ope.improvement_dr": _interval(gain),
        "ope.effective_sample_size": f"{ess:.0f} of {n}",
    }
    return lines


def _fairness_section(
    review: dict[str, Any] | None, protected: list[str], bounds: dict[str, float], tags: dict[str, str]
) -> list[str]:
    lines = ["## Fairness (protected attributes, test split)", ""]
    groups = (review or {}).get("group_metrics") or {}
    not_computed = [f"{a}: not in the test rows" for a in protected if a not in groups]
    if groups:
        lines += ["| attribute | group | rows | response rate | mean prediction | AUC |", "|---|---|---|---|---|---|"]
    judged = 0
    for attribute, per in groups.items():
        missing = []
        for group, m in per.items():
            auc = _f(m.get("auc"), 3)
            if auc == "n/a":
                missing.append(str(group))
            lines.append(
                f"| {attribute} | {group} | {int(m.get('n', 0)):,} | {_f(m.get('response_rate'), 3)} | "
                f"{_f(m.get('mean_prediction'), 3)} | {auc} |"
            )
        judged += int(len(per) - len(missing) >= 2)
        if missing:
            not_computed.append(
                f"AUC of {attribute} = {', '.join(missing)}: too few responders or non-responders to judge"
            )
    gap = (review or {}).get("max_group_auc_gap", float("nan"))
    if judged:
        lines += ["", f"Largest AUC gap between groups: {_f(gap)} (bound {bounds.get('max_group_auc_gap')})."]
    else:
        gap = float("nan")
        lines += [
            "",
            "Largest AUC gap between groups: **not computed** — no attribute had two groups with enough "
            f"responders, so the gate's group-gap bound ({bounds.get('max_group_auc_gap')}) was not tested.",
        ]
    lines += ["", "Not computed here:", *(f"- {n}" for n in not_computed), ""]
    tags |= {"fairness.max_group_auc_gap": _f(gap), "fairness.not_computed": "; ".join(not_computed)[:4900]}
    return lines


def _alias_section(aliases: dict[str, str], version: str, promoted: bool) -> list[str]:
    lines = ["## Aliases after this gate", ""]
    lines += [f"- `{alias}` → v{v}" for alias, v in sorted(aliases.items())] or ["- none"]
    shared = alias_note(aliases)
    if shared:
        lines += ["", shared]
    lines.append("")
    return lines


def alias_note(aliases: dict[str, str]) -> str:
    """A sentence for every version that two aliases share, saying why; empty when none is shared."""
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    notes = []
    for version, names in sorted(by_version.items()):
        if len(names) > 1:
            why = (
                "the challenger passed the gate and became champion; `challenger` moves to the next run's candidate"
                if {"champion", "challenger"} <= set(names)
                else "set by hand"
            )
            notes.append(f"{' and '.join(f'`{n}`' for n in sorted(names))} both point at v{version}: {why}.")
    return " ".join(notes)


def publish_gate_page(
    cfg: HeraldConfig,
    model: dict[str, str],
    decision: dict[str, Any],
    comparison: dict[str, dict[str, float]],
    policy_value: dict[str, Any] | None,
    review: dict[str, Any] | None,
) -> str:
    """Render the page and write it to MLflow (descriptions, tags, artifact); returns the Markdown."""
    import mlflow

    from pipelines.tracking import RUN_TAG_MAX, VERSION_TAG_MAX, connect, fit_markdown

    client = connect(cfg)
    version = client.get_model_version(model["name"], model["version"])
    aliases = {str(a): str(v) for a, v in dict(client.get_registered_model(model["name"]).aliases).items()}
    page, tags = render_gate_page(
        decision,
        model=model,
        comparison=comparison,
        policy_value=policy_value,
        review=review,
        protected=list(cfg.protected_attributes),
        aliases=aliases,
        bounds={
            "margin": cfg.promotion_margin,
            "max_ece": cfg.promotion_max_ece,
            "max_group_auc_gap": cfg.promotion_max_group_auc_gap,
        },
    )
    run = client.get_run(version.run_id)
    parent = run.data.tags.get("mlflow.parentRunId")
    whole = f"the artifact gate/gate_page.md of run {version.run_id}"
    client.set_tag(version.run_id, "mlflow.note.content", fit_markdown(page, RUN_TAG_MAX, whole))
    if parent:  # the DAG run may gate two versions (deep, then the fallback): its description keeps both
        before = client.get_run(parent).data.tags.get("mlflow.note.content", "")
        kept = [p for p in before.split("\n\n---\n\n") if p.startswith("# Gate:") and f" v{model['version']} " not in p]
        both = "\n\n---\n\n".join([*kept, page])
        whole_both = "each version's gate/gate_page.md"
        client.set_tag(parent, "mlflow.note.content", fit_markdown(both, RUN_TAG_MAX, whole_both))
    for key, value in tags.items():
        client.set_tag(version.run_id, key, fit_markdown(value, RUN_TAG_MAX, whole))
        client.set_model_version_tag(model["name"], model["version"], key, fit_markdown(value, VERSION_TAG_MAX, whole))
    note = alias_note(aliases)
    if note:
        client.set_model_version_tag(model["name"], model["version"], "aliases.note", note)
    with mlflow.start_run(run_id=version.run_id):
        mlflow.log_text(page, "gate/gate_page.md")
        strict = {m: {k: (None if np.isnan(v) else v) for k, v in row.items()} for m, row in comparison.items()}
        mlflow.log_dict(strict, AUC_COMPARISON_ARTIFACT)
    return page


def gate_comparison(
    cfg: HeraldConfig,
    test: Any,
    estimator: Any,
    model: dict[str, str],
    trained: list[dict[str, Any]],
    decision: dict[str, Any],
) -> dict[str, dict[str, float]]:
    """``auc_comparison`` of the gated model against the champion it faced and the run's other models."""
    from models.pyfunc import load_estimator
    from pipelines.tracking import connect
    from pipelines.training.registry import predict_served

    predictions = {f"{model['estimator']} v{model['version']} (challenger)": estimator.predict_proba(test)}
    if decision.get("champion_version"):
        import mlflow

        connect(cfg)
        served = mlflow.pyfunc.load_model(f"models:/{model['name']}/{decision['champion_version']}")
        predictions[f"champion v{decision['champion_version']}"] = predict_served(served, test)
    for m in trained:
        if m["name"] != model["estimator"]:
            path = m.get("review_path") or m["estimator_path"]
            predictions[m["name"] + THIS_RUN] = load_estimator(path).predict_proba(test)
    return auc_comparison(test["label"].to_numpy(), predictions)
