"""Fusion head: the only part that runs per (customer × candidate) row."""

from __future__ import annotations

import torch
from torch import nn


class FusionHead(nn.Module):
    """Logit = organic term of the customer + MLP over customer, message, context and their products.

    The separate organic term mirrors uplift's shape (hold-out level + effect of the action) and
    the products give the MLP customer × message and customer × context fit directly.
    """

    def __init__(self, customer_dim: int, message_dim: int, context_dim: int, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.to_message = nn.Linear(customer_dim, message_dim)
        self.to_context = nn.Linear(customer_dim, context_dim)
        width = customer_dim + 2 * message_dim + 2 * context_dim
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden // 2), nn.GELU(), nn.Linear(hidden // 2, 1))
        self.organic = nn.Linear(customer_dim, 1)

    def forward(self, customer: torch.Tensor, message: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        features = torch.cat([customer, message, self.to_message(customer) * message,
                              context, self.to_context(customer) * context], dim=1)
        return (self.mlp(features) + self.organic(customer)).squeeze(1)
