"""Fusion head: the only part that runs per (customer × candidate) row."""

from __future__ import annotations

import torch
from torch import nn


class FusionHead(nn.Module):
    """Logit = organic term of the customer + MLP over customer, message, context and their products.

    The separate organic term mirrors uplift's shape (hold-out level + effect of the action) and
    the products give the MLP customer × message and customer × context fit directly.
    """

    def __init__(
        self,
        customer_dim: int,
        message_dim: int,
        context_dim: int,
        hidden: int,
        dropout: float = 0.1,
        n_auxiliary: int = 0,
    ) -> None:
        super().__init__()
        self.to_message = nn.Linear(customer_dim, message_dim)
        self.to_context = nn.Linear(customer_dim, context_dim)
        width = customer_dim + 2 * message_dim + 2 * context_dim
        self.mlp = nn.Sequential(
            nn.Linear(width, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden // 2),
            nn.GELU(),
            nn.Linear(hidden // 2, 1),
        )
        self.organic = nn.Linear(customer_dim, 1)
        # Multi-task: opens and clicks read the same last hidden layer as the response, so their
        # far more frequent signal shapes the customer × message × context fit the response uses.
        self.auxiliary = nn.Linear(hidden // 2, n_auxiliary) if n_auxiliary else None

    def forward(self, customer: torch.Tensor, message: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.forward_all(customer, message, context)[0]

    def forward_all(
        self, customer: torch.Tensor, message: torch.Tensor, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The response logit and the auxiliary outcomes' logits (None without auxiliary outputs)."""
        features = torch.cat(
            [customer, message, self.to_message(customer) * message, context, self.to_context(customer) * context],
            dim=1,
        )
        hidden = self.mlp[:-1](features)
        logit = (self.mlp[-1](hidden) + self.organic(customer)).squeeze(1)
        return logit, (self.auxiliary(hidden) if self.auxiliary is not None else None)
