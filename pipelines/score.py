"""Batch scoring: prepare customer shards, score every allowed candidate with the champion, decide."""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import mlflow
import numpy as np
import pandas as pd

from pipelines import features
from pipelines.config import HeraldConfig
from pipelines.extract import load_extract
from pipelines.policy import allowed_channels, allowed_send_hours, blocking_reason, choose_actions
from pipelines.registry import RegisteredModel, predict_served
from pipelines.tracking import connect
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import DECISIONS


@dataclass
class ScoringPlan:
    """Where the prepared inputs of a scoring run lie and how they are sharded."""

    customers_path: str
    messages_path: str
    shards: list[int]
    n_customers: int
    n_active_messages: int
    as_of: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def shard_of(customer_ids: pd.Series, n_shards: int) -> np.ndarray:
    """Stable shard number per customer (crc32, identical across processes and runs)."""
    return np.array([zlib.crc32(c.encode()) % n_shards for c in customer_ids.astype(str)], dtype=np.int64)


def prepare_scoring(cfg: HeraldConfig, run_id: str, extract_paths: dict[str, str], as_of: datetime) -> ScoringPlan:
    """Customer features as of now, with fatigue and shard number; the active message catalogue."""
    tables = load_extract(extract_paths)
    customers = features.customer_features(
        tables["customers"], tables.get("events"), tables.get("reviews"), as_of, cfg.region_timezones,
        cfg.event_history_days,
    )
    recent = features.recent_sends_as_of(tables["sends"], as_of)
    customers["recent_sends_7d"] = customers["customer_id"].map(recent).fillna(0).astype("int64")
    customers["shard"] = shard_of(customers["customer_id"], cfg.scoring_shards)
    messages = tables["messages"]
    today = pd.Timestamp(as_of).date()
    active = messages[
        (pd.to_datetime(messages["active_from"]).dt.date <= today)
        & (pd.to_datetime(messages["active_to"]).dt.date >= today)
    ]
    out = cfg.run_dir(run_id) / "scoring"
    out.mkdir(parents=True, exist_ok=True)
    customers.to_parquet(out / "customer_features.parquet", index=False)
    features.message_features(active, cfg.assets_dir).to_parquet(out / "active_messages.parquet", index=False)
    return ScoringPlan(
        customers_path=str(out / "customer_features.parquet"),
        messages_path=str(out / "active_messages.parquet"),
        shards=sorted(int(s) for s in customers["shard"].unique()),
        n_customers=len(customers),
        n_active_messages=len(active),
        as_of=pd.Timestamp(as_of).isoformat(),
    )


def candidate_rows(customers: pd.DataFrame, messages: pd.DataFrame, cfg: HeraldConfig, as_of: datetime) -> pd.DataFrame:
    """Every allowed (customer × message × consented channel × allowed hour) as raw model rows."""
    allowed = allowed_channels(customers, cfg)
    hours = allowed_send_hours(cfg.policy)
    weekday = pd.Timestamp(as_of).weekday()
    parts = []
    for channel in cfg.channels:
        who = customers.loc[allowed[channel].to_numpy(), ["customer_id"]]
        if who.empty or messages.empty or not hours:
            continue
        grid = who.merge(messages[["message_id"]], how="cross").merge(pd.DataFrame({"send_hour": hours}), how="cross")
        grid["channel"] = channel
        parts.append(grid)
    if not parts:
        return pd.DataFrame(columns=["customer_id", "message_id", "send_hour", "channel", "weekday"])
    grid = pd.concat(parts, ignore_index=True)
    grid["weekday"] = weekday
    return grid


def holdout_rows(customers: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """The "send nothing" action of each customer, scored to measure uplift against."""
    return pd.DataFrame({
        "customer_id": customers["customer_id"].to_numpy(),
        "message_id": None,
        "channel": "none",
        "send_hour": pd.Timestamp(as_of).hour,
        "weekday": pd.Timestamp(as_of).weekday(),
    })


def score_shard(
    cfg: HeraldConfig, run_id: str, shard: int, plan: ScoringPlan, champion: RegisteredModel,
    batch_customers: int = 500,
) -> dict[str, int]:
    """Score one shard in customer batches, apply the policy and replace the shard's decisions."""
    as_of = datetime.fromisoformat(plan.as_of)
    connect(cfg)
    model = mlflow.pyfunc.load_model(champion.model_uri)
    customers = pd.read_parquet(plan.customers_path, filters=[("shard", "==", shard)])
    messages = pd.read_parquet(plan.messages_path)
    allowed = allowed_channels(customers, cfg)
    blocked = blocking_reason(customers, allowed, cfg.policy)
    rng = np.random.default_rng(zlib.crc32(f"{run_id}/{shard}".encode()))
    decided: list[pd.DataFrame] = []
    candidates_scored = 0
    open_customers = customers[blocked.isna().to_numpy()]
    for start in range(0, len(open_customers), batch_customers):
        batch = open_customers.iloc[start:start + batch_customers]
        profiles = batch.drop(columns=["recent_sends_7d", "shard"])
        holdout = holdout_rows(batch, as_of)
        holdout_p = pd.Series(
            predict_served(model, features.model_rows(_with_fatigue(holdout, batch), profiles, messages)),
            index=holdout["customer_id"].to_numpy(),
        )
        grid = candidate_rows(batch, messages, cfg, as_of)
        if grid.empty:
            continue
        rows = features.model_rows(_with_fatigue(grid, batch), profiles, messages)
        grid["p_response"] = predict_served(model, rows)
        candidates_scored += len(grid)
        decided.append(choose_actions(grid, holdout_p, cfg.policy, rng))
    blocked_rows = customers.loc[blocked.notna().to_numpy(), ["customer_id"]].assign(
        message_id=None, channel=None, send_hour=None, p_response=np.nan, uplift=np.nan,
        propensity=1.0, policy="rule", reason=blocked.dropna().to_numpy(),
    )
    decisions = pd.concat([*decided, blocked_rows], ignore_index=True)
    decisions = _decision_table(decisions, run_id, shard, champion)
    with get_warehouse(cfg) as warehouse:
        written = warehouse.write("decisions", decisions, mode="replace_run", run_filter={"run_id": run_id, "shard": shard})
    return {"shard": shard, "customers": len(customers), "candidates_scored": candidates_scored, "decisions": written}


def _with_fatigue(actions: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    fatigue = customers.set_index("customer_id")["recent_sends_7d"]
    return actions.assign(recent_sends_7d=actions["customer_id"].map(fatigue).fillna(0).astype("int64").to_numpy())


def _decision_table(decisions: pd.DataFrame, run_id: str, shard: int, champion: RegisteredModel) -> pd.DataFrame:
    out = decisions.assign(
        run_id=run_id, shard=shard, decided_at=pd.Timestamp(datetime.now(timezone.utc)),
        model_name=champion.name, model_version=champion.version,
    )
    out["send_hour"] = pd.to_numeric(out["send_hour"], errors="coerce").astype("Int64")
    for col in ("p_response", "uplift", "propensity"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out[DECISIONS.column_names]


def decision_summary(cfg: HeraldConfig, run_id: str) -> dict[str, object]:
    """Decision mix of a run: per channel, per hour, hold-out and explored shares."""
    with get_warehouse(cfg) as warehouse:
        frame = warehouse.query("decisions_for_run", {"run_id": run_id})
    sent = frame["message_id"].notna()
    return {
        "decisions": int(len(frame)),
        "messages_sent": int(sent.sum()),
        "per_channel": {str(k): int(v) for k, v in frame.loc[sent, "channel"].value_counts().items()},
        "per_hour": {str(k): int(v) for k, v in frame.loc[sent, "send_hour"].value_counts().sort_index().items()},
        "reasons": {str(k): int(v) for k, v in frame["reason"].value_counts().items()},
        "holdout_share": float((~sent).mean()) if len(frame) else 0.0,
        "explored_share": float((frame["policy"] == "explore").mean()) if len(frame) else 0.0,
        "expected_uplift_per_customer": float(frame["uplift"].fillna(0).mean()) if len(frame) else 0.0,
    }
