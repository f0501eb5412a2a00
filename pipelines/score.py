"""Batch scoring: prepare customer shards, stream each shard in batches through the champion, decide."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipelines import features
from pipelines.config import HeraldConfig
from pipelines.extract import load_extract
from pipelines.policy import (
    EXPLORE,
    RULE,
    allocate_budget,
    allowed_channels,
    allowed_send_hours,
    apply_allocation,
    blocking_reason,
    campaign_offers,
    choose_actions,
    keep_allocatable,
    net_uplift,
)
from pipelines.registry import RegisteredModel
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import DECISIONS, HOLDOUT_CHANNEL

# Rows → P(response); the loaded champion in production, anything with that shape in tests and benchmarks.
Scorer = Callable[[pd.DataFrame], np.ndarray]
# Per-customer columns prepared for scoring that are not customer features of the model.
SCORING_ONLY_COLUMNS = ("shard", "recent_sends_7d", "hist_sends", "hist_converted")


@dataclass
class ScoringPlan:
    """Where the prepared inputs of a scoring run lie and how they are sharded."""

    customers_dir: str
    messages_path: str
    shards: list[int]
    n_customers: int
    n_active_messages: int
    as_of: str
    batch_customers: int = 250

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def shard_path(self, shard: int) -> Path:
        return Path(self.customers_dir) / f"shard={shard}.parquet"

    @property
    def budget_dir(self) -> Path:
        """Per-shard hand-offs of the campaign-budget pass (unconstrained decisions and offers)."""
        return Path(self.customers_dir).parent / "budget"


def shard_of(customer_ids: pd.Series, n_shards: int) -> np.ndarray:
    """Stable shard number per customer (crc32, identical across processes and runs)."""
    return np.array([zlib.crc32(c.encode()) % n_shards for c in customer_ids.astype(str)], dtype=np.int64)


def prepare_scoring(cfg: HeraldConfig, run_id: str, extract_paths: dict[str, str], as_of: datetime) -> ScoringPlan:
    """Customer features as of now, written one Parquet file per shard; the active message catalogue.

    Features are aggregated over all customers at once so every shard sees the same columns (a
    category no customer of one shard browsed is still a column there); each shard file is
    written in row groups of ``scoring_batch_customers`` so a shard task can stream it.
    """
    tables = load_extract(extract_paths)
    customers = features.customer_features(
        tables["customers"], tables.get("events"), tables.get("reviews"), as_of, cfg.region_timezones,
        cfg.event_history_days,
    )
    recent = features.recent_sends_as_of(tables["sends"], as_of)
    customers["recent_sends_7d"] = customers["customer_id"].map(recent).fillna(0).astype("int64")
    history = _response_history(tables["sends"], cfg.target)
    customers["hist_sends"] = customers["customer_id"].map(history["sends"]).fillna(0).astype("int64")
    customers["hist_converted"] = customers["customer_id"].map(history["converted"]).fillna(0).astype("int64")
    customers["shard"] = shard_of(customers["customer_id"], cfg.scoring_shards)
    messages = tables["messages"]
    today = pd.Timestamp(as_of).date()
    active = messages[
        (pd.to_datetime(messages["active_from"]).dt.date <= today)
        & (pd.to_datetime(messages["active_to"]).dt.date >= today)
    ]
    out = cfg.run_dir(run_id) / "scoring"
    shard_dir = out / "customers"
    shard_dir.mkdir(parents=True, exist_ok=True)
    for stale in shard_dir.glob("shard=*.parquet"):
        stale.unlink()  # a re-run with fewer shards must not leave an old shard behind
    batch = max(1, cfg.scoring_batch_customers)
    shards = sorted(int(s) for s in customers["shard"].unique())
    for shard, part in customers.groupby("shard", sort=True):
        part.reset_index(drop=True).to_parquet(shard_dir / f"shard={int(shard)}.parquet", index=False,
                                               row_group_size=batch)
    features.message_features(active, cfg.assets_dir).to_parquet(out / "active_messages.parquet", index=False)
    return ScoringPlan(
        customers_dir=str(shard_dir),
        messages_path=str(out / "active_messages.parquet"),
        shards=shards,
        n_customers=len(customers),
        n_active_messages=len(active),
        as_of=pd.Timestamp(as_of).isoformat(),
        batch_customers=batch,
    )


def _response_history(sends: pd.DataFrame, target: str) -> pd.DataFrame:
    """Messages (not hold-outs) each customer got in the extract window and how many converted."""
    sent = sends[~sends["channel"].eq(HOLDOUT_CHANNEL) & sends["message_id"].notna()]
    label = sent[target].astype("boolean").fillna(False).astype("int64") if target in sent else 0
    frame = pd.DataFrame({"customer_id": sent["customer_id"], "converted": label})
    return frame.groupby("customer_id").agg(sends=("converted", "size"), converted=("converted", "sum"))


def iter_shard(plan: ScoringPlan, shard: int, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """The shard's customers, one row group (``batch_customers`` customers) at a time."""
    path = plan.shard_path(shard)
    if not path.is_file():
        return
    parquet = pq.ParquetFile(path)
    for i in range(parquet.num_row_groups):
        yield parquet.read_row_group(i, columns=columns).to_pandas()


def candidate_rows(customers: pd.DataFrame, messages: pd.DataFrame, cfg: HeraldConfig, as_of: datetime) -> pd.DataFrame:
    """Every allowed (customer × message × consented channel × allowed hour) as raw model rows."""
    allowed = allowed_channels(customers, cfg)
    hours = np.asarray(allowed_send_hours(cfg.policy), dtype=np.int64)
    message_ids = messages["message_id"].to_numpy(dtype=object)
    weekday = pd.Timestamp(as_of).weekday()
    parts = []
    for channel in cfg.channels:
        who = customers["customer_id"].to_numpy(dtype=object)[allowed[channel].to_numpy()]
        if len(who) == 0 or len(message_ids) == 0 or len(hours) == 0:
            continue
        # Cartesian product built with repeat/tile: no merge, the grid is the hot path of scoring.
        n_m, n_h = len(message_ids), len(hours)
        parts.append(pd.DataFrame({
            "customer_id": np.repeat(who, n_m * n_h),
            "message_id": np.tile(np.repeat(message_ids, n_h), len(who)),
            "send_hour": np.tile(hours, len(who) * n_m),
            "channel": channel,
        }))
    if not parts:
        return pd.DataFrame({"customer_id": pd.Series(dtype=object), "message_id": pd.Series(dtype=object),
                             "send_hour": pd.Series(dtype="int64"), "channel": pd.Series(dtype=object),
                             "weekday": pd.Series(dtype="int64")})
    grid = pd.concat(parts, ignore_index=True)
    grid["weekday"] = weekday
    return grid


def holdout_rows(customers: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """The "send nothing" action of each customer, scored to measure uplift against."""
    return pd.DataFrame({
        "customer_id": customers["customer_id"].to_numpy(),
        "message_id": None,
        "channel": HOLDOUT_CHANNEL,
        "send_hour": pd.Timestamp(as_of).hour,
        "weekday": pd.Timestamp(as_of).weekday(),
    })


@dataclass
class ChampionScorer:
    """The estimator inside the champion pyfunc, fed only its signature's columns.

    MLflow's per-call schema enforcement and the string re-typing of ``predict_served`` cost more
    than the forward pass itself on candidate grids; the estimator's own preprocessor reads raw
    rows exactly as it did when the training flow evaluated it, so they are skipped here. Missing
    inputs still fail loudly, as in serving.
    """

    estimator: object
    columns: list[str]

    def __call__(self, rows: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in rows.columns]
        if missing:
            raise KeyError(f"model input lacks column(s) {', '.join(missing)}")
        return np.asarray(self.estimator.predict_proba(rows[self.columns]), dtype=np.float64)  # type: ignore[attr-defined]


def load_scorer(cfg: HeraldConfig, champion: RegisteredModel) -> ChampionScorer:
    """The champion (loaded once per task) as a rows → P(response) function."""
    import mlflow

    from pipelines.tracking import connect

    connect(cfg)
    model = mlflow.pyfunc.load_model(champion.model_uri)
    columns = [spec.name for spec in model.metadata.get_input_schema().inputs]
    return ChampionScorer(model.unwrap_python_model().estimator, columns)


def _model_inputs(frame: pd.DataFrame, scorer: Scorer, keys: tuple[str, ...]) -> pd.DataFrame:
    """Only the columns the model reads (plus join keys): joins copy every column onto every candidate."""
    needed = getattr(scorer, "columns", None)
    if needed is None:
        return frame
    keep = [c for c in frame.columns if c in keys or c in set(needed)]
    return frame[keep]


def _candidate_positions(
    allowed: np.ndarray, n_messages: int, hours: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The grid of :func:`candidate_rows` as positions: (customer row, message row, send hour, channel index).

    Same order: channel by channel (config order), then customer, message, hour. ``allowed`` is the
    customer × channel consent matrix in config channel order.
    """
    hours_arr = np.asarray(hours, dtype=np.int64)
    n_m, n_h = n_messages, len(hours_arr)
    parts = []
    for j in range(allowed.shape[1]):
        who = np.flatnonzero(allowed[:, j])
        if len(who) == 0 or n_m == 0 or n_h == 0:
            continue
        parts.append((np.repeat(who, n_m * n_h), np.tile(np.repeat(np.arange(n_m, dtype=np.int64), n_h), len(who)),
                      np.tile(hours_arr, len(who) * n_m), np.full(len(who) * n_m * n_h, j, dtype=np.int64)))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    return tuple(np.concatenate(cols) for cols in zip(*parts))  # type: ignore[return-value]


def score_batch(
    customers: pd.DataFrame, messages: pd.DataFrame, cfg: HeraldConfig, as_of: datetime, scorer: Scorer,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Decide for one batch of customers: rules, one model call for all candidates, the policy.

    Returns (decisions incl. rule-blocked customers, the batch's campaign offers, candidates scored).
    """
    allowed = allowed_channels(customers, cfg)
    blocked = blocking_reason(customers, allowed, cfg.policy, n_active_messages=len(messages))
    is_open = blocked.isna().to_numpy()
    blocked_rows = pd.DataFrame({
        "customer_id": customers.loc[~is_open, "customer_id"].to_numpy(), "message_id": None, "channel": None,
        "send_hour": None, "p_response": np.nan, "uplift": np.nan, "propensity": 1.0, "policy": RULE,
        "reason": blocked[~is_open].to_numpy(), "n_actions": 1,
    })
    open_customers = customers[is_open]
    empty_offers = pd.DataFrame()
    if open_customers.empty:
        return blocked_rows, empty_offers, 0
    open_customers = open_customers.reset_index(drop=True)
    n_hold = len(open_customers)
    cust_pos, msg_pos, hour, chan = _candidate_positions(allowed[is_open].to_numpy(dtype=bool), len(messages),
                                                         allowed_send_hours(cfg.policy))
    # Actions: every open customer's hold-out first, then the candidate grid (as holdout_rows + candidate_rows).
    action_cust = np.concatenate([np.arange(n_hold, dtype=np.int64), cust_pos])
    action_msg = np.concatenate([np.full(n_hold, -1, dtype=np.int64), msg_pos])
    customer_ids = open_customers["customer_id"].to_numpy(dtype=object)
    message_ids = messages["message_id"].to_numpy(dtype=object)
    channels = np.asarray(list(cfg.channels), dtype=object)
    grid_cust, grid_msg, grid_chan = customer_ids[cust_pos], message_ids[msg_pos], channels[chan]
    as_of_ts = pd.Timestamp(as_of)
    fatigue = pd.to_numeric(open_customers["recent_sends_7d"]).fillna(0).astype("int64").to_numpy()
    actions = pd.DataFrame({
        "customer_id": np.concatenate([customer_ids, grid_cust]),
        "message_id": np.concatenate([np.full(n_hold, None, dtype=object), grid_msg]),
        "channel": np.concatenate([np.full(n_hold, HOLDOUT_CHANNEL, dtype=object), grid_chan]),
        "send_hour": np.concatenate([np.full(n_hold, as_of_ts.hour, dtype=np.int64), hour]),
        "weekday": np.full(len(action_cust), as_of_ts.weekday(), dtype=np.int64),
        "recent_sends_7d": fatigue[action_cust],
    })
    profiles = open_customers.drop(columns=[c for c in SCORING_ONLY_COLUMNS if c in open_customers])
    # Positional takes, not key merges: same raw model rows as features.model_rows, without hashing ids.
    rows = features.model_rows_at(actions, _model_inputs(profiles, scorer, ("customer_id",)), action_cust,
                                  _model_inputs(messages, scorer, ("message_id",)), action_msg)
    p = np.asarray(scorer(rows), dtype=np.float64)
    del rows, actions
    holdout_p = pd.Series(p[:n_hold], index=customer_ids)
    grid = pd.DataFrame({"customer_id": grid_cust, "message_id": grid_msg, "send_hour": hour, "channel": grid_chan,
                         "weekday": np.full(len(cust_pos), as_of_ts.weekday(), dtype=np.int64),
                         "p_response": p[n_hold:]})
    decided = choose_actions(grid, holdout_p, cfg.policy, rng)
    offers = empty_offers
    budget = cfg.policy.campaign_budget_per_run
    if budget is not None and "msg_campaign_id" in messages:
        campaign_of = messages.set_index("message_id")["msg_campaign_id"]
        offers = campaign_offers(net_uplift(grid, holdout_p, cfg.policy), campaign_of, cfg.policy)
        offers = offers[["customer_id", "campaign_id", "message_id", "channel", "send_hour", "p_response",
                         "uplift", "net"]]
    return pd.concat([decided, blocked_rows], ignore_index=True), offers, len(grid)


def score_shard(
    cfg: HeraldConfig, run_id: str, shard: int, plan: ScoringPlan, champion: RegisteredModel,
    scorer: Scorer | None = None,
) -> dict[str, int | bool]:
    """Stream one shard in customer batches, apply the policy and replace the shard's decisions.

    Memory is one batch of candidates plus one small decision row per customer of the shard. With
    a campaign budget the decisions wait in Parquet for :func:`allocate_campaign_budget`, which
    writes them once the whole run's offers are known.
    """
    as_of = datetime.fromisoformat(plan.as_of)
    scorer = scorer or load_scorer(cfg, champion)
    messages = pd.read_parquet(plan.messages_path)
    rng = np.random.default_rng(zlib.crc32(f"{run_id}/{shard}".encode()))
    decided: list[pd.DataFrame] = []
    offers: list[pd.DataFrame] = []
    candidates_scored = n_customers = 0
    budget = cfg.policy.campaign_budget_per_run
    n_campaigns = int(messages["msg_campaign_id"].nunique()) if "msg_campaign_id" in messages else 1
    for batch in iter_shard(plan, shard):
        decisions, batch_offers, scored = score_batch(batch, messages, cfg, as_of, scorer, rng)
        decided.append(_compact(decisions))
        n_customers += len(batch)
        candidates_scored += scored
        if budget is not None and len(batch_offers):
            # Keep only offers a greedy allocation could accept, so offers stay bounded by the budget.
            offers = [keep_allocatable(pd.concat([*offers, batch_offers], ignore_index=True), budget, n_campaigns)]
    frame = pd.concat(decided, ignore_index=True) if decided else _compact(pd.DataFrame(columns=_PHASE1_COLUMNS))
    if budget is not None:
        plan.budget_dir.mkdir(parents=True, exist_ok=True)
        _write_parquet(frame, plan.budget_dir / f"decisions_shard={shard}.parquet")
        _write_parquet(pd.concat(offers, ignore_index=True) if offers else pd.DataFrame(columns=_OFFER_COLUMNS),
                       plan.budget_dir / f"offers_shard={shard}.parquet")
        return {"shard": shard, "customers": n_customers, "candidates_scored": candidates_scored,
                "decisions": 0, "budget_pending": True}
    written = write_decisions(cfg, run_id, shard, plan, champion, frame)
    return {"shard": shard, "customers": n_customers, "candidates_scored": candidates_scored,
            "decisions": written, "budget_pending": False}


_PHASE1_COLUMNS = ["customer_id", "message_id", "channel", "send_hour", "p_response", "uplift", "propensity",
                   "policy", "reason", "n_actions", "greedy_message_id", "greedy_channel", "greedy_send_hour"]
_OFFER_COLUMNS = ["customer_id", "campaign_id", "message_id", "channel", "send_hour", "p_response", "uplift", "net"]


def _compact(decisions: pd.DataFrame) -> pd.DataFrame:
    """The columns a decision needs until it is written, with stable types for Parquet."""
    out = decisions.reindex(columns=_PHASE1_COLUMNS)
    for col in ("send_hour", "greedy_send_hour", "n_actions"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    for col in ("p_response", "uplift", "propensity"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    for col in ("customer_id", "message_id", "channel", "policy", "reason", "greedy_message_id", "greedy_channel"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    # Write then rename, so a crash never leaves a half-written hand-off for the next task.
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def write_decisions(
    cfg: HeraldConfig, run_id: str, shard: int, plan: ScoringPlan, champion: RegisteredModel, frame: pd.DataFrame
) -> int:
    """Replace the rows of (run_id, shard) in ``decisions`` in one transaction."""
    table = _decision_table(frame, run_id, shard, plan, champion)
    with get_warehouse(cfg) as warehouse:
        return warehouse.write("decisions", table, mode="replace_run", run_filter={"run_id": run_id, "shard": shard})


def allocate_campaign_budget(
    cfg: HeraldConfig, run_id: str, plan: ScoringPlan, champion: RegisteredModel
) -> dict[str, object]:
    """Apply the per-campaign budget across all shards of the run, then write every shard's decisions.

    Runs after every shard: a budget of B sends per campaign per run goes to the run's highest net
    uplifts, whichever shard they are in (a per-shard B/n split would give a campaign's slots to a
    weak shard's customers while a strong shard's better ones go without). Explored sends are
    honoured and counted first. Deterministic in its inputs, so a retry writes the same rows.
    """
    budget = cfg.policy.campaign_budget_per_run
    if budget is None:
        return {"applied": False}
    messages = pd.read_parquet(plan.messages_path)
    campaign_of = messages.set_index("message_id")["msg_campaign_id"] if "msg_campaign_id" in messages else None
    phase1 = {s: pd.read_parquet(plan.budget_dir / f"decisions_shard={s}.parquet") for s in plan.shards}
    offer_frames = [pd.read_parquet(plan.budget_dir / f"offers_shard={s}.parquet") for s in plan.shards]
    offers = pd.concat(offer_frames, ignore_index=True)
    explored_sends: dict[str, int] = {}
    if campaign_of is not None:
        for frame in phase1.values():
            sent = frame[(frame["policy"] == EXPLORE) & frame["message_id"].notna()]
            for camp, n in sent["message_id"].map(campaign_of).value_counts().items():
                explored_sends[str(camp)] = explored_sends.get(str(camp), 0) + int(n)
    allocated = allocate_budget(offers, budget, explored_sends)
    written = 0
    for shard, frame in phase1.items():
        final = apply_allocation(frame, allocated[allocated["customer_id"].isin(frame["customer_id"])], cfg.policy)
        written += write_decisions(cfg, run_id, shard, plan, champion, final)
    per_campaign = allocated["campaign_id"].value_counts().to_dict() if len(allocated) else {}
    return {"applied": True, "budget": budget, "allocated": int(len(allocated)), "decisions": written,
            "allocated_per_campaign": {str(k): int(v) for k, v in per_campaign.items()},
            "explored_per_campaign": explored_sends}


def _decision_table(
    decisions: pd.DataFrame, run_id: str, shard: int, plan: ScoringPlan, champion: RegisteredModel
) -> pd.DataFrame:
    # decided_at is the run's logical time, not the wall clock, so a re-run writes identical rows.
    out = decisions.assign(
        run_id=run_id, shard=shard, decided_at=pd.Timestamp(plan.as_of),
        model_name=champion.name, model_version=champion.version,
    )
    out["send_hour"] = pd.to_numeric(out["send_hour"], errors="coerce").astype("Int64")
    for col in ("p_response", "uplift", "propensity"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out[DECISIONS.column_names].sort_values("customer_id", kind="stable").reset_index(drop=True)


def decision_summary(cfg: HeraldConfig, run_id: str) -> dict[str, object]:
    """Decision mix of a run (per channel, per hour, hold-out and explored shares) and its estimated value.

    The value is the direct-method estimate from the champion's own scores over the customers it
    scored: mean P(response) of the chosen actions, against sending nothing to the same customers.
    """
    with get_warehouse(cfg) as warehouse:
        frame = warehouse.query("decisions_for_run", {"run_id": run_id})
    sent = frame["message_id"].notna()
    scored = frame["policy"].isin(["exploit", "explore"])
    p = frame.loc[scored, "p_response"].astype(float)
    u = frame.loc[scored, "uplift"].astype(float).fillna(0.0)
    return {
        "decisions": int(len(frame)),
        "messages_sent": int(sent.sum()),
        "per_channel": {str(k): int(v) for k, v in frame.loc[sent, "channel"].value_counts().items()},
        "per_hour": {str(k): int(v) for k, v in frame.loc[sent, "send_hour"].value_counts().sort_index().items()},
        "reasons": {str(k): int(v) for k, v in frame["reason"].value_counts().items()},
        "holdout_share": float((~sent).mean()) if len(frame) else 0.0,
        "explored_share": float((frame["policy"] == "explore").mean()) if len(frame) else 0.0,
        "expected_uplift_per_customer": float(frame["uplift"].fillna(0).mean()) if len(frame) else 0.0,
        "customers_scored": int(scored.sum()),
        "estimated_policy_value": float(p.mean()) if len(p) else float("nan"),
        "estimated_holdout_value": float((p - u).mean()) if len(p) else float("nan"),
    }
