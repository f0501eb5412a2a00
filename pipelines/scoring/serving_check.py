"""Training/serving consistency: today's scoring rows against what the champion was trained on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.errors import ModelInputError
from pipelines.scoring.candidates import candidate_rows, holdout_rows
from pipelines.scoring.prepare import ScoringPlan, iter_shard
from pipelines.scoring.scorer import load_scorer
from pipelines.training import features
from pipelines.training.registry import RegisteredModel

SAMPLE_CUSTOMERS = 300


def check_inputs(cfg: HeraldConfig, plan: ScoringPlan, champion: RegisteredModel) -> dict[str, Any]:
    """Compare a sample of candidate rows with the champion preprocessor's recorded schema and statistics.

    Fails with ModelInputError naming the column when an input is missing, when too many values
    are categories the model never saw, or when too many numbers lie far outside the training
    range — so a model never scores data it was not built for.
    """
    estimator = load_scorer(cfg, champion).estimator
    preprocessor = getattr(estimator, "preprocessor", None)
    if preprocessor is None:
        return {"checked": False, "reason": "the champion records no preprocessing statistics"}
    sample = (
        next(iter_shard(plan, plan.shards[0]), pd.DataFrame()).head(SAMPLE_CUSTOMERS) if plan.shards else pd.DataFrame()
    )
    if sample.empty:
        return {"checked": False, "reason": "no customers to score"}
    as_of = datetime.fromisoformat(plan.as_of)
    messages = pd.read_parquet(plan.messages_path)
    actions = pd.concat(
        [candidate_rows(sample, messages, cfg, as_of), holdout_rows(sample, cfg, as_of)], ignore_index=True
    )
    fatigue = sample.set_index("customer_id")["recent_sends_7d"]
    actions["recent_sends_7d"] = actions["customer_id"].map(fatigue).fillna(0).astype("int64")
    rows = features.model_rows(actions, sample.drop(columns=["recent_sends_7d"], errors="ignore"), messages)
    report = preprocessor.describe_drift(rows)
    problems = [f"column {c} is missing" for c in report["missing_columns"]]
    problems += [
        f"column {c}: {share:.0%} of values are categories unseen in training (limit "
        f"{cfg.serving_max_unknown_share:.0%})"
        for c, share in report["unknown_share"].items()
        if share > cfg.serving_max_unknown_share
    ]
    problems += [
        f"column {c}: {share:.0%} of values lie far outside the training range (limit "
        f"{cfg.serving_max_out_of_range_share:.0%})"
        for c, share in report["out_of_range_share"].items()
        if share > cfg.serving_max_out_of_range_share
    ]
    if problems:
        raise ModelInputError(
            f"scoring inputs do not match {champion.name} v{champion.version}'s training data: " + "; ".join(problems)
        )
    return {"checked": True, "rows": int(len(rows)), **report}
