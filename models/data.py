"""DataModule of the deep model: tensors built once per split, batches grouped by customer."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Sampler

from models.encoding import EncodedRows


def gather(encoded: EncodedRows, row_ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """One batch: the unique customers and messages of the rows, and the rows pointing into them.

    This is where the factorisation happens: each tower runs once per unique customer or
    message of the batch, and only the head runs per row.
    """
    rows = {k: v[row_ids] for k, v in encoded.rows.items()}
    customers, cust_local = torch.unique(rows.pop("cust_idx"), return_inverse=True)
    msg = rows.pop("msg_idx")
    treated = msg >= 0
    messages, msg_local = torch.unique(msg[treated], return_inverse=True)
    msg_idx = torch.full_like(msg, -1)
    msg_idx[treated] = msg_local
    batch = {k: v[customers] for k, v in encoded.customers.items()}
    batch.update({k: v[messages] for k, v in encoded.messages.items()})
    batch.update(rows, cust_idx=cust_local, msg_idx=msg_idx)
    return batch


class CustomerBatchSampler(Sampler[list[int]]):
    """Yields row ids of ~``batch_size`` rows made of whole customers, reshuffled each epoch by seed."""

    def __init__(self, cust_idx: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0) -> None:
        self.cust = cust_idx.numpy()
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        order = np.argsort(self.cust, kind="stable")
        bounds = np.flatnonzero(np.r_[True, np.diff(self.cust[order]) != 0, True])
        self.groups = [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        per_customer = max(len(self.cust) / max(len(self.groups), 1), 1.0)
        self.customers_per_batch = max(1, int(round(batch_size / per_customer)))

    def __len__(self) -> int:
        return (len(self.groups) + self.customers_per_batch - 1) // self.customers_per_batch

    def __iter__(self) -> Iterator[list[int]]:
        picks = np.arange(len(self.groups))
        if self.shuffle:
            picks = np.random.default_rng(self.seed + self.epoch).permutation(picks)
            self.epoch += 1
        for start in range(0, len(picks), self.customers_per_batch):
            chosen = picks[start : start + self.customers_per_batch]
            yield np.concatenate([self.groups[i] for i in chosen]).tolist()


class ResponseDataModule(pl.LightningDataModule):
    """Train and validation loaders over pre-encoded rows (the ``split`` column decided them)."""

    def __init__(self, train: EncodedRows, valid: EncodedRows | None, batch_size: int, seed: int) -> None:
        super().__init__()
        self.train, self.valid = train, valid
        self.batch_size, self.seed = batch_size, seed

    def _loader(self, encoded: EncodedRows, shuffle: bool) -> DataLoader:
        sampler = CustomerBatchSampler(encoded.rows["cust_idx"], self.batch_size, shuffle, self.seed)
        return DataLoader(
            range(len(encoded)),
            batch_sampler=sampler,
            num_workers=0,
            collate_fn=lambda ids: gather(encoded, torch.as_tensor(ids)),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.valid, shuffle=False) if self.valid is not None and len(self.valid) else []
