"""The release steps of ``herald_training``: register the chosen candidate, gate it, fall back.

The rules live in ``promotion.py`` (pure); this module gathers their inputs (out-of-fold
predictions, the champion's predictions, review figures) and applies their decisions through
``registry.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from models.pyfunc import load_estimator
from pipelines.config import HeraldConfig
from pipelines.monitoring.reference import log_reference
from pipelines.policy.replay import evaluate_policy_offline
from pipelines.tracking import connect
from pipelines.training.dataset import TrainingSet, load_rows
from pipelines.training.evaluate import save_quality_plots
from pipelines.training.evidence import fairness_evidence, policy_evidence
from pipelines.training.fit import fit_blend
from pipelines.training.gate_page import gate_comparison, publish_gate_page
from pipelines.training.promotion import (
    FIXED_ACTION,
    Bootstrap,
    GateDecision,
    GateInputs,
    gate_decision,
    paired_bootstrap,
    select_challenger,
)
from pipelines.training.publish import publish_review
from pipelines.training.registry import (
    CHALLENGER,
    RegisteredModel,
    apply_decision,
    current_champion,
    predict_served,
    register_challenger,
)
from pipelines.training.review import review_model

PRIOR = "prior"


def _finite(value: Any) -> float:
    """A metric from XCom (None where it was NaN) as a float."""
    return float("nan") if value is None else float(value)


def out_of_fold(training: TrainingSet, trained: list[dict[str, Any]]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The out-of-fold rows (same rows for every candidate) and each candidate's calibrated predictions.

    The prior-rate predictor rides along as ``prior``: on block k, the response rate of the rows
    before it, i.e. what one would predict knowing nothing but the past rate.
    """
    rows = pd.read_parquet(training.rows_path)
    oofs = {m["name"]: pd.read_parquet(m["oof_path"]) for m in trained if m.get("oof_path")}
    if not oofs:
        raise ValueError("no candidate carries out-of-fold predictions: train through the protocol first")
    index = next(iter(oofs.values()))["row"].to_numpy()
    evaluated = rows.iloc[index].reset_index(drop=True)
    predictions = {name: frame.set_index("row").loc[index, "calibrated"].to_numpy() for name, frame in oofs.items()}
    fold, y = rows["fold"].to_numpy(), rows["label"].to_numpy(dtype=float)
    rate = {k: float(y[fold < k].mean()) for k in np.unique(fold[index])}
    predictions[PRIOR] = evaluated["fold"].map(rate).to_numpy(dtype=float)
    return evaluated, predictions


def evidence(cfg: HeraldConfig, evaluated: pd.DataFrame, predictions: dict[str, np.ndarray]) -> Bootstrap:
    """Paired customer-bootstrap of every candidate and the prior on the out-of-fold rows."""
    return paired_bootstrap(
        evaluated["label"].to_numpy(),
        predictions,
        evaluated["fold"].to_numpy(),
        evaluated["customer_id"].to_numpy(),
        n_boot=cfg.promotion_bootstrap,
        confidence=cfg.promotion_confidence,
    )


def register(
    cfg: HeraldConfig,
    run_id: str,
    training: dict[str, Any],
    trained: list[dict[str, Any]],
    validation: dict[str, Any],
    mlflow_run_id: str,
) -> dict[str, Any]:
    """Choose the challenger on paired intervals (``promotion.select_challenger``) and register it.

    The deep + LightGBM + logreg blend joins the candidates first (``fit.fit_blend``). Returns every
    candidate (blend included), the selection (evidence and reasons) and the registered version.
    """
    ts = TrainingSet(**training)
    trained = [*trained, *(m.to_dict() for m in fit_blend(cfg, run_id, ts, trained, mlflow_run_id))]
    evaluated, predictions = out_of_fold(ts, trained)
    boot = evidence(cfg, evaluated, predictions)
    candidates = [m["name"] for m in trained if m["name"] != FIXED_ACTION]
    selection = select_challenger(
        boot, candidates, cfg.promotion_preference, prior=PRIOR, min_gain=cfg.promotion_min_auc_gain
    )
    connect(cfg)
    with mlflow.start_run(run_id=mlflow_run_id):  # every model's figures side by side on the DAG run
        mlflow.log_dict(selection.to_dict(), "selection.json")
        mlflow.log_metrics(
            {f"{m['name']}.{k}": v for m in trained for k, v in m["metrics"].items() if v is not None and v == v}
        )
    version = register_candidate(cfg, run_id, ts, trained, selection.challenger, validation)
    return {"trained": trained, "selection": selection.to_dict(), "registered": version.to_dict()}


def register_candidate(
    cfg: HeraldConfig,
    run_id: str,
    ts: TrainingSet,
    trained: list[dict[str, Any]],
    name: str,
    validation: dict[str, Any],
    alias: str | None = CHALLENGER,
) -> RegisteredModel:
    """Register one candidate's served (refitted, calibrated) file from its own MLflow child run.

    Its plots draw the newest-fold fits of the run's other models on the newest block beside it;
    the drift reference and the tags (validation, data window) go with the version.
    """
    test = load_rows(ts.rows_path, "test")
    candidate = next(m for m in trained if m["name"] == name)
    ordered = [candidate, *(m for m in trained if m["name"] != name)]
    predictions = {m["name"]: load_estimator(Path(m["review_path"])).predict_proba(test) for m in ordered}
    connect(cfg)
    plots = save_quality_plots(
        test["label"].to_numpy(),
        predictions,
        cfg.run_dir(run_id) / "plots" / name,
        f"{name} on the newest block (fits that never saw it), beside the run's other models",
    )
    with mlflow.start_run(run_id=candidate["mlflow_run_id"]):
        for path in plots:
            mlflow.log_artifact(str(path), "plots")
    # Distributions only (no customer row reaches MLflow); the estimator adds its embeddings' sketch.
    log_reference(cfg, candidate["mlflow_run_id"], ts.reference_path, load_estimator(candidate["estimator_path"]))
    tags = {
        "data_validation": "passed" if validation.get("passed", False) else "failed",
        "feature_cutoff": ts.feature_cutoff,
        "labelled_until": ts.labelled_until,
        "test_auc": f"{candidate['metrics'].get('test_auc', float('nan')):.4f}",
        "cv_auc": f"{candidate['metrics'].get('cv_auc', float('nan')):.4f}",
        "calibration": str(candidate.get("params", {}).get("calibration", "none")),
        "dag_run_id": run_id,
        # A protected attribute is an input only when explicitly allowed; the version says which.
        "privacy.protected_inputs": ",".join(cfg.privacy.allow_protected_inputs) or "none",
    }
    return register_challenger(
        cfg, candidate["mlflow_run_id"], candidate["estimator_path"], name, test, tags, alias=alias
    )


def versus_champion(
    cfg: HeraldConfig, champion: RegisteredModel, evaluated: pd.DataFrame, challenger_p: np.ndarray
) -> tuple[tuple[float, float, float] | None, float | None]:
    """(challenger − champion) AUC with its interval on out-of-fold rows newer than the champion's
    training data, and the champion's AUC there; (None, None) with too few such rows."""
    client = connect(cfg)
    tags = client.get_model_version(cfg.model_name, champion.version).tags
    sent = pd.to_datetime(evaluated["sent_at"], utc=True)
    until = tags.get("labelled_until")
    # A version from before the protocol records no data end: compare on the newest block.
    newer = (sent > pd.Timestamp(until)) if until else (evaluated["fold"] == evaluated["fold"].max())
    newer = newer.to_numpy()
    rows = evaluated[newer]
    if len(rows) < cfg.promotion_min_champion_rows or rows["label"].nunique() < 2:
        return None, None
    champion_p = predict_served(mlflow.pyfunc.load_model(champion.model_uri), rows)
    boot = paired_bootstrap(
        rows["label"].to_numpy(),
        {"challenger": challenger_p[newer], "champion": champion_p},
        rows["fold"].to_numpy(),
        rows["customer_id"].to_numpy(),
        n_boot=cfg.promotion_bootstrap,
        confidence=cfg.promotion_confidence,
    )
    return boot.auc_difference("challenger", "champion"), boot.auc["champion"]


def gate(
    cfg: HeraldConfig,
    run_id: str,
    training: dict[str, Any],
    trained: list[dict[str, Any]],
    registered: dict[str, Any],
    selection: dict[str, Any],
) -> GateDecision:
    """Judge a registered version (``promotion.gate_decision``), apply the verdict, publish its review."""
    ts = TrainingSet(**training)
    challenger = RegisteredModel(**registered)
    candidate = next(m for m in trained if m["name"] == challenger.estimator)
    test = load_rows(ts.rows_path, "test")
    reviewed = load_estimator(Path(candidate["review_path"]))
    review = review_model(reviewed, test, cfg.protected_attributes)
    # The policy this model would run, valued off-policy on the newest block's logged sends (DESIGN §5).
    policy_value = evaluate_policy_offline(test, reviewed.predict_proba, cfg.policy)
    evaluated, predictions = out_of_fold(ts, trained)
    champion = current_champion(cfg)
    if champion is not None and champion.version == challenger.version:
        champion = None  # a retried gate judges the version it may already have promoted
    compared, champion_auc = (
        versus_champion(cfg, champion, evaluated, predictions[challenger.estimator]) if champion else (None, None)
    )
    evidence_of = selection.get("evidence", {}).get(challenger.estimator, {})
    checks = [
        fairness_evidence(review, cfg.promotion_max_group_auc_gap, cfg.promotion_fairness_not_computed),
        policy_evidence(policy_value, cfg.policy.ope_block_when_worse),
    ]
    inputs = GateInputs(
        version=challenger.version,
        estimator=challenger.estimator,
        # Block-mean out-of-fold AUC, as the selection measured it (pooled AUC mixes the blocks' rates).
        auc=_finite(evidence_of.get("auc", candidate["metrics"].get("cv_auc"))),
        ece=_finite(candidate["metrics"].get("cv_ece")),
        group_auc_gap=None,  # judged by the fairness check, with the not-computed rule
        checks=checks,
        champion_version=champion.version if champion else None,
        champion_estimator=champion.estimator if champion else None,
        versus_champion=compared,
        champion_auc=champion_auc,
        notes=[r for r in selection.get("reasons", []) if challenger.estimator in r or FIXED_ACTION in r],
    )
    decision = gate_decision(
        inputs,
        margin=cfg.promotion_margin,
        max_ece=cfg.promotion_max_ece,
        max_group_auc_gap=cfg.promotion_max_group_auc_gap,
    )
    apply_decision(cfg, run_id, decision, {k: v for c in checks for k, v in c.tags.items()})
    publish_review(cfg, run_id, challenger, reviewed, ts, trained, review, decision, policy_value, selection)
    comparison = gate_comparison(cfg, test, reviewed, challenger.to_dict(), trained, decision.to_dict())
    publish_gate_page(cfg, challenger.to_dict(), decision.to_dict(), comparison, policy_value, review.to_dict())
    return decision


def gate_fallback(
    cfg: HeraldConfig,
    run_id: str,
    training: dict[str, Any],
    trained: list[dict[str, Any]],
    selection: dict[str, Any],
    registered: dict[str, Any],
    decision: dict[str, Any],
    validation: dict[str, Any],
) -> dict[str, Any]:
    """When the challenger is refused, gate the next eligible candidate; with no champion at all,
    the fixed-action model, so a first run always leaves something to serve.

    Fallback versions get no alias unless the gate promotes them. Returns the last fallback's
    registration and decision, or why there was none.
    """
    if decision["promoted"]:
        return {"gated": False, "why": "the challenger was promoted"}
    tried = registered["estimator"]
    queue = [n for n in selection["eligible"] if n != tried]
    if current_champion(cfg) is None and tried != FIXED_ACTION:
        queue.append(FIXED_ACTION)
    if not queue:
        return {"gated": False, "why": f"no candidate left after {tried}, and a champion serves"}
    ts = TrainingSet(**training)
    for name in queue:
        version = register_candidate(cfg, run_id, ts, trained, name, validation, alias=None)
        gated = gate(cfg, run_id, training, trained, version.to_dict(), selection)
        if gated.promoted:
            break
    return {"gated": True, "registered": version.to_dict(), "decision": gated.to_dict()}
