"""The deep response estimator: fit/predict_proba over raw rows, picklable with joblib."""

from __future__ import annotations

import copy
import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping

from models.data import CustomerBatchSampler, ResponseDataModule, gather
from models.encoding import DeepFeaturizer, EncodedRows
from models.preprocessing import TabularPreprocessor
from models.response import ResponseModule
from models.settings import DeepSettings


class _KeepBest(Callback):
    """Remembers the weights of the epoch with the lowest validation loss (early stopping restores them)."""

    def __init__(self) -> None:
        self.best = float("inf")
        self.best_epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        loss = trainer.callback_metrics.get("val_loss")
        if trainer.sanity_checking or loss is None:
            return
        if float(loss) < self.best:
            self.best = float(loss)
            self.best_epoch = trainer.current_epoch + 1
            self.state = copy.deepcopy(module.state_dict())


@dataclass
class DeepResponse:
    """Customer tower × message tower × context, fused by an MLP head; see ``models/components``."""

    preprocessor: TabularPreprocessor
    config: DeepSettings = field(default_factory=DeepSettings)
    name: str = "deep"
    featurizer: DeepFeaturizer | None = None
    arch: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    fit_seconds: float = float("nan")
    module: ResponseModule | None = None
    members: list[ResponseModule] = field(default_factory=list)  # further seeds of an ensemble
    # Epochs the first member trained until its lowest validation loss (None without validation rows):
    # what a refit on all rows without a validation slice trains for (pipelines/training/protocol.py).
    best_iterations: int | None = None

    # ---- training --------------------------------------------------------------------------
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> DeepResponse:
        cfg = self.config
        started = time.perf_counter()
        torch.set_num_threads(cfg.threads)
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        featurizer = DeepFeaturizer(self.preprocessor, text_cache_dir=cfg.text_cache_dir)
        featurizer.fit(
            train,
            {"sequence": cfg.sequence, "reviews": cfg.reviews, "text": cfg.text, "images": cfg.images},
            auxiliary=cfg.auxiliary_outcomes if cfg.auxiliary_weight > 0 else (),
        )
        self.featurizer = featurizer
        enc_train = featurizer.encode(train, with_label=True)
        enc_valid = featurizer.encode(valid, with_label=True) if valid is not None and len(valid) else None
        self.arch = self._architecture()
        rate = float(train["label"].mean())
        # Members of a seed ensemble differ only in seed (initialisation and batch order).
        fitted = [self._train_one(cfg.seed + i, rate, enc_train, enc_valid) for i in range(max(cfg.ensemble, 1))]
        members = [module for module, _ in fitted]
        self.module, self.members, self.best_iterations = members[0], members[1:], fitted[0][1]
        self.history = list(self.module.history)
        self.fit_seconds = time.perf_counter() - started
        return self

    def _train_one(
        self, seed: int, rate: float, enc_train: EncodedRows, enc_valid: EncodedRows | None
    ) -> tuple[ResponseModule, int | None]:
        cfg = self.config
        pl.seed_everything(seed, workers=True, verbose=False)
        module = ResponseModule(
            self.arch,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            schedule=cfg.schedule,
            auxiliary_weight=cfg.auxiliary_weight,
        )
        module.start_at_rate(rate)
        keep = _KeepBest()
        callbacks: list[Callback] = [keep]
        if enc_valid is not None:
            callbacks.append(EarlyStopping("val_loss", patience=cfg.patience, mode="min"))
        for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)  # no banner lines in task logs
        trainer = pl.Trainer(
            max_epochs=cfg.max_epochs,
            accelerator="cpu",
            devices=1,
            deterministic=True,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            callbacks=callbacks,
            fast_dev_run=cfg.fast_dev_run,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            trainer.fit(
                module, datamodule=ResponseDataModule(enc_train, enc_valid, cfg.batch_rows(len(enc_train)), seed)
            )
        if keep.state is not None:
            module.load_state_dict(keep.state)
        module.eval()
        return module, keep.best_epoch

    def _architecture(self) -> dict[str, Any]:
        cfg, f = self.config, self.featurizer
        assert f is not None
        vocab = f.sequence_vocab
        return {
            "hidden": cfg.hidden,
            "part_dim": cfg.part_dim,
            "seq_hidden": cfg.seq_hidden,
            "dropout": cfg.dropout,
            "sequence_encoder": cfg.sequence_encoder,
            "context_dim": cfg.context_dim,
            "head_hidden": cfg.head_hidden,
            "customer_cards": f.cardinalities("customer"),
            "customer_numeric": f.n_numeric("customer"),
            "message_cards": f.cardinalities("message"),
            "message_numeric": f.n_numeric("message"),
            "context_cards": f.cardinalities("context"),
            "context_numeric": f.n_numeric("context"),
            "sequence": (len(vocab.types), len(vocab.categories)) if f.modalities["sequence"] and vocab else None,
            "reviews": f.modalities["reviews"],
            "text": f.modalities["text"],
            "images": f.modalities["images"],
            "wide": cfg.wide,
            "auxiliary_outcomes": list(f.auxiliary_outcomes),
        }

    # ---- prediction -----------------------------------------------------------------------
    def input_schema(self) -> dict[str, str]:
        assert self.featurizer is not None, "fit() first"
        return self.featurizer.input_schema()

    @property
    def modalities(self) -> dict[str, bool]:
        return dict(self.featurizer.modalities) if self.featurizer else {}

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        assert self.module is not None and self.featurizer is not None, "fit() first"
        if not len(rows):
            return np.zeros(0, dtype=np.float64)
        torch.set_num_threads(self.config.threads)
        encoded = self.featurizer.encode(rows)
        return self.predict_encoded(encoded)

    def predict_encoded(self, encoded: EncodedRows, batch_size: int = 8192) -> np.ndarray:
        assert self.module is not None
        out = np.empty(len(encoded), dtype=np.float64)
        sampler = CustomerBatchSampler(encoded.rows["cust_idx"], batch_size, shuffle=False)
        modules = [self.module, *self.members]
        with torch.inference_mode():
            for ids in sampler:
                index = torch.as_tensor(ids)
                batch = gather(encoded, index)
                p = sum(torch.sigmoid(m.eval()(batch)).double() for m in modules) / len(modules)
                out[index.numpy()] = p.numpy()
        return out

    def modality_attributions(self, rows: pd.DataFrame, n_steps: int = 24) -> dict[str, Any]:
        """Integrated gradients of each row's logit to the modalities (models/attribution.py).

        With an ensemble the first member speaks for the model, as for the tower embeddings.
        """
        from models.attribution import integrated_gradients

        assert self.module is not None and self.featurizer is not None, "fit() first"
        torch.set_num_threads(self.config.threads)
        return integrated_gradients(self.module, self.featurizer.encode(rows), n_steps).to_dict()

    # ---- representations ------------------------------------------------------------------
    def customer_embeddings(self, rows: pd.DataFrame, batch_size: int = 4096) -> np.ndarray:
        """The customer tower's vector for each row: what segments cluster and drift summarises.

        Rows need only customer columns (a customer-features frame will do); with an ensemble the
        first member's tower speaks for the model, since members' spaces are not aligned.
        """
        return self._tower_vectors(rows, "customer", batch_size)

    def message_embeddings(self, rows: pd.DataFrame, batch_size: int = 4096) -> np.ndarray:
        """The message tower's vector for each row (message columns, ``msg_`` prefixed)."""
        return self._tower_vectors(rows, "message", batch_size)

    def _tower_vectors(self, rows: pd.DataFrame, side: str, batch_size: int) -> np.ndarray:
        assert self.module is not None and self.featurizer is not None, "fit() first"
        torch.set_num_threads(self.config.threads)
        tower = self.module.customer if side == "customer" else self.module.message
        build = self.featurizer.customer_table if side == "customer" else self.featurizer.message_table
        parts = [np.zeros((0, int(self.arch["hidden"])), dtype=np.float32)]
        with torch.inference_mode():
            for start in range(0, len(rows), batch_size):
                part = rows.iloc[start : start + batch_size].reset_index(drop=True)
                parts.append(tower.eval()(build(part)).numpy())
        return np.vstack(parts)

    # ---- pickling -------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        # Weights travel as a state dict; the Lightning module (and its trainer) is rebuilt on load.
        state = {k: v for k, v in self.__dict__.items() if k not in ("module", "members")}
        state["state_dict"] = _weights(self.module) if self.module else None
        state["member_state_dicts"] = [_weights(m) for m in self.members]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        weights = state.pop("state_dict", None)
        member_weights = state.pop("member_state_dicts", [])
        self.__dict__.update(state)
        self.module = self._rebuild(weights) if weights is not None else None
        self.members = [self._rebuild(w) for w in member_weights]

    def _rebuild(self, weights: dict[str, torch.Tensor]) -> ResponseModule:
        module = ResponseModule(self.arch, lr=self.config.lr, weight_decay=self.config.weight_decay)
        module.load_state_dict(weights)
        return module.eval()

    def params(self) -> dict[str, Any]:
        """Flat parameters for MLflow: the config plus the modalities that ended up on."""
        return {
            **{k: v for k, v in self.config.model_dump().items() if v is not None},
            **{f"modality_{k}": v for k, v in self.modalities.items()},
        }


def _weights(module: ResponseModule) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
