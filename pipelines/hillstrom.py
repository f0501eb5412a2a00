"""The Hillstrom MineThatData e-mail experiment mapped into the warehouse contract, as Herald's real-data proof."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.errors import HeraldError

Target = Literal["visit", "conversion"]

COLUMNS = (
    "recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel",
    "segment", "visit", "conversion", "spend",
)
# The randomised arms and the message each one sent (None = the hold-out, nothing sent).
ARM_MESSAGES: dict[str, str | None] = {
    "Mens E-Mail": "hillstrom_mens",
    "Womens E-Mail": "hillstrom_womens",
    "No E-Mail": None,
}
PROPENSITY = 1.0 / 3.0
BINARY_COLUMNS = ("mens", "womens", "newbie", "visit", "conversion")
CATEGORY_VALUES: dict[str, tuple[str, ...]] = {
    "zip_code": ("Urban", "Surburban", "Rural"),  # sic: the file spells it "Surburban"
    "channel": ("Phone", "Web", "Multichannel"),
}
CAMPAIGN_ID = "hillstrom_2008"
SEND_HOUR_UTC = 9  # one mailing hour: the send time carries no information in this experiment
MESSAGES_TEXT: dict[str, tuple[str, str, str]] = {
    "hillstrom_mens": (
        "Mens merchandise e-mail",
        "This season's men's merchandise: new arrivals and favourites for him, picked for you.",
        "mens",
    ),
    "hillstrom_womens": (
        "Womens merchandise e-mail",
        "This season's women's merchandise: new arrivals and favourites for her, picked for you.",
        "womens",
    ),
}


class HillstromFileError(HeraldError):
    """The Hillstrom CSV is missing or is not the file the importer expects."""


def hillstrom_config(cfg: HeraldConfig) -> HeraldConfig:
    """The config a Hillstrom run uses: its own dataset, run state and MLflow experiment, same MLflow store.

    The MLflow store stays the caller's, so ``herald ui mlflow`` shows the experiment. Runs,
    reports, the validation volume baseline and (unless HERALD_WAREHOUSE_PATH names one) the
    embedded warehouse file move under ``HOME/hillstrom``: the real data never compares itself
    with the synthetic world, and never waits on another process's DuckDB write lock.
    """
    h = cfg.hillstrom
    return cfg.model_copy(update={
        "home": cfg.home / h.home_subdir,
        "mlflow_tracking_uri": cfg.tracking_uri,
        "dataset": h.dataset,
        "mlflow_experiment": h.mlflow_experiment,
        "target": "converted",
    })


def read_hillstrom(path: str | Path) -> pd.DataFrame:
    """Read and validate the CSV; raise HillstromFileError naming the column and the problem."""
    path = Path(path)
    if not path.is_file():
        raise HillstromFileError(
            f"Hillstrom file {path} does not exist; pass --path or set HERALD_HILLSTROM__PATH"
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise HillstromFileError(f"Hillstrom file {path} is not a readable CSV: {exc}") from None
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise HillstromFileError(
            f"Hillstrom file {path}: column(s) {', '.join(missing)} missing (expected {', '.join(COLUMNS)})"
        )
    if frame.empty:
        raise HillstromFileError(f"Hillstrom file {path} has a header but no rows")
    frame = frame[list(COLUMNS)].apply(lambda s: s.str.strip())
    for col in COLUMNS:
        empty = frame[col].eq("")
        if empty.any():
            raise HillstromFileError(_problem(path, col, f"{int(empty.sum())} empty value(s)", empty))
    _check_set(path, frame, "segment", tuple(ARM_MESSAGES), "unknown arm(s)")
    for col, allowed in CATEGORY_VALUES.items():
        _check_set(path, frame, col, allowed, "unknown value(s)")
    out = frame.copy()
    for col in ("recency", "history", "spend", *BINARY_COLUMNS):
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna()
        if bad.any():
            raise HillstromFileError(_problem(path, col, f"{int(bad.sum())} non-numeric value(s)", bad, frame[col]))
        out[col] = values
    for col in BINARY_COLUMNS:
        _check_range(path, out, col, ~out[col].isin([0, 1]), "must be 0 or 1")
    _check_range(path, out, "recency", (out["recency"] < 1) | (out["recency"] > 12) | (out["recency"] % 1 != 0),
                 "must be a whole number of months from 1 to 12")
    for col in ("history", "spend"):
        _check_range(path, out, col, out[col] < 0, "must be ≥ 0 dollars")
    for col in ("recency", *BINARY_COLUMNS):
        out[col] = out[col].astype("int64")
    return out


def _problem(path: Path, col: str, what: str, mask: pd.Series, values: pd.Series | None = None) -> str:
    first = int(np.flatnonzero(mask.to_numpy())[0])
    shown = f" (first at data row {first + 1}: {values.iloc[first]!r})" if values is not None else f" (first at data row {first + 1})"
    return f"Hillstrom file {path}: column {col} has {what}{shown}"


def _check_set(path: Path, frame: pd.DataFrame, col: str, allowed: tuple[str, ...], what: str) -> None:
    bad = ~frame[col].isin(allowed)
    if bad.any():
        unknown = ", ".join(repr(v) for v in sorted(frame.loc[bad, col].unique())[:5])
        raise HillstromFileError(
            f"Hillstrom file {path}: column {col} has {what} {unknown} in {int(bad.sum())} row(s); "
            f"expected one of {', '.join(repr(a) for a in allowed)}"
        )


def _check_range(path: Path, frame: pd.DataFrame, col: str, bad: pd.Series, rule: str) -> None:
    if bad.any():
        raise HillstromFileError(_problem(path, col, f"{int(bad.sum())} value(s) out of range ({rule})", bad, frame[col]))


def campaign_window(now: datetime, days: int, end_days_ago: int) -> tuple[datetime, datetime]:
    """[start, end) of the campaign: it ends ``end_days_ago`` days before now so outcomes are complete."""
    now = now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)
    end = (now - timedelta(days=end_days_ago)).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=days), end


def to_contract(
    raw: pd.DataFrame, target: Target, now: datetime, *, days: int = 14, end_days_ago: int = 8, seed: int = 7
) -> dict[str, pd.DataFrame]:
    """Map validated Hillstrom rows to the contract tables customers, messages and sends.

    Mapping (one CSV row = one customer = one logged decision):

    - ``customers``: ``customer_id`` from the row number (``h00001``…); the file's profile columns are
      extra customer columns, hence features (DESIGN §3): ``recency``, ``history_segment``, ``history``,
      ``mens``, ``womens``, ``zip_code``, ``newbie`` and ``purchase_channel`` (the file's ``channel``,
      renamed because ``channel`` is the action's channel in the model rows). The file knows nothing of
      sign-up date, birth year, gender, region or loyalty, so those are NULL; ``consent_email`` is TRUE
      (everyone was mailable); ``updated_at`` is the campaign start.
    - ``messages``: the two e-mails of the test, ``hillstrom_mens`` and ``hillstrom_womens`` (offer type
      ``content``, product category ``mens``/``womens``, no banner), active over the campaign.
    - ``sends``: the randomised arm is the logged action — the arm's message on channel ``email``, or
      ``message_id`` NULL on channel ``none`` for "No E-Mail" — with propensity 1/3 and ``sent_at`` spread
      over a two-week campaign that ends ``campaign_end_days_ago`` days before now.
    - Labels: Herald trains on ``sends.converted`` (``cfg.target`` stays ``converted``), so the chosen
      outcome — ``visit`` (default) or ``conversion`` — is written into ``converted``. Both outcomes are
      also kept as the extra sends columns ``visit`` and ``conversion``, and ``spend`` becomes ``revenue``;
      ``opened``/``clicked`` were not recorded and are NULL.
    - No events, reviews or images: those tables are simply not written, so their modalities are off.
    """
    if target not in ("visit", "conversion"):
        raise HillstromFileError(f"unknown Hillstrom target {target!r}: use visit or conversion")
    start, end = campaign_window(now, days, end_days_ago)
    n = len(raw)
    ids = pd.Series([f"h{i:05d}" for i in range(1, n + 1)])
    customers = pd.DataFrame({
        "customer_id": ids,
        "signup_date": pd.Series([None] * n, dtype="object"),
        "birth_year": pd.Series([pd.NA] * n, dtype="Int64"),
        "gender": pd.Series([None] * n, dtype="object"),
        "region": pd.Series([None] * n, dtype="object"),
        "loyalty_tier": pd.Series([None] * n, dtype="object"),
        "consent_email": True,
        "updated_at": pd.Timestamp(start),
        "recency": raw["recency"].to_numpy(dtype="int64"),
        "history_segment": raw["history_segment"].to_numpy(),
        "history": raw["history"].to_numpy(dtype="float64"),
        "mens": raw["mens"].astype(bool).to_numpy(),
        "womens": raw["womens"].astype(bool).to_numpy(),
        "zip_code": raw["zip_code"].to_numpy(),
        "newbie": raw["newbie"].astype(bool).to_numpy(),
        "purchase_channel": raw["channel"].to_numpy(),
    })
    messages = pd.DataFrame([
        {"message_id": mid, "campaign_id": CAMPAIGN_ID, "title": title, "body": body, "offer_type": "content",
         "discount_pct": None, "product_category": category, "image_uri": None,
         "active_from": start.date(), "active_to": (end - timedelta(days=1)).date()}
        for mid, (title, body, category) in MESSAGES_TEXT.items()
    ])
    messages["discount_pct"] = messages["discount_pct"].astype("float64")
    message_id = raw["segment"].map(ARM_MESSAGES)
    # Mailing days spread evenly at random over the campaign (seeded: a re-import writes the same rows).
    day = np.random.default_rng(seed).integers(0, days, size=n)
    sent_at = pd.Timestamp(start) + pd.to_timedelta(day, unit="D") + pd.Timedelta(hours=SEND_HOUR_UTC)
    sends = pd.DataFrame({
        "send_id": [f"hs{i:05d}" for i in range(1, n + 1)],
        "customer_id": ids,
        "message_id": message_id.astype("object").where(message_id.notna(), None),
        "channel": np.where(message_id.notna(), "email", "none"),
        "sent_at": sent_at,
        "propensity": PROPENSITY,
        "opened": pd.Series([pd.NA] * n, dtype="boolean"),
        "clicked": pd.Series([pd.NA] * n, dtype="boolean"),
        "converted": raw[target].astype(bool).to_numpy(),
        "revenue": raw["spend"].to_numpy(dtype="float64"),
        "visit": raw["visit"].astype(bool).to_numpy(),
        "conversion": raw["conversion"].astype(bool).to_numpy(),
    })
    return {"customers": customers, "messages": messages, "sends": sends}


@dataclass
class ImportResult:
    """What an import wrote, small enough for XCom."""

    path: str
    dataset: str
    target: str
    rows: dict[str, int]
    campaign_start: str
    campaign_end: str
    arms: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_hillstrom(
    cfg: HeraldConfig, path: str | Path | None = None, target: Target | None = None, now: datetime | None = None
) -> ImportResult:
    """Validate the CSV and write customers, messages and sends (truncate) into ``cfg``'s warehouse dataset.

    ``cfg`` is used as given (a DAG task passes its own); ``hillstrom_config(cfg)`` gives the
    isolated dataset the CLI uses. Events and reviews are not written, so those modalities are off.
    """
    from pipelines.warehouse import get_warehouse

    h = cfg.hillstrom
    source = Path(path) if path is not None else h.path
    chosen: Target = target or h.target
    raw = read_hillstrom(source)
    now = now or datetime.now(timezone.utc)
    tables = to_contract(raw, chosen, now, days=h.campaign_days, end_days_ago=h.campaign_end_days_ago, seed=h.seed)
    if cfg.warehouse_backend == "duckdb":
        cfg.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with get_warehouse(cfg, must_exist=False) as warehouse:
        stale = [t for t in ("events", "reviews") if warehouse.has_table(t)]
        if stale:
            # The dataset would mix another source's behaviour into these customers; refuse rather than guess.
            raise HillstromFileError(
                f"dataset {cfg.dataset} already holds table(s) {', '.join(stale)} from another source; "
                f"import Hillstrom into a dataset of its own (HERALD_HILLSTROM__DATASET) or drop them"
            )
        rows = {name: warehouse.write(name, frame, mode="truncate") for name, frame in tables.items()}
    start, end = campaign_window(now, h.campaign_days, h.campaign_end_days_ago)
    return ImportResult(
        path=str(source), dataset=cfg.dataset, target=chosen, rows=rows,
        campaign_start=start.isoformat(), campaign_end=end.isoformat(),
        arms={k: int(v) for k, v in raw["segment"].value_counts().items()},
    )



# ---- the experiment: import → generic training path → held-out evaluation → safe policy ---------
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
    """Import the file, train Herald's models with the generic code, value every policy on held-out customers.

    Customers are split at random (never by time: the whole campaign is one window) into train
    (+ an early-stopping slice), validation (the safe-policy decision) and test (every reported
    figure). Everything is logged to one MLflow run in ``cfg.hillstrom.mlflow_experiment``.
    """
    import dataclasses

    from models.pyfunc import load_estimator
    from pipelines import ope, uplift_eval
    from pipelines.extract import extract_tables
    from pipelines.report import write_run_summary
    from pipelines.safe_policy import bandit, choose_safe_policy
    from pipelines.tracking import connect
    from pipelines.train import build_training_set, train_baselines, train_deep
    from pipelines.validate import validate_extract

    say = progress or (lambda message: None)
    hcfg = hillstrom_config(cfg)
    h = hcfg.hillstrom
    now = now or datetime.now(timezone.utc)
    run_id = f"hillstrom-{now:%Y%m%dT%H%M%S}"
    timings: dict[str, float] = {}

    def clock(stage: str) -> Any:
        return _timed(timings, stage)

    with clock("import"):
        imported = import_hillstrom(hcfg, path, target, now)
    say(f"imported {imported.rows['customers']:,} customers into dataset {hcfg.dataset} (target {imported.target})")
    client = connect(hcfg)
    experiment = client.get_experiment_by_name(hcfg.mlflow_experiment)
    assert experiment is not None
    parent = client.create_run(experiment.experiment_id, run_name=run_id,
                               tags={"herald.dataset": "hillstrom", "herald.target": imported.target}).info.run_id
    with clock("extract_validate_features"):
        extracted = extract_tables(hcfg, run_id, "training", now)
        validated = validate_extract(hcfg, run_id, extracted.to_dict(), mlflow_run_id=parent)
        training = build_training_set(hcfg, run_id, validated["paths"],
                                      datetime.fromisoformat(extracted.windows["feature_cutoff"]), now)
    rows = pd.read_parquet(training.rows_path)
    split = uplift_eval.customer_split(rows["customer_id"], validation_share=h.validation_share,
                                       test_share=h.test_share, early_stop_share=h.early_stop_share, seed=h.seed)
    # The generic trainers read "split": train fits, valid steers early stopping, test is only reported there.
    rows["split"] = np.select([split == "train", split == "stop"], ["train", "valid"], "test")
    resplit = Path(training.rows_path).with_name("training_rows_customer_split.parquet")
    rows.to_parquet(resplit, index=False)
    training = dataclasses.replace(training, rows_path=str(resplit),
                                   split_counts={k: int(v) for k, v in pd.Series(split).value_counts().items()})
    say(f"random customer split: {training.split_counts}")

    with clock("train_baselines"):
        trained = train_baselines(hcfg, run_id, training, parent)
    use_deep = hcfg.deep.enabled if deep is None else deep
    if use_deep:
        with clock("train_deep"):
            trained.append(train_deep(hcfg, run_id, training, parent))
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
            data = bandit(chosen if chosen is not None else np.zeros(len(y_t), dtype=np.int64), logged_t, y_t, p_t, q,
                          policy_probs=probs)
            est = ope.evaluate(data, h.bootstrap, h.confidence, h.seed, estimators=("ips", "snips", "dr"))
            policies[name] = {"ips": est["ips"]["estimate"], "ci_low": est["ips"]["ci_low"],
                              "ci_high": est["ips"]["ci_high"], "snips": est["snips"]["estimate"],
                              "dr": est["dr"]["estimate"], "dr_ci_low": est["dr"]["ci_low"],
                              "dr_ci_high": est["dr"]["ci_high"]}
            if chosen is not None:
                policies[name]["share"] = {names[k]: float(np.mean(chosen == k)) for k in range(len(actions))}

        for k, name in enumerate(names):
            value(name, np.full(len(y_t), k), None, reference_q)
        value("random", None, np.full((len(y_t), len(actions)), 1.0 / len(actions)), reference_q)

        decisions: dict[str, Any] = {}
        curves: dict[str, dict[str, dict[str, Any]]] = {}
        for model_name in q_test:
            label = "naive_tlearner" if model_name == "tlearner" else f"personalized_{model_name}"
            pers_v = uplift_eval.greedy_policy(q_valid[model_name], holdout)
            pers_t = uplift_eval.greedy_policy(q_test[model_name], holdout)
            value(label if model_name == "tlearner" else f"{label}_raw", pers_t, None, q_test[model_name])
            curves[model_name] = uplift_eval.uplift_curves(q_test[model_name], logged_t, y_t, actions, holdout)
            if model_name == "tlearner":
                continue  # the naive reference is reported as it is, without the safety net
            decision = choose_safe_policy(pers_v, logged_v, y_v, p_v, len(actions), q_hat=q_valid[model_name],
                                          estimator="dr", n_bootstrap=h.bootstrap, confidence=h.confidence,
                                          margin=h.spi_margin, seed=h.seed)
            value(label, decision.apply(pers_t), None, q_test[model_name])
            policies[label]["deployed"] = decision.deployed if decision.personalize else \
                f"best_fixed:{names[decision.best_fixed_action]}"
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
        "qini": {m: {arm: c["qini_coefficient"] for arm, c in per.items()} for m, per in curves.items()},
        "models": {t.name: {k: v for k, v in t.metrics.items() if k.startswith("test_")} for t in trained},
        "timings_s": timings,
        "confidence": h.confidence,
        "bootstrap": h.bootstrap,
    }
    _log_results(hcfg, parent, result, curves, run_id)
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
    from models.pyfunc import load_estimator

    for model in trained:
        if model.name == "deep":
            return dict(getattr(load_estimator(Path(model.estimator_path)), "modalities", {}))
    return {}


def _naive_tlearner(
    cfg: HeraldConfig, rows: pd.DataFrame, split: np.ndarray, actions: list[Any], valid_rows: pd.DataFrame,
    test_rows: pd.DataFrame,
) -> tuple[np.ndarray, np.ndarray]:
    """The naive reference of DESIGN §7: one LightGBM per arm on customer features only (a T-learner)."""
    from models.baselines import LightGBMResponse
    from models.preprocessing import TabularPreprocessor
    from pipelines.train import model_exclusions
    from pipelines.uplift_eval import action_index

    logged = action_index(rows, actions)
    action_cols = [c for c in rows.columns if c.startswith("msg_")] + ["channel", "send_hour", "weekday",
                                                                      "recent_sends_7d"]
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


def _log_results(cfg: HeraldConfig, parent: str, result: dict[str, Any], curves: dict[str, Any], run_id: str) -> None:
    """Policy table, Qini plots, the safe-policy decision and the summary into the parent MLflow run."""
    import json

    import mlflow

    from pipelines.uplift_eval import plot_policy_values, plot_uplift_curves

    out = cfg.run_dir(run_id) / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    table = policy_table(result)
    table.to_csv(out / "policy_values.csv", index=False)
    plot_policy_values(table, out / "policy_values.png",
                       f"Hillstrom ({result['target']}): policy values on held-out customers")
    plot_uplift_curves(curves, out / "qini_curves.png", "Hillstrom: Qini curves on held-out customers")
    (out / "hillstrom_result.json").write_text(json.dumps(result, indent=2, default=float))
    with mlflow.start_run(run_id=parent):
        mlflow.log_table(table, "evaluation/policy_values.json")
        for name in ("policy_values.csv", "policy_values.png", "qini_curves.png", "hillstrom_result.json"):
            mlflow.log_artifact(str(out / name), "evaluation")
        metrics = {f"policy.{p}.{k}": v for p, vals in result["policies"].items()
                   for k, v in vals.items() if isinstance(v, float) and np.isfinite(v)}
        metrics.update({f"qini.{m}.{arm}": v for m, per in result["qini"].items() for arm, v in per.items()})
        metrics["best_single_arm.rate"] = result["best_single_arm"]["visit_rate"]
        # MLflow metric names allow no "@" (action names are message@channel).
        mlflow.log_metrics({k.replace("@", "_"): v for k, v in metrics.items()})
        for model, decision in result["safe_policy"].items():
            mlflow.set_tag(f"safe_policy.{model}", decision["deployed"] if decision["personalize"]
                           else f"fallback:{decision['best_fixed_name']}")
            mlflow.set_tag(f"safe_policy.{model}.reason", decision["reason"][:4900])
            mlflow.log_metrics({f"safe_policy.{model}.difference": decision["difference"],
                                f"safe_policy.{model}.ci_low": decision["ci_low"],
                                f"safe_policy.{model}.ci_high": decision["ci_high"]})
        mlflow.log_params({"target": result["target"], "split": "random customers",
                           **{f"split.{k}": v for k, v in result["split_counts"].items()},
                           "bootstrap": result["bootstrap"], "confidence": result["confidence"]})


def policy_table(result: dict[str, Any]) -> pd.DataFrame:
    """One row per policy: IPS and DR with their intervals, and what was deployed."""
    records = []
    for name, v in result["policies"].items():
        records.append({"policy": name, "ips": v["ips"], "ips_ci_low": v["ci_low"], "ips_ci_high": v["ci_high"],
                        "snips": v["snips"], "dr": v["dr"], "dr_ci_low": v["dr_ci_low"], "dr_ci_high": v["dr_ci_high"],
                        "deployed": v.get("deployed", "")})
    return pd.DataFrame.from_records(records)
