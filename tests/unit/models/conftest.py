"""Tiny hand-made model rows (customers × messages + hold-outs) and a fast stand-in for MiniLM."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from models.components.text import TEXT_DIM, TextEmbedder
from models.preprocessing import TabularPreprocessor
from models.settings import DeepSettings

CATEGORIES = ("apparel", "home", "sports")


def fake_vectors(texts: list[str]) -> np.ndarray:
    """Deterministic pseudo-embeddings seeded by the text, so tests need not load MiniLM."""
    out = np.empty((len(texts), TEXT_DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        seed = int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)
        out[i] = np.random.default_rng(seed).standard_normal(TEXT_DIM)
    return out


@pytest.fixture
def real_minilm() -> None:
    """Requesting this fixture keeps the packaged MiniLM instead of the fake."""


@pytest.fixture(autouse=True)
def fake_minilm(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "real_minilm" not in request.fixturenames:
        monkeypatch.setattr(TextEmbedder, "_encode", lambda self, texts: fake_vectors(texts))


@pytest.fixture(scope="session")
def rows(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    folder: Path = tmp_path_factory.mktemp("banners")
    colours = {"apparel": (200, 40, 40), "home": (60, 160, 80), "sports": (240, 160, 30)}
    messages = []
    for m in range(6):
        cat = CATEGORIES[m % 3]
        path = folder / f"m{m}.png"
        Image.new("RGB", (64, 64), colours[cat]).save(path)
        messages.append(
            {
                "message_id": f"m_{m}",
                "msg_title": f"New {cat} picks {m}",
                "msg_body": f"Our best {cat} this week.",
                "msg_offer_type": ["discount", "content"][m % 2],
                "msg_discount_pct": [20.0, np.nan][m % 2],
                "msg_product_category": cat if m != 5 else None,
                "msg_image_uri": str(path) if m != 4 else None,
                "msg_campaign_id": "c1",
            }
        )
    customers = []
    for c in range(60):
        fav = CATEGORIES[c % 3]
        n_events = int(rng.integers(0, 6))
        seq = ";".join(f"view|{fav}||{h * 5.5:.1f}" for h in range(n_events)) if n_events else None
        customers.append(
            {
                "customer_id": f"c_{c}",
                "region": ["uk", "de"][c % 2],
                "loyalty_tier": ["none", "gold"][c % 2],
                "gender": ["F", "M"][c % 2],
                "tenure_days": float(rng.integers(10, 900)),
                "evt_n_view": float(n_events),
                f"evt_cat_share_{fav}": 1.0,
                "evt_sequence": seq,
                "rev_count": float(c % 3 == 0),
                "rev_text": f"Love the {fav} | great price" if c % 3 == 0 else None,
            }
        )
    cust = pd.DataFrame(customers)
    msgs = pd.DataFrame(messages)
    frames = []
    for day in range(8):
        pick = rng.integers(0, 7, len(cust))  # 6 = hold-out
        frame = cust.copy()
        frame["message_id"] = [f"m_{p}" if p < 6 else None for p in pick]
        frame["channel"] = [["email", "push"][int(p) % 2] if p < 6 else "none" for p in pick]
        frame["send_hour"] = rng.choice([8, 12, 18], len(cust))
        frame["weekday"] = day % 7
        frame["recent_sends_7d"] = rng.integers(0, 4, len(cust))
        frame["split"] = "train" if day < 5 else ("valid" if day < 6 else "test")
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True).merge(msgs, on="message_id", how="left")
    match = np.array(
        [isinstance(m, str) and m in s for m, s in zip(out["msg_product_category"], out["evt_sequence"].fillna(""))]
    )
    out["label"] = (rng.random(len(out)) < np.where(match, 0.5, 0.1)).astype("int64")
    out["send_id"] = [f"s_{i}" for i in range(len(out))]
    return out


@pytest.fixture
def splits(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return tuple(rows[rows["split"] == s].reset_index(drop=True) for s in ("train", "valid", "test"))


@pytest.fixture
def preprocessor(splits: tuple[pd.DataFrame, ...]) -> TabularPreprocessor:
    return TabularPreprocessor.fit(splits[0], exclude=["gender", "split"])


@pytest.fixture
def fast_config() -> DeepSettings:
    return DeepSettings(max_epochs=2, batch_size=128, hidden=16, part_dim=8, seq_hidden=8, head_hidden=16, seed=3)
