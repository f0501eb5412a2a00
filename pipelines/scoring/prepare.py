"""The prepare step of scoring: customer features as of now written per shard, the active messages, the plan."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipelines.config import HeraldConfig
from pipelines.training import features
from pipelines.training.profiles import customer_features_as_of
from pipelines.validation.accounting import RowCount, check, write_metrics
from pipelines.warehouse.contract import HOLDOUT_CHANNEL
from pipelines.warehouse.extract import load_extract

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
    logical_date: str = ""  # ISO date the run's decisions are published under (default: as_of's UTC date)

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


def prepare(
    cfg: HeraldConfig,
    run_id: str,
    extract_paths: dict[str, str],
    as_of: datetime,
    logical_date: str | None = None,
) -> ScoringPlan:
    """Customer features as of now, written one Parquet file per shard; the active message catalogue.

    Features are aggregated over all customers at once so every shard sees the same columns (a
    category no customer of one shard browsed is still a column there); each shard file is
    written in row groups of ``scoring_batch_customers`` so a shard task can stream it. Row
    accounting: every customer lands in exactly one shard and every message is active or not on
    the run's date (RowAccountingError otherwise); the counts go to ``monitoring_metrics``.
    """
    tables = load_extract(extract_paths)
    customers = customer_features_as_of(cfg, tables, as_of)
    recent = features.recent_sends_as_of(tables["sends"], as_of)
    customers["recent_sends_7d"] = customers["customer_id"].map(recent).fillna(0).astype("int64")
    history = _response_history(tables["sends"], cfg.target)
    customers["hist_sends"] = customers["customer_id"].map(history["sends"]).fillna(0).astype("int64")
    customers["hist_converted"] = customers["customer_id"].map(history["converted"]).fillna(0).astype("int64")
    customers["shard"] = shard_of(customers["customer_id"], cfg.scoring_shards)
    messages = tables["messages"]
    today = pd.Timestamp(as_of).date()
    is_active = (pd.to_datetime(messages["active_from"]).dt.date <= today) & (
        pd.to_datetime(messages["active_to"]).dt.date >= today
    )
    active = messages[is_active]
    out = cfg.run_dir(run_id) / "scoring"
    shard_dir = out / "customers"
    shard_dir.mkdir(parents=True, exist_ok=True)
    for stale in shard_dir.glob("shard=*.parquet"):
        stale.unlink()  # a re-run with fewer shards must not leave an old shard behind
    batch = max(1, cfg.scoring_batch_customers)
    shards = sorted(int(s) for s in customers["shard"].unique())
    shard_sizes = []
    for shard, part in customers.groupby("shard", sort=True):
        shard_sizes.append(len(part))
        part.reset_index(drop=True).to_parquet(
            shard_dir / f"shard={int(shard)}.parquet", index=False, row_group_size=batch
        )
    features.message_features(active, cfg.assets_dir).to_parquet(out / "active_messages.parquet", index=False)
    accounting = check(
        [
            RowCount("prepare", "customers", len(tables["customers"]), kept=int(sum(shard_sizes))),
            RowCount(
                "prepare",
                "messages",
                len(messages),
                kept=len(active),
                out_of_scope=int((~is_active).sum()),
                note=f"not active on {today}",
            ),
        ]
    )
    write_metrics(cfg, run_id, "prepare", accounting)
    return ScoringPlan(
        customers_dir=str(shard_dir),
        messages_path=str(out / "active_messages.parquet"),
        shards=shards,
        n_customers=len(customers),
        n_active_messages=len(active),
        as_of=pd.Timestamp(as_of).isoformat(),
        batch_customers=batch,
        logical_date=logical_date or pd.Timestamp(as_of).tz_convert("UTC").date().isoformat()
        if pd.Timestamp(as_of).tzinfo
        else pd.Timestamp(as_of).date().isoformat(),
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
