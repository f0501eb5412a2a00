"""Fitted featurizer of the deep model: raw rows → per-customer, per-message and per-row tensors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from models.components.image import ImageLoader
from models.components.sequence import SequenceVocab
from models.components.text import TextEmbedder
from models.preprocessing import CROSS_FEATURES, TabularPreprocessor

# The action's context; everything else not prefixed msg_ describes the customer.
# Customer × action crosses vary per row, so they are context too (never part of a tower's dedupe key).
CONTEXT_COLUMNS = ("channel", "send_hour", "weekday", "recent_sends_7d", *CROSS_FEATURES)
MESSAGE_PREFIX = "msg_"
HOLDOUT_CHANNEL = "none"
SEQUENCE_COLUMN = "evt_sequence"
REVIEW_COLUMN = "rev_text"
TITLE_COLUMN, BODY_COLUMN, IMAGE_COLUMN = "msg_title", "msg_body", "msg_image_uri"
MODALITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "sequence": (SEQUENCE_COLUMN,),
    "reviews": (REVIEW_COLUMN,),
    "text": (TITLE_COLUMN, BODY_COLUMN),
    "images": (IMAGE_COLUMN,),
}


@dataclass
class EncodedRows:
    """Rows as index maps into a customer table and a message table, plus per-row context."""

    customers: dict[str, torch.Tensor]
    messages: dict[str, torch.Tensor]
    rows: dict[str, torch.Tensor]  # cust_idx, msg_idx (−1 = hold-out), x_cats, x_nums[, label]

    def __len__(self) -> int:
        return int(self.rows["cust_idx"].shape[0])


@dataclass
class DeepFeaturizer:
    """Splits the tabular columns by tower and turns text, events and banners into arrays."""

    preprocessor: TabularPreprocessor
    modalities: dict[str, bool] = field(default_factory=dict)
    text_cache_dir: str | None = None
    sequence_vocab: SequenceVocab | None = None
    # Outcomes learned beside the label (multi-task); chosen at fit from what the rows carry.
    auxiliary_outcomes: list[str] = field(default_factory=list)
    embedder: TextEmbedder = field(init=False)
    images: ImageLoader = field(init=False)

    def __post_init__(self) -> None:
        self.embedder = TextEmbedder(self.text_cache_dir)
        self.images = ImageLoader()

    # ---- fitting -------------------------------------------------------------------------
    def fit(self, rows: pd.DataFrame, wanted: dict[str, bool], auxiliary: tuple[str, ...] = ()) -> DeepFeaturizer:
        """Keep a modality only if configured on and its columns hold data in the training rows.

        ``auxiliary`` names outcome columns to learn beside the label; those absent or empty in
        the rows are dropped, so a warehouse without opens or clicks still trains.
        """
        self.auxiliary_outcomes = [c for c in auxiliary if c in rows and rows[c].notna().any()]
        self.modalities = {
            name: bool(wanted.get(name, True)) and all(c in rows and rows[c].notna().any() for c in cols)
            for name, cols in MODALITY_COLUMNS.items()
        }
        if self.modalities["sequence"]:
            self.sequence_vocab = SequenceVocab.fit(rows[SEQUENCE_COLUMN].drop_duplicates().tolist())
        return self

    # ---- column groups -------------------------------------------------------------------
    def _group(self, kind: str) -> tuple[list[int], list[int]]:
        def side(col: str) -> str:
            if col in CONTEXT_COLUMNS:
                return "context"
            return "message" if col.startswith(MESSAGE_PREFIX) else "customer"

        cats = [i for i, c in enumerate(self.preprocessor.categorical) if side(c) == kind]
        nums = [i for i, c in enumerate(self.preprocessor.numeric) if side(c) == kind]
        return cats, nums

    def _columns(self, kind: str) -> list[str]:
        cats, nums = self._group(kind)
        return [self.preprocessor.categorical[i] for i in cats] + [self.preprocessor.numeric[i] for i in nums]

    def cardinalities(self, kind: str) -> list[int]:
        cards = self.preprocessor.cardinalities()
        return [cards[i] for i in self._group(kind)[0]]

    def n_numeric(self, kind: str) -> int:
        return len(self._group(kind)[1])

    def raw_columns(self) -> list[str]:
        return [c for name, on in self.modalities.items() if on for c in MODALITY_COLUMNS[name]]

    def input_schema(self) -> dict[str, str]:
        return {**self.preprocessor.input_schema(), **{c: "string" for c in self.raw_columns()}}

    # ---- encoding ------------------------------------------------------------------------
    def encode(self, rows: pd.DataFrame, with_label: bool = False) -> EncodedRows:
        rows = rows.reset_index(drop=True)
        cust_cols = self._columns("customer") + [c for c in (SEQUENCE_COLUMN, REVIEW_COLUMN) if c in self.raw_columns()]
        msg_cols = self._columns("message") + [
            c for c in (TITLE_COLUMN, BODY_COLUMN, IMAGE_COLUMN) if c in self.raw_columns()
        ]
        cust_idx, cust_first = _dedupe(rows, cust_cols)
        holdout = _holdout(rows, msg_cols)
        msg_idx, msg_first = _dedupe(rows, msg_cols, skip=holdout)
        customers = self.customer_table(rows.iloc[cust_first].reset_index(drop=True))
        messages = self.message_table(rows.iloc[msg_first].reset_index(drop=True))
        cats, nums = self.preprocessor.transform(rows)
        x_cat_idx, x_num_idx = self._group("context")
        out = {
            "cust_idx": torch.from_numpy(cust_idx),
            "msg_idx": torch.from_numpy(msg_idx),
            "x_cats": torch.from_numpy(np.ascontiguousarray(cats[:, x_cat_idx])),
            "x_nums": torch.from_numpy(np.ascontiguousarray(nums[:, x_num_idx])),
        }
        if with_label:
            out["label"] = torch.from_numpy(rows["label"].to_numpy(dtype=np.float32))
            if self.auxiliary_outcomes:
                out.update(_auxiliary_targets(rows, self.auxiliary_outcomes, holdout))
        return EncodedRows(customers, messages, out)

    def _tabular(self, frame: pd.DataFrame, kind: str, prefix: str) -> dict[str, torch.Tensor]:
        cats, nums = self.preprocessor.transform(frame)
        ci, ni = self._group(kind)
        return {
            f"{prefix}_cats": torch.from_numpy(np.ascontiguousarray(cats[:, ci])),
            f"{prefix}_nums": torch.from_numpy(np.ascontiguousarray(nums[:, ni])),
        }

    def customer_table(self, frame: pd.DataFrame) -> dict[str, torch.Tensor]:
        """The customer tower's inputs, one entry per row of ``frame``."""
        table = self._tabular(frame, "customer", "c")
        if self.modalities.get("sequence") and self.sequence_vocab is not None:
            parsed = self.sequence_vocab.parse(_texts(frame, SEQUENCE_COLUMN))
            table.update(
                seq_types=torch.from_numpy(parsed.types),
                seq_cats=torch.from_numpy(parsed.categories),
                seq_nums=torch.from_numpy(parsed.numerics),
                seq_len=torch.from_numpy(parsed.lengths),
            )
        if self.modalities.get("reviews"):
            vec, mask = self.embedder.embed_joined(_texts(frame, REVIEW_COLUMN))
            table.update(rev_vec=torch.from_numpy(vec), rev_mask=torch.from_numpy(mask))
        return table

    def message_table(self, frame: pd.DataFrame) -> dict[str, torch.Tensor]:
        """The message tower's inputs, one entry per row of ``frame``."""
        table = self._tabular(frame, "message", "m")
        if self.modalities.get("text"):
            for name, col in (("title", TITLE_COLUMN), ("body", BODY_COLUMN)):
                vec, mask = self.embedder.embed(_texts(frame, col))
                table.update({f"{name}_vec": torch.from_numpy(vec), f"{name}_mask": torch.from_numpy(mask)})
        if self.modalities.get("images"):
            pixels, mask = self.images.load(_texts(frame, IMAGE_COLUMN))
            table.update(img=torch.from_numpy(pixels), img_mask=torch.from_numpy(mask))
        return table


def _auxiliary_targets(rows: pd.DataFrame, outcomes: list[str], holdout: np.ndarray) -> dict[str, torch.Tensor]:
    """Auxiliary outcomes (n, k) and a weight per cell: 0 for hold-outs (nothing to open) and missing values."""
    values = np.zeros((len(rows), len(outcomes)), dtype=np.float32)
    weight = np.zeros_like(values)
    for j, col in enumerate(outcomes):
        if col not in rows:
            continue
        series = rows[col].astype("boolean")
        known = series.notna().to_numpy(dtype=bool) & ~holdout
        values[:, j] = series.fillna(False).to_numpy(dtype=np.float32)
        weight[:, j] = known
    return {"aux_label": torch.from_numpy(values), "aux_weight": torch.from_numpy(weight)}


def _texts(frame: pd.DataFrame, col: str) -> list[str | None]:
    if col not in frame:
        return [None] * len(frame)
    return [v if isinstance(v, str) else None for v in frame[col].tolist()]


def _holdout(rows: pd.DataFrame, msg_cols: list[str]) -> np.ndarray:
    """A row is a hold-out when its channel says so or it carries no message attribute at all."""
    no_message = np.ones(len(rows), dtype=bool)
    for col in msg_cols:
        if col in rows:
            no_message &= rows[col].isna().to_numpy()
    if "channel" in rows:
        no_message |= rows["channel"].astype("object").eq(HOLDOUT_CHANNEL).to_numpy()
    return no_message


def _dedupe(rows: pd.DataFrame, cols: list[str], skip: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Group identical feature rows: (table index per row, −1 where skipped; first row of each group).

    Grouping by content rather than by id means two rows share a tower pass only when the
    tower would see exactly the same inputs.
    """
    n = len(rows)
    key = np.zeros(n, dtype=np.int64)
    for col in cols:
        if col not in rows:
            continue
        codes, uniques = pd.factorize(rows[col], use_na_sentinel=True)
        key = pd.factorize(key * (len(uniques) + 1) + (codes + 1))[0].astype(np.int64)
    keep = np.ones(n, dtype=bool) if skip is None else ~skip
    index = np.full(n, -1, dtype=np.int64)
    if keep.any():
        _, first, inverse = np.unique(key[keep], return_index=True, return_inverse=True)
        index[keep] = inverse
        first = np.flatnonzero(keep)[first]
    else:
        first = np.zeros(0, dtype=np.int64)
    return index, first
