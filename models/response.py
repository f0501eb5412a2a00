"""LightningModule of the deep response model: composes the towers and holds the training logic."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics.classification import BinaryAUROC

from models.components.head import FusionHead
from models.components.tabular import WideLinear
from models.components.towers import ContextEncoder, CustomerTower, MessageTower


class ResponseModule(pl.LightningModule):
    """P(response) from the factorised towers; BCE loss, AdamW, validation AUC."""

    def __init__(
        self,
        arch: dict[str, Any],
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        schedule: str = "constant",
        auxiliary_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.lr, self.weight_decay, self.schedule = lr, weight_decay, schedule
        self.auxiliary_weight = auxiliary_weight
        dim, part, drop = arch["hidden"], arch["part_dim"], arch["dropout"]
        self.customer = CustomerTower(
            arch["customer_cards"],
            arch["customer_numeric"],
            dim,
            sequence=arch["sequence"],
            reviews=arch["reviews"],
            seq_hidden=arch["seq_hidden"],
            part_dim=part,
            dropout=drop,
            sequence_encoder=arch.get("sequence_encoder", "gru"),
        )
        self.message = MessageTower(
            arch["message_cards"],
            arch["message_numeric"],
            dim,
            text=arch["text"],
            images=arch["images"],
            part_dim=part,
            dropout=drop,
        )
        self.context = ContextEncoder(arch["context_cards"], arch["context_numeric"], arch["context_dim"])
        self.head = FusionHead(
            dim,
            dim,
            arch["context_dim"],
            arch["head_hidden"],
            drop,
            n_auxiliary=len(arch.get("auxiliary_outcomes", ())),
        )
        # Wide & deep: linear terms straight from each side's tabular columns, added to the logit
        # (customer and message terms once per customer/message, like the towers).
        self.wide = (
            nn.ModuleDict(
                {
                    "customer": WideLinear(arch["customer_cards"], arch["customer_numeric"]),
                    "message": WideLinear(arch["message_cards"], arch["message_numeric"]),
                    "context": WideLinear(arch["context_cards"], arch["context_numeric"]),
                }
            )
            if arch.get("wide", False)
            else None
        )
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
        return self.forward_all(batch)[0]

    def forward_all(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Response logits and, where the head has them, the auxiliary outcomes' logits."""
        customers = self.customer(batch)
        messages = (
            self.message(batch)
            if batch["msg_idx"].numel() and int(batch["msg_idx"].max()) >= 0
            else customers.new_zeros((0, self.arch["hidden"]))
        )
        logit, auxiliary = self.head.forward_all(
            customers[batch["cust_idx"]], self.message.per_row(messages, batch["msg_idx"]), self.context(batch)
        )
        if self.wide is not None:
            logit = logit + self.wide["customer"](batch["c_cats"], batch["c_nums"])[batch["cust_idx"]]
            logit = logit + self.wide["context"](batch["x_cats"], batch["x_nums"])
            msg_idx = batch["msg_idx"]
            if "m_cats" in batch and batch["m_cats"].shape[0]:
                per_message = self.wide["message"](batch["m_cats"], batch["m_nums"])
                logit = logit + torch.cat([per_message.new_zeros(1), per_message])[msg_idx + 1]  # hold-out: 0
        return logit, auxiliary

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logit, auxiliary = self.forward_all(batch)
        loss = self.loss(logit, batch["label"])
        if auxiliary is not None and self.auxiliary_weight > 0 and "aux_label" in batch:
            weight = batch["aux_weight"]
            per_cell = nn.functional.binary_cross_entropy_with_logits(auxiliary, batch["aux_label"], reduction="none")
            loss = loss + self.auxiliary_weight * (per_cell * weight).sum() / weight.sum().clamp(min=1.0)
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
        self.history.append(
            {
                "epoch": float(self.current_epoch),
                "train_loss": float(sum(self._train_losses) / max(len(self._train_losses), 1)),
                "val_loss": float(metrics.get("val_loss", torch.tensor(float("nan")))),
                "val_auc": float(metrics.get("val_auc", torch.tensor(float("nan")))),
            }
        )
        self._train_losses = []

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.schedule == "constant":
            return optimizer
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        if self.schedule == "onecycle":
            scheduler: Any = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=self.lr, total_steps=total, pct_start=0.15
            )
        elif self.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=self.lr * 0.02)
        else:
            raise ValueError(f"unknown schedule {self.schedule!r}")
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
