"""The configuration reference: every HERALD_ setting, its default and meaning, generated from HeraldConfig.

The meaning of a setting is its ``Field(description=...)``, else the comment lines right above it
in pipelines/config/ (the comments already say what each knob does). The README's table between
the config-reference markers is this output; tests/unit/test_config_reference.py fails when they differ.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pipelines.config import REPO_ROOT, HeraldConfig

# Meanings of settings whose pipelines/config/ comment speaks for a group (or that have none); a Field
# description in pipelines/config/ wins over these, and these over the comment above a field.
MEANINGS: dict[str, str] = {
    "HERALD_WAREHOUSE_BACKEND": "`duckdb` (embedded file under HOME) or `bigquery`",
    "HERALD_DATASET": "the dataset (BigQuery) or schema (DuckDB) holding the contract tables and Herald's outputs",
    "HERALD_BIGQUERY_PROJECT": (
        "BigQuery project; default the one of the Airflow connection or Application Default Credentials"
    ),
    "HERALD_BIGQUERY_LOCATION": "BigQuery location of jobs and the dataset",
    "HERALD_GCP_CONN_ID": "Airflow connection whose credentials reach BigQuery",
    "HERALD_MLFLOW_EXPERIMENT": "MLflow experiment of the DAG runs",
    "HERALD_MODEL_NAME": "registered model name; aliases `champion` and `challenger` live on it",
    "HERALD_CHANNELS": "channels a message may go out on; consent for channel c is the customers column consent_c",
    "HERALD_IMPLIED_CONSENT_CHANNELS": "channels whose consent is implied: no consent_<channel> column needed",
    "HERALD_PROTECTED_ATTRIBUTES": (
        "customer attributes for fairness reports, kept out of model inputs (age_band is derived from birth_year)"
    ),
    "HERALD_EXCLUDED_CUSTOMER_COLUMNS": "extra customers columns that must not become features",
    "HERALD_TARGET": "the sends outcome Herald learns: converted, clicked or opened",
    "HERALD_EVENT_HISTORY_DAYS": "days of events before the feature cutoff that feed the features",
    "HERALD_TEST_SHARE": "share of the newest labelled sends held out as the test split",
    "HERALD_VALIDATION_SHARE": (
        "share of sends before the test split used for validation (early stopping, model choice)"
    ),
    "HERALD_VALIDATION_MAX_REJECTED_SHARE": (
        "largest share of a table's rows the gate may quarantine before the run fails"
    ),
    "HERALD_VALIDATION_MAX_EVENT_AGE_DAYS": (
        "scoring/monitoring: the newest event may be at most this many days before the run's date"
    ),
    "HERALD_VALIDATION_VOLUME_MIN_RATIO": (
        "a table's rows may shrink to this share of the last successful run's before the gate fails"
    ),
    "HERALD_VALIDATION_VOLUME_MAX_RATIO": (
        "a table's rows may grow to this multiple of the last successful run's before the gate fails"
    ),
    "HERALD_SERVING_MAX_UNKNOWN_SHARE": (
        "scoring stops when more values than this in a model input are categories unseen in training"
    ),
    "HERALD_SERVING_MAX_OUT_OF_RANGE_SHARE": (
        "scoring stops when more values than this in a model input lie far outside the training range"
    ),
    "HERALD_SCORING_SHARDS": "shards (mapped Airflow tasks) the customers are scored in",
    "HERALD_PROMOTION_MARGIN": "test AUC margin a challenger needs over the champion and every baseline",
    "HERALD_PROMOTION_MAX_ECE": "largest expected calibration error a promoted model may have",
    "HERALD_PROMOTION_MAX_GROUP_AUC_GAP": "largest AUC gap between protected groups a promoted model may have",
    "HERALD_WORLD__SIZE": "synthetic world size: tiny, small or default",
    "HERALD_WORLD__SEED": "random seed of the synthetic world",
    "HERALD_WORLD__HISTORY_DAYS": "days of history the synthetic world spans",
    "HERALD_POLICY__SEND_HOURS": "candidate send hours, local to the customer's region",
    "HERALD_POLICY__QUIET_HOURS": "local hours nothing is sent",
    "HERALD_POLICY__CHANNEL_COST": "cost per send by channel, in units of conversion probability, netted from uplift",
    "HERALD_POLICY__FREQUENCY_CAP_7D": "most messages per customer in 7 days",
    "HERALD_POLICY__CAMPAIGN_BUDGET_PER_RUN": "most messages per campaign per scoring run; null = no budget",
    "HERALD_POLICY__MIN_UPLIFT": "net uplift a message must clear, else the customer gets nothing",
    "HERALD_POLICY__EXPLORATION": "epsilon_greedy or none",
    "HERALD_POLICY__EPSILON": "share of customers given a random allowed action (recorded propensity)",
    "HERALD_POLICY__OPE_MAX_ROWS": "logged contexts scored per off-policy estimate",
    "HERALD_POLICY__OPE_BOOTSTRAP": "bootstrap resamples behind off-policy intervals",
    "HERALD_POLICY__OPE_CONFIDENCE": "two-sided confidence level of off-policy intervals",
    "HERALD_MONITORING__DRIFT_METHOD": "main drift effect size: psi, wasserstein or jensenshannon",
    "HERALD_MONITORING__DRIFT_THRESHOLD": "a feature's drift_method value above this is a breach",
    "HERALD_MONITORING__DRIFT_SHARE_THRESHOLD": "share of drifted features that raises the drift alarm",
    "HERALD_MONITORING__FAIRNESS_DP_THRESHOLD": "largest demographic-parity gap in targeting before a fairness breach",
    "HERALD_MONITORING__BREACHES_BEFORE_RETRAIN": "monitoring breaches in a row that trigger retraining",
    "HERALD_MONITORING__RETRAIN_COOLDOWN_DAYS": "least days between two triggered retrainings",
    "HERALD_MONITORING__ATTRIBUTION_DAYS": "days an outcome may take to arrive after a decision",
    "HERALD_MONITORING__PERFORMANCE_LOOKBACK_DAYS": "days of past decisions whose realised outcomes are judged",
    "HERALD_MONITORING__PERFORMANCE_MIN_OUTCOMES": "fewest realised outcomes before performance is judged",
    "HERALD_MONITORING__PERFORMANCE_AUC_MIN": "realised AUC below this is a breach",
    "HERALD_MONITORING__PERFORMANCE_ECE_MAX": "realised calibration error above this is a breach",
    "HERALD_MONITORING__FAIRNESS_EXTRA_ATTRIBUTES": (
        "customer columns besides the protected attributes whose groups are compared"
    ),
    "HERALD_MONITORING__FAIRNESS_EO_THRESHOLD": "largest equal-opportunity gap between groups before a breach",
    "HERALD_MONITORING__FAIRNESS_CALIBRATION_THRESHOLD": "largest calibration gap between groups before a breach",
    "HERALD_MONITORING__FAIRNESS_MIN_GROUP_SIZE": "groups smaller than this are left out of fairness figures",
    "HERALD_MONITORING__FAIRNESS_WINDOW_DAYS": "days of realised sends behind the fairness figures",
    "HERALD_ALERTS__SMTP_HOST": "SMTP server for alert e-mails; none = no e-mail",
    "HERALD_ALERTS__SMTP_PORT": "SMTP port",
    "HERALD_ALERTS__EMAIL_FROM": "sender of alert e-mails",
    "HERALD_ALERTS__EMAIL_TO": "recipients of alert e-mails",
    "HERALD_ALERTS__WEBHOOK_URL": "Slack-style webhook for alerts; none = no webhook",
    "HERALD_ALERTS__SMTP_CONN_ID": "Airflow SMTP connection; when it exists it wins over the SMTP fields",
    "HERALD_ALERTS__WEBHOOK_CONN_ID": "Airflow HTTP connection of the webhook; when it exists it wins over webhook_url",
    "HERALD_ALERTS__TIMEOUT_S": "seconds an alert delivery may take",
    "HERALD_DEEP__ENABLED": "train the deep model beside the baselines",
    "HERALD_DEEP__MAX_EPOCHS": "most epochs (early stopping may end sooner)",
    "HERALD_DEEP__BATCH_SIZE": "largest training batch (rows); smaller training sets get smaller batches",
    "HERALD_DEEP__MIN_BATCH_SIZE": "smallest training batch (rows)",
    "HERALD_DEEP__MIN_STEPS_PER_EPOCH": "optimiser steps an epoch aims for: batch = rows ÷ this, within the two bounds",
    "HERALD_DEEP__HIDDEN": "width of the customer and message towers",
    "HERALD_DEEP__HEAD_HIDDEN": "width of the fusion head",
    "HERALD_DEEP__SEQ_HIDDEN": "width of the event-sequence encoder",
    "HERALD_DEEP__SEQUENCE": "use the event sequence (off when there are no events)",
    "HERALD_DEEP__REVIEWS": "use review text (off when there are no reviews)",
    "HERALD_DEEP__TEXT": "embed message title and body text",
    "HERALD_DEEP__IMAGES": "encode banner images (off when there are none)",
    "HERALD_DEEP__SEED": "random seed of the deep model",
    "HERALD_HILLSTROM__HOME_SUBDIR": "folder under HOME for the Hillstrom run state and warehouse",
    "HERALD_HILLSTROM__DATASET": "dataset the Hillstrom experiment is imported into",
    "HERALD_HILLSTROM__MLFLOW_EXPERIMENT": "MLflow experiment of the Hillstrom runs",
    "HERALD_HILLSTROM__CAMPAIGN_DAYS": "days the Hillstrom campaign is spread over",
    "HERALD_HILLSTROM__CAMPAIGN_END_DAYS_AGO": (
        "the campaign ends this many days before the run's date, so outcomes are complete"
    ),
    "HERALD_HILLSTROM__VALIDATION_SHARE": "share of customers for the safe-policy decision",
    "HERALD_HILLSTROM__TEST_SHARE": "share of customers held out for the reported figures",
    "HERALD_HILLSTROM__EARLY_STOP_SHARE": "share of training customers that only steer early stopping",
    "HERALD_HILLSTROM__SEED": "seed of the customer split",
    "HERALD_HILLSTROM__BOOTSTRAP": "bootstrap resamples behind the policy intervals",
    "HERALD_HILLSTROM__CONFIDENCE": "two-sided confidence level of the policy intervals",
    "HERALD_CV_FOLD_SHARE": "share of the labelled sends in each rolling-origin validation block",
    "HERALD_CV_STOP_SHARE": "newest share of a fold's training rows that only steers early stopping",
    "HERALD_PROMOTION_BOOTSTRAP": "paired customer-bootstrap resamples behind the selection and gate intervals",
    "HERALD_PROMOTION_CONFIDENCE": "two-sided confidence level of the selection and gate intervals",
    "HERALD_PROMOTION_MIN_AUC_GAIN": "AUC gain over the prior-rate predictor a candidate's lower bound must clear",
    "HERALD_PROMOTION_MIN_CHAMPION_ROWS": "rows newer than the champion's data needed to compare with it",
    "HERALD_PROMOTION_PREFERENCE": "order among candidates no other beats with confidence",
    "HERALD_WORLD__STRUCTURE": "named world structure (preset of the knobs below): default, content, channel_timing, "
    "price_sparse, noisy_busy",
    "HERALD_WORLD__MESSAGES": "catalogue size override (default: by world size)",
    "HERALD_WORLD__SENDS_PER_CUSTOMER": "logged sends per customer override (default: by world size)",
    "HERALD_WORLD__NO_CONSENT_SHARE": "share of customers who consent to no channel",
    "HERALD_WORLD__RESPONSE__ANNOYANCE_WEIGHT": "how much a contact hurts customers it annoys (sleeping dogs)",
    "HERALD_WORLD__RESPONSE__MESSAGE_LIFT": "average lift of a message over sending nothing",
    "HERALD_WORLD__RESPONSE__INTERACTION_SCALE": "strength of customer × action interactions in the true response",
    "HERALD_WORLD__REVEAL__BANNER_NOISE": "noise drawn over banners, hiding what they show",
    "HERALD_WORLD__LOGGING__KIND": "logging policy of the past sends: targeted, uniform or greedy",
    "HERALD_WORLD__LOGGING__HOLDOUT_SHARE": "share of logged decisions that sent nothing",
    "HERALD_WORLD__LOGGING__TARGETED_SHARE": "share of targeted logging that follows the customer's affinities",
    "HERALD_WORLD__LOGGING__EPSILON": "exploration share of greedy logging",
    "HERALD_MONITORING__DRIFT_PERMUTATIONS": "label permutations behind a categorical drift test's p-value",
    "HERALD_MONITORING__DRIFT_MIN_EFFECT": "smallest effect size a significant drift test must also reach",
    "HERALD_DEEP__PART_DIM": "width of each tower's part of the fused representation",
    "HERALD_DEEP__CONTEXT_DIM": "width of the context (channel, hour, weekday, fatigue) embedding",
    "HERALD_DEEP__DROPOUT": "dropout in the fusion head",
    "HERALD_DEEP__LR": "learning rate (AdamW)",
    "HERALD_DEEP__WEIGHT_DECAY": "weight decay (AdamW)",
    "HERALD_DEEP__AUXILIARY_OUTCOMES": "outcomes the head also predicts (multi-task targets, never inputs)",
    "HERALD_DEEP__FAST_DEV_RUN": "Lightning's fast_dev_run: one batch per stage (tests)",
}
START = "<!-- config-reference:start (generated by `herald config-reference --write README.md`) -->"
END = "<!-- config-reference:end -->"


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the comment block right above it (or its trailing comment) in the class source."""
    source = Path(inspect.getsourcefile(model) or "").read_text(encoding="utf-8")  # the module defining it
    lines = source.splitlines()
    tree = ast.parse(source)
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == model.__name__):
            continue
        for stmt in node.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            block: list[str] = []
            i = stmt.lineno - 2
            while i >= 0 and lines[i].strip().startswith("#"):
                block.insert(0, lines[i].strip().lstrip("#").strip())
                i -= 1
            trailing = re.search(r"#\s*(.+)$", lines[stmt.end_lineno - 1]) if stmt.end_lineno else None
            if not block and trailing and '"' not in trailing.group(1):
                block = [trailing.group(1)]
            out[stmt.target.id] = " ".join(block)
    return out


def _default(value: Any) -> str:
    if isinstance(value, Path):
        try:
            return str(value.relative_to(REPO_ROOT.parent)).replace(REPO_ROOT.name, "<checkout>", 1)
        except ValueError:
            return str(value)
    if isinstance(value, BaseModel):
        return "(section)"
    return json.dumps(value, default=str)


def settings_rows(model: type[BaseModel] = HeraldConfig, prefix: str = "HERALD_") -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, sections flattened with ``__``."""
    comments = _comments(model)
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows += settings_rows(annotation, f"{prefix}{name.upper()}__")
            continue
        default = field.get_default(call_default_factory=True)
        variable = f"{prefix}{name.upper()}"
        meaning = field.description or MEANINGS.get(variable) or comments.get(name, "")
        rows.append((variable, _default(default), meaning))
    return rows


def reference_markdown() -> str:
    """The reference as a Markdown table, wrapped in the README markers."""
    body = ["| variable | default | meaning |", "|---|---|---|"]
    for variable, default, meaning in settings_rows():
        cell = default.replace("|", "\\|")
        body.append(f"| `{variable}` | `{cell}` | {meaning.replace('|', '/')} |")
    return "\n".join([START, *body, END]) + "\n"


def write_into(path: Path) -> bool:
    """Replace the generated table in ``path`` (between the markers); True when the file changed."""
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise ValueError(f"{path} has no config-reference markers")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    new = head + reference_markdown().rstrip("\n") + tail
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text
