"""The Hillstrom MineThatData e-mail experiment mapped into the warehouse contract, as Herald's real-data proof.

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

from __future__ import annotations

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
PROFILE_RENAMES = {"channel": "purchase_channel"}
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

    The warehouse file and tracking store stay the caller's, so ``herald ui mlflow`` shows the
    experiment; runs, reports and the validation volume baseline move under ``HOME/hillstrom``
    so the real data never compares itself with the synthetic world.
    """
    h = cfg.hillstrom
    return cfg.model_copy(update={
        "home": cfg.home / h.home_subdir,
        "warehouse_path": cfg.duckdb_path,
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
    """Map validated Hillstrom rows to the contract tables customers, messages and sends."""
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

