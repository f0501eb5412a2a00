"""Tabular encoder: one embedding per categorical column plus an MLP over the numerics."""

from __future__ import annotations

import torch
from torch import nn

# Standardised numerics beyond this many deviations are clipped so heavy tails cannot blow up a batch.
NUMERIC_CLIP = 5.0


def embedding_dim(cardinality: int, cap: int = 12) -> int:
    """A small rule of thumb: grow with the vocabulary, never past ``cap``."""
    return int(min(cap, max(2, round(1.6 * cardinality**0.56))))


class TabularEncoder(nn.Module):
    """Maps (category codes [n, k], numerics [n, j]) to a vector [n, out_dim]."""

    def __init__(self, cardinalities: list[int], n_numeric: int, out_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(c, embedding_dim(c)) for c in cardinalities)
        width = sum(e.embedding_dim for e in self.embeddings) + n_numeric
        self.out_dim = out_dim
        self.mlp = (
            nn.Sequential(
                nn.Linear(max(width, 1), out_dim),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(out_dim, out_dim),
                nn.GELU(),
            )
            if width
            else None
        )

    def forward(self, cats: torch.Tensor, nums: torch.Tensor) -> torch.Tensor:
        parts = [emb(cats[:, i]) for i, emb in enumerate(self.embeddings)]
        if nums.shape[1]:
            parts.append(nums.clamp(-NUMERIC_CLIP, NUMERIC_CLIP))
        if self.mlp is None:
            return cats.new_zeros((cats.shape[0], self.out_dim), dtype=torch.float32)
        return self.mlp(torch.cat(parts, dim=1))


class WideLinear(nn.Module):
    """The "wide" part of wide & deep: a linear logit term straight from the tabular columns.

    One weight per category value (a 1-d embedding) plus one per numeric, so the model has at
    least what logistic regression has without routing it through the towers' bottlenecks.
    """

    def __init__(self, cardinalities: list[int], n_numeric: int) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(c, 1) for c in cardinalities)
        for emb in self.embeddings:
            nn.init.zeros_(emb.weight)
        self.numeric = nn.Linear(n_numeric, 1, bias=False) if n_numeric else None
        if self.numeric is not None:
            nn.init.zeros_(self.numeric.weight)

    def forward(self, cats: torch.Tensor, nums: torch.Tensor) -> torch.Tensor:
        out = cats.new_zeros(cats.shape[0], dtype=torch.float32)
        for i, emb in enumerate(self.embeddings):
            out = out + emb(cats[:, i]).squeeze(1)
        if self.numeric is not None:
            out = out + self.numeric(nums.clamp(-NUMERIC_CLIP, NUMERIC_CLIP)).squeeze(1)
        return out
