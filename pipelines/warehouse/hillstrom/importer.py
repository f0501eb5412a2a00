"""The Hillstrom experiment mapped into the warehouse contract and written into a dataset of its own."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.warehouse.hillstrom.csv_file import ARM_MESSAGES, HillstromFileError, read_hillstrom

# The outcome written into sends.converted, the label Herald trains on.
Target = Literal["visit", "conversion"]
# Each customer was put in one of the three arms at random with equal chance.
PROPENSITY = 1.0 / 3.0
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


def hillstrom_config(cfg: HeraldConfig) -> HeraldConfig:
    """The config a Hillstrom run uses: its own dataset, run state and MLflow experiment, same MLflow store.

    The MLflow store stays the caller's, so ``herald ui mlflow`` shows the experiment. Runs,
    reports, the validation volume baseline and (unless HERALD_WAREHOUSE_PATH names one) the
    embedded warehouse file move under ``HOME/hillstrom``: the real data never compares itself
    with the synthetic world, and never waits on another process's DuckDB write lock.
    """
    h = cfg.hillstrom
    return cfg.model_copy(
        update={
            "home": cfg.home / h.home_subdir,
            "mlflow_tracking_uri": cfg.tracking_uri,
            "dataset": h.dataset,
            "mlflow_experiment": h.mlflow_experiment,
            "target": "converted",
        }
    )


def campaign_window(now: datetime, days: int, end_days_ago: int) -> tuple[datetime, datetime]:
    """[start, end) of the campaign: it ends ``end_days_ago`` days before now so outcomes are complete."""
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
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
    customers = pd.DataFrame(
        {
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
        }
    )
    messages = pd.DataFrame(
        [
            {
                "message_id": mid,
                "campaign_id": CAMPAIGN_ID,
                "title": title,
                "body": body,
                "offer_type": "content",
                "discount_pct": None,
                "product_category": category,
                "image_uri": None,
                "active_from": start.date(),
                "active_to": (end - timedelta(days=1)).date(),
            }
            for mid, (title, body, category) in MESSAGES_TEXT.items()
        ]
    )
    messages["discount_pct"] = messages["discount_pct"].astype("float64")
    message_id = raw["segment"].map(ARM_MESSAGES)
    # Mailing days spread evenly at random over the campaign (seeded: a re-import writes the same rows).
    day = np.random.default_rng(seed).integers(0, days, size=n)
    sent_at = pd.Timestamp(start) + pd.to_timedelta(day, unit="D") + pd.Timedelta(hours=SEND_HOUR_UTC)
    sends = pd.DataFrame(
        {
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
        }
    )
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
    now = now or datetime.now(UTC)
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
        path=str(source),
        dataset=cfg.dataset,
        target=chosen,
        rows=rows,
        campaign_start=start.isoformat(),
        campaign_end=end.isoformat(),
        arms={k: int(v) for k, v in raw["segment"].value_counts().items()},
    )
