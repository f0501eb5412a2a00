"""Randomized experiments (Hillstrom, or one `herald import` brought in): generic training, held-out policy values."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.policy.experiment_report import log_results
from pipelines.warehouse.hillstrom.importer import ImportResult, Target, hillstrom_config, import_file

RUN_SUMMARY_ID = "herald_hillstrom"
FIXED_NAMES = {"holdout": "nobody", "hillstrom_mens@email": "all_mens", "hillstrom_womens@email": "all_womens"}


def run_experiment(
    cfg: HeraldConfig,
    path: str | Path | None = None,
    target: Target | None = None,
    deep: bool | None = None,
    now: datetime | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Import the file, then :func:`evaluate` (train, value every policy on held-out customers)."""
    hcfg = hillstrom_config(cfg)
    now = now or datetime.now(UTC)
    timings: dict[str, float] = {}
    with _timed(timings, "import"):
        imported = import_file(hcfg, path, target, now)
    return evaluate(cfg, imported, deep=deep, now=now, progress=progress, timings=timings)


def evaluate(
    cfg: HeraldConfig,
    imported: ImportResult,
    deep: bool | None = None,
    now: datetime | None = None,
    progress: Any = None,
    run_id: str | None = None,
    timings: dict[str, float] | None = None,
    experiment_cfg: HeraldConfig | None = None,
) -> dict[str, Any]:
    """Train Herald's models on an imported randomized experiment with the generic code; value every policy.

    Customers are split at random (never by time: the whole campaign is one window) into train
    (+ an early-stopping slice), validation (the safe-policy decision) and test (every reported
    figure); split shares, bootstrap and confidence are ``cfg.hillstrom``'s. Everything is logged to
    one MLflow run in the experiment's ``mlflow_experiment``. The experiment's config is
    ``experiment_cfg`` for data `herald import` brought in (e.g. Gerber through its mapping), else
    Hillstrom's (:func:`hillstrom_config`).
    """
    import dataclasses

    from models.pyfunc import load_estimator
    from pipelines.policy import ope_intervals, uplift_eval
    from pipelines.policy.safe_improvement import bandit, choose_safe_policy
    from pipelines.tracking import connect, write_run_summary
    from pipelines.training.dataset import build_features
    from pipelines.training.fit import fit_on_split
    from pipelines.validation.gate import validate
    from pipelines.warehouse.extract import extract

    say = progress or (lambda message: None)
    hcfg = experiment_cfg or hillstrom_config(cfg)
    h = hcfg.hillstrom
    now = now or datetime.now(UTC)
    run_id = run_id or f"{hcfg.dataset}-{now:%Y%m%dT%H%M%S}"
    timings = dict(timings or {})

    def clock(stage: str) -> Any:
        return _timed(timings, stage)

    say(f"imported {imported.rows['customers']:,} customers into dataset {imported.dataset} (target {imported.target})")
    client = connect(hcfg)
    experiment = client.get_experiment_by_name(hcfg.mlflow_experiment)
    assert experiment is not None
    parent = client.create_run(
        experiment.experiment_id,
        run_name=run_id,
        tags={"herald.dataset": hcfg.dataset, "herald.target": imported.target},
    ).info.run_id
    with clock("extract_validate_features"):
        extracted = extract(hcfg, run_id, "training", now)
        validated = validate(hcfg, run_id, extracted.to_dict(), mlflow_run_id=parent)
        training = build_features(
            hcfg, run_id, validated["paths"], datetime.fromisoformat(extracted.windows["feature_cutoff"]), now
        )
    rows = pd.read_parquet(training.rows_path)
    split = uplift_eval.customer_split(
        rows["customer_id"],
        validation_share=h.validation_share,
        test_share=h.test_share,
        early_stop_share=h.early_stop_share,
        seed=h.seed,
    )
    # The generic trainers read "split": train fits, valid steers early stopping, test is only reported there.
    rows["split"] = np.select([split == "train", split == "stop"], ["train", "valid"], "test")
    resplit = Path(training.rows_path).with_name("training_rows_customer_split.parquet")
    rows.to_parquet(resplit, index=False)
    training = dataclasses.replace(
        training, rows_path=str(resplit), split_counts={k: int(v) for k, v in pd.Series(split).value_counts().items()}
    )
    say(f"random customer split: {training.split_counts}")

    with clock("train_baselines"):
        trained = fit_on_split(hcfg, run_id, training, parent, ("logreg", "lightgbm"))
    use_deep = hcfg.deep.enabled if deep is None else deep
    if use_deep:
        with clock("train_deep"):
            trained += fit_on_split(hcfg, run_id, training, parent, ("deep",))
    say("trained " + ", ".join(t.name for t in trained))

    messages = pd.read_parquet(training.messages_path)
    actions = uplift_eval.logged_actions(rows)
    holdout = next(i for i, a in enumerate(actions) if a.is_holdout)
    names = [FIXED_NAMES.get(a.name, f"all_{a.name}") for a in actions]
    valid_rows = rows[split == "validation"].reset_index(drop=True)
    test_rows = rows[split == "test"].reset_index(drop=True)
    logged_v, logged_t = (uplift_eval.action_index(r, actions) for r in (valid_rows, test_rows))
    y_v, y_t = (r["label"].to_numpy(dtype=float) for r in (valid_rows, test_rows))
    p_v, p_t = (r["propensity"].to_numpy(dtype=float) for r in (valid_rows, test_rows))

    with clock("score_and_evaluate"):
        q_valid: dict[str, np.ndarray] = {}
        q_test: dict[str, np.ndarray] = {}
        for model in trained:
            estimator = load_estimator(Path(model.estimator_path))
            q_valid[model.name] = uplift_eval.predict_actions(estimator, valid_rows, messages, actions)
            q_test[model.name] = uplift_eval.predict_actions(estimator, test_rows, messages, actions)
        q_valid["tlearner"], q_test["tlearner"] = _naive_tlearner(hcfg, rows, split, actions, valid_rows, test_rows)
        # DR needs one reward model for the policies that have none of their own: the LightGBM one.
        reference_q = q_test["lightgbm"]
        policies: dict[str, dict[str, Any]] = {}

        def value(name: str, chosen: np.ndarray | None, probs: np.ndarray | None, q: np.ndarray) -> None:
            data = bandit(
                chosen if chosen is not None else np.zeros(len(y_t), dtype=np.int64),
                logged_t,
                y_t,
                p_t,
                q,
                policy_probs=probs,
            )
            est = ope_intervals.evaluate(data, h.bootstrap, h.confidence, h.seed, estimators=("ips", "snips", "dr"))
            policies[name] = {
                "ips": est["ips"]["estimate"],
                "ci_low": est["ips"]["ci_low"],
                "ci_high": est["ips"]["ci_high"],
                "snips": est["snips"]["estimate"],
                "dr": est["dr"]["estimate"],
                "dr_ci_low": est["dr"]["ci_low"],
                "dr_ci_high": est["dr"]["ci_high"],
                "effective_sample_size": est["dr"]["effective_sample_size"],
            }
            if chosen is not None:
                policies[name]["share"] = {names[k]: float(np.mean(chosen == k)) for k in range(len(actions))}

        for k, name in enumerate(names):
            value(name, np.full(len(y_t), k), None, reference_q)
        value("random", None, np.full((len(y_t), len(actions)), 1.0 / len(actions)), reference_q)

        decisions: dict[str, Any] = {}
        curves: dict[str, dict[str, dict[str, Any]]] = {}
        for model_name in q_test:
            label = "naive_tlearner" if model_name == "tlearner" else f"personalized_{model_name}"
            # The experiment values visits/conversions per customer: no channel cost, any positive uplift sends.
            pers_v = uplift_eval.greedy_policy(q_valid[model_name], holdout, 0.0, None)
            pers_t = uplift_eval.greedy_policy(q_test[model_name], holdout, 0.0, None)
            value(label if model_name == "tlearner" else f"{label}_raw", pers_t, None, q_test[model_name])
            curves[model_name] = uplift_eval.uplift_curves(q_test[model_name], logged_t, y_t, actions, holdout)
            if model_name == "tlearner":
                continue  # the naive reference is reported as it is, without the safety net
            decision = choose_safe_policy(
                pers_v,
                logged_v,
                y_v,
                p_v,
                len(actions),
                q_hat=q_valid[model_name],
                estimator="dr",
                n_bootstrap=h.bootstrap,
                confidence=h.confidence,
                margin=h.spi_margin,
                seed=h.seed,
            )
            value(label, decision.apply(pers_t), None, q_test[model_name])
            policies[label]["deployed"] = (
                decision.deployed if decision.personalize else f"best_fixed:{names[decision.best_fixed_action]}"
            )
            decisions[model_name] = {**decision.to_dict(), "best_fixed_name": names[decision.best_fixed_action]}

    fixed_values = {n: policies[n]["ips"] for n in names}
    best_name = max(fixed_values, key=fixed_values.__getitem__)
    result: dict[str, Any] = {
        "run_id": run_id,
        "mlflow_run_id": parent,
        "target": imported.target,
        "rows": imported.rows,
        "split_counts": training.split_counts,
        "modalities": _modalities(trained),
        "best_single_arm": {"name": best_name, "visit_rate": fixed_values[best_name]},
        "policies": policies,
        "safe_policy": decisions,
        "qini": {
            m: {arm: c.get("qini_coefficient", c["status"]) for arm, c in per.items()} for m, per in curves.items()
        },
        "models": {t.name: {k: v for k, v in t.metrics.items() if k.startswith("test_")} for t in trained},
        "timings_s": timings,
        "confidence": h.confidence,
        "bootstrap": h.bootstrap,
    }
    log_results(hcfg, parent, result, curves, run_id)
    client.set_terminated(parent, "FINISHED")
    write_run_summary(hcfg, RUN_SUMMARY_ID, result)
    return result


@contextlib.contextmanager
def _timed(sink: dict[str, float], stage: str) -> Iterator[None]:
    """Record how long a stage took, in seconds."""
    started = time.perf_counter()
    yield
    sink[stage] = round(time.perf_counter() - started, 2)


def _modalities(trained: list[Any]) -> dict[str, bool]:
    """The inputs the deep model read (none without a deep model), as reported in the result."""
    from models.pyfunc import load_estimator

    for model in trained:
        if model.name == "deep":
            return dict(getattr(load_estimator(Path(model.estimator_path)), "modalities", {}))
    return {}


def _naive_tlearner(
    cfg: HeraldConfig,
    rows: pd.DataFrame,
    split: np.ndarray,
    actions: list[Any],
    valid_rows: pd.DataFrame,
    test_rows: pd.DataFrame,
) -> tuple[np.ndarray, np.ndarray]:
    """The naive reference of DESIGN §7: one LightGBM per arm on customer features only (a T-learner)."""
    from models.baselines import LightGBMResponse
    from models.preprocessing import TabularPreprocessor
    from pipelines.policy.uplift_eval import action_index
    from pipelines.training.dataset import model_exclusions

    logged = action_index(rows, actions)
    action_cols = [c for c in rows.columns if c.startswith("msg_")] + [
        "channel",
        "send_hour",
        "weekday",
        "recent_sends_7d",
    ]
    q_v = np.zeros((len(valid_rows), len(actions)))
    q_t = np.zeros((len(test_rows), len(actions)))
    for k in range(len(actions)):
        fit = rows[(split == "train") & (logged == k)]
        stop = rows[(split == "stop") & (logged == k)]
        prep = TabularPreprocessor.fit(fit, exclude=[*model_exclusions(cfg), *action_cols])
        model = LightGBMResponse(prep).fit(fit, stop)
        q_v[:, k] = model.predict_proba(valid_rows)
        q_t[:, k] = model.predict_proba(test_rows)
    return q_v, q_t
