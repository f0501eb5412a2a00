"""Settings of the deep response model: one pydantic type, importable without torch.

``pipelines/config.py`` nests it as ``HeraldConfig.deep`` (environment ``HERALD_DEEP__<FIELD>``)
and ``models/deep.py`` trains from it, so no field is ever copied from one to the other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.preprocessing import AUXILIARY_OUTCOMES


class DeepSettings(BaseModel):
    """The deep response model: on/off, schedule, sizes and modality switches (a switched-on modality
    without data turns off at fit time)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    max_epochs: int = 12
    # The largest batch (rows). Smaller training sets get smaller batches, never below
    # min_batch_size, so an epoch still takes about min_steps_per_epoch optimiser steps: at 2048 rows
    # a 2,500-customer world took 4-7 steps an epoch and stopped before it learned (deep test AUC
    # 0.604 vs 0.654 at 256 on price_sparse-s11, README "Generalisation").
    batch_size: int = 2048
    min_batch_size: int = Field(256, ge=1)
    min_steps_per_epoch: int = Field(48, ge=1)
    hidden: int = 64
    part_dim: int = 32
    seq_hidden: int = 32
    # Encoder over the last events: "gru" (default) or "transformer"; `make bench SECTION=sequence`.
    sequence_encoder: Literal["gru", "transformer"] = "gru"
    context_dim: int = 16
    head_hidden: int = 128
    dropout: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 1e-2
    # Epochs without a lower validation loss before early stopping ends a fit.
    patience: int = 2
    # Seeds averaged at prediction time (each one a full fit: fit time grows linearly).
    ensemble: int = 1
    # Wide & deep: linear logit terms straight from the tabular columns beside the towers.
    wide: bool = True
    # Multi-task: weight of the opens/clicks loss learned beside the response (0 = off). Opens and
    # clicks are ten times more frequent than conversions and teach channel, hour and category fit.
    auxiliary_weight: float = 0.5
    auxiliary_outcomes: tuple[str, ...] = AUXILIARY_OUTCOMES
    # Learning rate over training: constant, onecycle or cosine.
    schedule: Literal["constant", "onecycle", "cosine"] = "constant"
    seed: int = 7
    # Tiny ops: one thread avoids OpenMP spin-waits that cost 10-100x on 2 busy cores.
    threads: int = 1
    sequence: bool = True
    reviews: bool = True
    text: bool = True
    images: bool = True
    # Folder of the text-embedding cache; training sets it to HERALD_HOME/cache/text. None = memory only.
    text_cache_dir: str | None = None
    fast_dev_run: bool = False

    def batch_rows(self, rows: int) -> int:
        """Rows per training batch for ``rows`` training rows: ``rows // min_steps_per_epoch`` within
        [min_batch_size, batch_size]."""
        return max(min(self.batch_size, rows // self.min_steps_per_epoch), min(self.min_batch_size, self.batch_size))
