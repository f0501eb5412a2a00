"""Shapes of the towers and the head, and the factorised batch gathering."""

from __future__ import annotations

import pandas as pd
import torch

from models.data import gather
from models.deep import DeepResponse
from models.encoding import DeepFeaturizer
from models.preprocessing import TabularPreprocessor
from models.response import ResponseModule
from models.settings import DeepSettings

ALL_ON = {"sequence": True, "reviews": True, "text": True, "images": True}


def test_tower_shapes(
    splits: tuple[pd.DataFrame, ...], preprocessor: TabularPreprocessor, fast_config: DeepSettings
) -> None:
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


def test_holdout_uses_no_message_vector(
    splits: tuple[pd.DataFrame, ...], preprocessor: TabularPreprocessor, fast_config: DeepSettings
) -> None:
    featurizer = DeepFeaturizer(preprocessor).fit(splits[0], ALL_ON)
    estimator = DeepResponse(preprocessor, fast_config)
    estimator.featurizer = featurizer
    module = ResponseModule(estimator._architecture())
    with torch.no_grad():
        module.message.no_message.fill_(1.5)
        rows = module.message.per_row(torch.zeros(2, fast_config.hidden), torch.tensor([-1, 0, 1, -1]))
    assert torch.all(rows[[0, 3]] == 1.5) and torch.all(rows[[1, 2]] == 0)


def test_sequence_encoders_shapes_and_the_transformer_never_attends_to_padding() -> None:
    import pytest

    from models.components.sequence import SequenceEncoder, SequenceVocab

    vocab = SequenceVocab.fit(["view|shoes||1.0;purchase|shoes|20.5|30.0", "search|bags||2.0"], max_events=6)
    parsed = vocab.parse(["view|shoes||1.0;purchase|shoes|20.5|30.0", "search|bags||2.0", None])
    tensors = [torch.as_tensor(a) for a in (parsed.types, parsed.categories, parsed.numerics, parsed.lengths)]
    for kind in ("gru", "transformer"):
        torch.manual_seed(0)
        encoder = SequenceEncoder(
            len(vocab.types), len(vocab.categories), hidden=8, out_dim=4, kind=kind, max_events=6
        ).eval()
        out = encoder(*tensors)
        assert out.shape == (3, 4) and torch.isfinite(out).all()  # an empty history (row 2) included
        if kind == "gru":
            continue  # the GRU steps through the (always zero) left padding; the transformer masks it
        types, cats, nums, lengths = (t.clone() for t in tensors)
        types[:, 0], cats[:, 0], nums[:, 0] = 3, 2, 9.0  # slot 0 is padding in every row
        assert torch.allclose(encoder(types, cats, nums, lengths), out, atol=1e-5), kind
    with pytest.raises(ValueError, match="not one of gru, transformer"):
        SequenceEncoder(2, 2, hidden=8, out_dim=4, kind="lstm")
