"""Event-sequence encoder: token parsing, vocabularies and a GRU (or a small transformer) over the newest events.

Choice: the GRU is the default. `make bench SECTION=sequence` trains the deep model with each
encoder and without the sequence on the same split. On the default world (one run, 2 cores) the GRU
had test AUC 0.675 in 62 s, the 1-layer 2-head transformer 0.673 in 78 s and no sequence 0.672 in
31 s; validation AUCs were within 0.002 of each other. The GRU is as good and cheaper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

MAX_EVENTS = 50
N_EVENT_NUMERICS = 4  # log amount, has amount, log hours before, log gap to the next-older event


@dataclass
class ParsedSequences:
    """Arrays for a batch of customers, oldest event first and left-padded (padding id 0)."""

    types: np.ndarray  # int64 [n, L]
    categories: np.ndarray  # int64 [n, L]
    numerics: np.ndarray  # float32 [n, L, N_EVENT_NUMERICS]
    lengths: np.ndarray  # int64 [n]


@dataclass
class SequenceVocab:
    """Event-type and category vocabularies; id 0 pads, id 1 is unknown."""

    types: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    max_events: int = MAX_EVENTS

    @classmethod
    def fit(cls, sequences: Sequence[str | None], max_events: int = MAX_EVENTS) -> SequenceVocab:
        types: set[str] = set()
        cats: set[str] = set()
        for seq in sequences:
            if isinstance(seq, str) and seq:
                for token in seq.split(";"):
                    parts = token.split("|")
                    types.add(parts[0])
                    if len(parts) > 1:
                        cats.add(parts[1])
        return cls(sorted(types), sorted(cats), max_events)

    def parse(self, sequences: Sequence[str | None]) -> ParsedSequences:
        n, length = len(sequences), self.max_events
        type_ids = {t: i + 2 for i, t in enumerate(self.types)}
        cat_ids = {c: i + 2 for i, c in enumerate(self.categories)}
        types = np.zeros((n, length), dtype=np.int64)
        cats = np.zeros((n, length), dtype=np.int64)
        nums = np.zeros((n, length, N_EVENT_NUMERICS), dtype=np.float32)
        lengths = np.zeros(n, dtype=np.int64)
        for i, seq in enumerate(sequences):
            if not isinstance(seq, str) or not seq:
                continue
            tokens = seq.split(";")[:length][::-1]  # stored newest first; the GRU reads oldest first
            k = len(tokens)
            lengths[i] = k
            hours = np.zeros(k, dtype=np.float32)
            for j, token in enumerate(tokens):
                parts = (token.split("|") + ["", "", "", ""])[:4]
                pos = length - k + j
                types[i, pos] = type_ids.get(parts[0], 1)
                cats[i, pos] = cat_ids.get(parts[1], 1) if parts[1] else 0
                amount = _float(parts[2])
                hours[j] = max(_float(parts[3]), 0.0)
                nums[i, pos, 0] = np.log1p(max(amount, 0.0)) / 5.0
                nums[i, pos, 1] = 1.0 if parts[2] else 0.0
                nums[i, pos, 2] = np.log1p(hours[j]) / 7.0
            gaps = np.r_[0.0, hours[:-1] - hours[1:]]  # hours since the previous (older) event
            nums[i, length - k :, 3] = np.log1p(np.maximum(gaps, 0.0)) / 5.0
        return ParsedSequences(types, cats, nums, lengths)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


SEQUENCE_ENCODERS = ("gru", "transformer")


class SequenceEncoder(nn.Module):
    """GRU or transformer over (type, category, numerics) tokens → one vector summarising the history."""

    def __init__(
        self,
        n_types: int,
        n_categories: int,
        hidden: int,
        out_dim: int,
        kind: str = "gru",
        max_events: int = MAX_EVENTS,
    ) -> None:
        super().__init__()
        if kind not in SEQUENCE_ENCODERS:
            raise ValueError(f"sequence encoder {kind!r} is not one of {', '.join(SEQUENCE_ENCODERS)}")
        self.kind = kind
        self.type_emb = nn.Embedding(n_types + 2, 8, padding_idx=0)
        self.cat_emb = nn.Embedding(n_categories + 2, 8, padding_idx=0)
        if kind == "gru":
            self.gru = nn.GRU(16 + N_EVENT_NUMERICS, hidden, batch_first=True)
        else:
            self.inp = nn.Linear(16 + N_EVENT_NUMERICS, hidden)
            # Positions count back from the newest event (left padding puts it last).
            self.position = nn.Embedding(max_events, hidden)
            self.encoder = nn.TransformerEncoder(
                nn.TransformerEncoderLayer(
                    hidden, nhead=2, dim_feedforward=2 * hidden, dropout=0.1, batch_first=True, norm_first=True
                ),
                num_layers=1,
                enable_nested_tensor=False,
            )
        self.proj = nn.Sequential(nn.Linear(hidden + 1, out_dim), nn.GELU())

    def forward(
        self, types: torch.Tensor, cats: torch.Tensor, nums: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        x = torch.cat([self.type_emb(types), self.cat_emb(cats), nums], dim=2)
        has_events = (lengths > 0).float().unsqueeze(1)
        state = self._gru(x) if self.kind == "gru" else self._transformer(x, lengths)
        return self.proj(torch.cat([state * has_events, torch.log1p(lengths.float()).unsqueeze(1) / 4.0], dim=1))

    def _gru(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(x)  # left padding puts every sequence's newest event at the last step
        return h[-1]

    def _transformer(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        steps_back = torch.arange(length - 1, -1, -1, device=x.device)
        padding = steps_back.unsqueeze(0) >= lengths.clamp(min=1).unsqueeze(1)  # an empty history keeps one slot
        h = self.encoder(
            self.inp(x) + self.position(steps_back.clamp(max=self.position.num_embeddings - 1)),
            src_key_padding_mask=padding,
        )
        keep = (~padding).unsqueeze(2).float()
        return (h * keep).sum(dim=1) / keep.sum(dim=1)  # mean over the real events
