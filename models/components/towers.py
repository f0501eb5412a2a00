"""Customer tower, message tower and context encoder; each sees only its own side's inputs."""

from __future__ import annotations

import torch
from torch import nn

from models.components.image import ImageEncoder
from models.components.sequence import SequenceEncoder
from models.components.tabular import TabularEncoder
from models.components.text import TextProjection


class CustomerTower(nn.Module):
    """Profile and aggregates, the event history and review texts → one vector per customer."""

    def __init__(
        self,
        cardinalities: list[int],
        n_numeric: int,
        out_dim: int,
        *,
        sequence: tuple[int, int] | None,
        reviews: bool,
        seq_hidden: int = 32,
        part_dim: int = 32,
        dropout: float = 0.1,
        sequence_encoder: str = "gru",
    ) -> None:
        super().__init__()
        self.tabular = TabularEncoder(cardinalities, n_numeric, out_dim, dropout)
        self.sequence = (
            SequenceEncoder(*sequence, hidden=seq_hidden, out_dim=part_dim, kind=sequence_encoder) if sequence else None
        )
        self.reviews = TextProjection(part_dim, dropout=dropout) if reviews else None
        width = out_dim + part_dim * ((self.sequence is not None) + (self.reviews is not None))
        self.out = nn.Sequential(nn.Linear(width, out_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(out_dim, out_dim))

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = [self.tabular(x["c_cats"], x["c_nums"])]
        if self.sequence is not None:
            parts.append(self.sequence(x["seq_types"], x["seq_cats"], x["seq_nums"], x["seq_len"]))
        if self.reviews is not None:
            parts.append(self.reviews(x["rev_vec"], x["rev_mask"]))
        return self.out(torch.cat(parts, dim=1))


class MessageTower(nn.Module):
    """Offer attributes, title/body sentence vectors and the banner → one vector per message."""

    def __init__(
        self,
        cardinalities: list[int],
        n_numeric: int,
        out_dim: int,
        *,
        text: bool,
        images: bool,
        part_dim: int = 32,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.tabular = TabularEncoder(cardinalities, n_numeric, out_dim, dropout)
        self.title = TextProjection(part_dim, dropout=dropout) if text else None
        self.body = TextProjection(part_dim, dropout=dropout) if text else None
        self.image = ImageEncoder(part_dim) if images else None
        width = out_dim + part_dim * (2 * (self.title is not None) + (self.image is not None))
        self.out = nn.Sequential(nn.Linear(width, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))
        # Hold-out rows have no message at all; they get this learned vector instead.
        self.no_message = nn.Parameter(torch.zeros(out_dim))

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = [self.tabular(x["m_cats"], x["m_nums"])]
        if self.title is not None and self.body is not None:
            parts += [self.title(x["title_vec"], x["title_mask"]), self.body(x["body_vec"], x["body_mask"])]
        if self.image is not None:
            parts.append(self.image(x["img"], x["img_mask"]))
        return self.out(torch.cat(parts, dim=1))

    def per_row(self, messages: torch.Tensor, msg_idx: torch.Tensor) -> torch.Tensor:
        """Message vectors for rows; index −1 (hold-out) takes the no-message vector."""
        table = torch.cat([self.no_message.unsqueeze(0), messages], dim=0)
        return table[msg_idx + 1]


class ContextEncoder(nn.Module):
    """Channel, local hour, weekday and recent-send fatigue of one send."""

    def __init__(self, cardinalities: list[int], n_numeric: int, out_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.tabular = TabularEncoder(cardinalities, n_numeric, out_dim, dropout)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.tabular(x["x_cats"], x["x_nums"])
