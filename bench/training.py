"""Training throughput: one Lightning epoch vs a bare PyTorch loop over the same module and batches."""

from __future__ import annotations

import logging
import resource
import time
import warnings
from typing import Any

import pytorch_lightning as pl
import torch

from bench.quality import prepare_training_set
from pipelines.config import HeraldConfig
from pipelines.training.dataset import load_rows, model_exclusions
from pipelines.training.fit import deep_settings


def _fresh(deep: Any) -> tuple[Any, Any]:
    """A new module and data module with the fitted encoders, so both loops start from equal weights."""
    from models.data import ResponseDataModule
    from models.response import ResponseModule

    pl.seed_everything(deep.config.seed, verbose=False)
    module = ResponseModule(deep.arch, lr=deep.config.lr, weight_decay=deep.config.weight_decay)
    return module, ResponseDataModule(deep._bench_encoded, None, deep.config.batch_size, deep.config.seed)


def run(cfg: HeraldConfig, epochs: int = 2) -> dict[str, Any]:
    from models.deep import DeepResponse
    from models.preprocessing import TabularPreprocessor

    training_set, _ = prepare_training_set(cfg)
    train = load_rows(training_set["rows_path"], "train")
    preprocessor = TabularPreprocessor.fit(train, exclude=model_exclusions(cfg))
    deep = DeepResponse(preprocessor, deep_settings(cfg))
    torch.set_num_threads(deep.config.threads)
    # Fit the encoders once (text embeddings cached); both loops then train the same network on the same tensors.
    from models.encoding import DeepFeaturizer

    featurizer = DeepFeaturizer(preprocessor, text_cache_dir=deep.config.text_cache_dir)
    c = deep.config
    featurizer.fit(train, {"sequence": c.sequence, "reviews": c.reviews, "text": c.text, "images": c.images})
    deep.featurizer = featurizer
    deep._bench_encoded = featurizer.encode(train, with_label=True)
    deep.arch = deep._architecture()
    n = len(train)

    module, data = _fresh(deep)
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, datamodule=data)
    lightning_s = time.perf_counter() - started

    module, data = _fresh(deep)
    optimizer = module.configure_optimizers()
    module.train()
    started = time.perf_counter()
    for _ in range(epochs):
        for batch in data.train_dataloader():
            optimizer.zero_grad()
            loss = module.loss(module(batch), batch["label"])
            loss.backward()
            optimizer.step()
    bare_s = time.perf_counter() - started

    lightning_rate = n * epochs / lightning_s
    bare_rate = n * epochs / bare_s
    return {
        "lightning_samples_per_s": lightning_rate,
        "bare_loop_samples_per_s": bare_rate,
        "ratio": lightning_rate / bare_rate,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "train_rows": n,
        "epochs": epochs,
        "torch_threads": torch.get_num_threads(),
        "note": "same module, same encoded tensors and batch sampler; validation off in both loops",
    }
