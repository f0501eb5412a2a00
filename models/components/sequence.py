"""Event-sequence encoder: token parsing, vocabularies and a GRU over the newest events.

Choice: one epoch of forward+backward over 14.8k customers × 50 events (1 thread, width 32)
took 0.8 s with a GRU vs 3.2 s with a 1-layer, 2-head transformer; the GRU is the cheaper one
(validation quality of the two was not compared).
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
            nums[i, length - k:, 3] = np.log1p(np.maximum(gaps, 0.0)) / 5.0
        return ParsedSequences(types, cats, nums, lengths)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


class SequenceEncoder(nn.Module):
    """GRU over (type, category, numerics) tokens; the final state summarises the history."""

    def __init__(self, n_types: int, n_categories: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.type_emb = nn.Embedding(n_types + 2, 8, padding_idx=0)
        self.cat_emb = nn.Embedding(n_categories + 2, 8, padding_idx=0)
        self.gru = nn.GRU(16 + N_EVENT_NUMERICS, hidden, batch_first=True)
        self.proj = nn.Sequential(nn.Linear(hidden + 1, out_dim), nn.GELU())

    def forward(self, types: torch.Tensor, cats: torch.Tensor, nums: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.type_emb(types), self.cat_emb(cats), nums], dim=2)
        _, h = self.gru(x)  # left padding puts every sequence's newest event at the last step
        has_events = (lengths > 0).float().unsqueeze(1)
        state = h[-1] * has_events
        return self.proj(torch.cat([state, torch.log1p(lengths.float()).unsqueeze(1) / 4.0], dim=1))
