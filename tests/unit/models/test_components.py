"""Shapes of the towers and the head, and the factorised batch gathering."""

from __future__ import annotations

import pandas as pd
import torch

from models.data import gather
from models.deep import DeepConfig, DeepResponse
from models.encoding import DeepFeaturizer
from models.preprocessing import TabularPreprocessor
from models.response import ResponseModule

ALL_ON = {"sequence": True, "reviews": True, "text": True, "images": True}


def test_tower_shapes(splits: tuple[pd.DataFrame, ...], preprocessor: TabularPreprocessor, fast_config: DeepConfig) -> None:
    train = splits[0]
    featurizer = DeepFeaturizer(preprocessor).fit(train, ALL_ON)
    assert all(featurizer.modalities.values())
    encoded = featurizer.encode(train, with_label=True)
    # Factorised: one customer-table row per customer and one message-table row per message.
    assert encoded.customers["c_cats"].shape[0] == train["customer_id"].nunique()
    assert encoded.messages["m_cats"].shape[0] == train["message_id"].dropna().nunique()
    assert (encoded.rows["msg_idx"] == -1).sum() == train["channel"].eq("none").sum()

    estimator = DeepResponse(preprocessor, fast_config)
    estimator.featurizer = featurizer
    module = ResponseModule(estimator._architecture())
    batch = gather(encoded, torch.arange(len(encoded)))
    customers, messages = module.customer(batch), module.message(batch)
    assert customers.shape == (train["customer_id"].nunique(), fast_config.hidden)
    assert messages.shape == (train["message_id"].dropna().nunique(), fast_config.hidden)
    assert module.message.per_row(messages, batch["msg_idx"]).shape == (len(train), fast_config.hidden)
    assert module.context(batch).shape == (len(train), module.arch["context_dim"])
    assert module(batch).shape == (len(train),)


def test_holdout_uses_no_message_vector(splits: tuple[pd.DataFrame, ...], preprocessor: TabularPreprocessor,
                                        fast_config: DeepConfig) -> None:
    featurizer = DeepFeaturizer(preprocessor).fit(splits[0], ALL_ON)
    estimator = DeepResponse(preprocessor, fast_config)
    estimator.featurizer = featurizer
    module = ResponseModule(estimator._architecture())
    with torch.no_grad():
        module.message.no_message.fill_(1.5)
        rows = module.message.per_row(torch.zeros(2, fast_config.hidden), torch.tensor([-1, 0, 1, -1]))
    assert torch.all(rows[[0, 3]] == 1.5) and torch.all(rows[[1, 2]] == 0)
