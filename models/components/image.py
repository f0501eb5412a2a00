"""Banner images: Pillow loading with a per-path cache, and a small CNN encoder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

IMAGE_SIZE = 64


class ImageLoader:
    """Loads and resizes images once per path; a missing or unreadable image is zeros with mask 0."""

    def __init__(self, size: int = IMAGE_SIZE) -> None:
        self.size = size
        self._cache: dict[str, np.ndarray | None] = {}

    def __getstate__(self) -> dict[str, int]:
        return {"size": self.size}  # pixels are reloaded, never pickled

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__init__(**state)

    def _load(self, path: str) -> np.ndarray | None:
        if path not in self._cache:
            try:
                with Image.open(Path(path)) as img:
                    rgb = img.convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR)
                self._cache[path] = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0
            except (OSError, ValueError):
                self._cache[path] = None
        return self._cache[path]

    def load(self, paths: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Return (pixels [n, 3, size, size] in 0..1, present mask [n])."""
        out = np.zeros((len(paths), 3, self.size, self.size), dtype=np.float32)
        mask = np.zeros(len(paths), dtype=np.float32)
        for i, path in enumerate(paths):
            pixels = self._load(path) if isinstance(path, str) and path else None
            if pixels is not None:
                out[i] = pixels
                mask[i] = 1.0
        return out, mask


class ImageEncoder(nn.Module):
    """Three strided conv blocks and global pooling: enough for hue, stripes/dots/frame and a badge."""

    def __init__(self, out_dim: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1),
            nn.GELU(),
        )
        # Mean and max pooling: colour is a mean, a pattern or a badge is a peak.
        self.proj = nn.Sequential(nn.Linear(64, out_dim), nn.GELU())
        self.missing = nn.Parameter(torch.zeros(out_dim))

    def forward(self, pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.conv(pixels - 0.5)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        m = mask.unsqueeze(1)
        return m * self.proj(pooled) + (1 - m) * self.missing
