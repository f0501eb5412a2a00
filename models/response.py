"""LightningModule of the deep response model: composes the towers and holds the training logic."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics.classification import BinaryAUROC

from models.components.head import FusionHead
from models.components.towers import ContextEncoder, CustomerTower, MessageTower


class ResponseModule(pl.LightningModule):
    """P(response) from the factorised towers; BCE loss, AdamW, validation AUC."""

    def __init__(self, arch: dict[str, Any], lr: float = 2e-3, weight_decay: float = 1e-4) -> None:
        super().__init__()
        self.arch = arch
        self.lr, self.weight_decay = lr, weight_decay
        dim, part, drop = arch["hidden"], arch["part_dim"], arch["dropout"]
        self.customer = CustomerTower(arch["customer_cards"], arch["customer_numeric"], dim,
                                      sequence=arch["sequence"], reviews=arch["reviews"],
                                      seq_hidden=arch["seq_hidden"], part_dim=part, dropout=drop)
        self.message = MessageTower(arch["message_cards"], arch["message_numeric"], dim,
                                    text=arch["text"], images=arch["images"], part_dim=part, dropout=drop)
        self.context = ContextEncoder(arch["context_cards"], arch["context_numeric"], arch["context_dim"])
        self.head = FusionHead(dim, dim, arch["context_dim"], arch["head_hidden"], drop)
        self.loss = nn.BCEWithLogitsLoss()
        self.val_auc = BinaryAUROC()
        self.history: list[dict[str, float]] = []
        self._train_losses: list[float] = []

    def start_at_rate(self, rate: float) -> None:
        """Start the organic term at the base rate so early epochs learn structure, not the mean."""
        rate = min(max(rate, 1e-4), 1 - 1e-4)
        with torch.no_grad():
            self.head.organic.bias.fill_(float(torch.logit(torch.tensor(rate))))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        customers = self.customer(batch)
        messages = self.message(batch) if batch["msg_idx"].numel() and int(batch["msg_idx"].max()) >= 0 else \
            customers.new_zeros((0, self.arch["hidden"]))
        return self.head(customers[batch["cust_idx"]], self.message.per_row(messages, batch["msg_idx"]),
                         self.context(batch))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss(self(batch), batch["label"])
        self._train_losses.append(float(loss.detach()))
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["label"]))
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch)
        self.log("val_loss", self.loss(logits, batch["label"]), on_epoch=True, batch_size=len(batch["label"]))
        self.val_auc.update(torch.sigmoid(logits), batch["label"].long())

    def on_validation_epoch_end(self) -> None:
        auc = self.val_auc.compute() if self.val_auc.update_count else torch.tensor(float("nan"))
        self.log("val_auc", auc)
        self.val_auc.reset()

    def on_train_epoch_end(self) -> None:
        metrics = self.trainer.callback_metrics
        self.history.append({
            "epoch": float(self.current_epoch),
            "train_loss": float(sum(self._train_losses) / max(len(self._train_losses), 1)),
            "val_loss": float(metrics.get("val_loss", torch.tensor(float("nan")))),
            "val_auc": float(metrics.get("val_auc", torch.tensor(float("nan")))),
        })
        self._train_losses = []

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
