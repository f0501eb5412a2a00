"""Integrated-gradients attributions of the deep model's logit to its modalities (Captum).

Each modality's representation (the output of its encoder, and of its wide term) is scaled by a
per-row factor α ∈ [0, 1]; Captum integrates the gradient of the response logit along α = t·1
from all modalities blank (α = 0) to the real input (α = 1). The attributions of a row then add up
to logit(all on) − logit(all blank), and each says how much of that its modality contributed.
Rows are laid out one customer and one message entry per row, so α is per row even though the
towers normally run once per customer and message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.encoding import EncodedRows
from models.response import ResponseModule


@dataclass
class ModalityAttribution:
    """Per modality: mean |attribution| and mean attribution (logit units) over the rows."""

    mean_abs: dict[str, float]
    mean: dict[str, float]
    rows: int
    max_completeness_error: float  # |Σ attributions − (logit(all on) − logit(all blank))|, worst row

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def modality_modules(module: ResponseModule) -> dict[str, list[nn.Module]]:
    """The encoders (and wide terms) whose output stands for each modality that is switched on."""
    wide = module.wide
    groups: dict[str, list[nn.Module | None]] = {
        "customer profile": [module.customer.tabular, wide["customer"] if wide is not None else None],
        "event sequence": [module.customer.sequence],
        "reviews": [module.customer.reviews],
        "offer attributes": [module.message.tabular, wide["message"] if wide is not None else None],
        "message text": [module.message.title, module.message.body],
        "banner": [module.message.image],
        "context": [module.context, wide["context"] if wide is not None else None],
    }
    return {name: [m for m in parts if m is not None] for name, parts in groups.items() if any(parts)}


def integrated_gradients(
    module: ResponseModule, encoded: EncodedRows, n_steps: int = 24, steps_per_pass: int = 8
) -> ModalityAttribution:
    """Attribute each row's response logit to the modalities (see the module docstring)."""
    from captum.attr import IntegratedGradients

    groups = modality_modules(module)
    names = list(groups)
    batch = per_row_batch(encoded)
    n = len(encoded)
    scale: dict[str, torch.Tensor] = {}

    def forward(alpha: torch.Tensor) -> torch.Tensor:
        reps = alpha.shape[0] // n
        for k, name in enumerate(names):
            scale[name] = alpha[:, k]
        return module(tiled(batch, reps, n))

    with _scaled_outputs(groups, scale), torch.enable_grad():
        module.eval()
        ones = torch.ones(n, len(names))
        attributions, delta = IntegratedGradients(forward).attribute(
            ones,
            baselines=torch.zeros_like(ones),
            n_steps=n_steps,
            method="gausslegendre",
            internal_batch_size=n * steps_per_pass,
            return_convergence_delta=True,
        )
    values = attributions.detach().numpy()
    return ModalityAttribution(
        mean_abs={name: float(np.abs(values[:, k]).mean()) for k, name in enumerate(names)},
        mean={name: float(values[:, k].mean()) for k, name in enumerate(names)},
        rows=n,
        max_completeness_error=float(delta.detach().abs().max()) if n else 0.0,
    )


def per_row_batch(encoded: EncodedRows) -> dict[str, torch.Tensor]:
    """A batch with its own customer and message entry per row (hold-outs keep msg_idx −1)."""
    rows = dict(encoded.rows)
    cust, msg = rows.pop("cust_idx"), rows.pop("msg_idx")
    batch = {k: v[cust] for k, v in encoded.customers.items()}
    if any(v.shape[0] for v in encoded.messages.values()):
        batch.update({k: v[msg.clamp(min=0)] for k, v in encoded.messages.items()})
    else:
        batch.update(encoded.messages)
    positions = torch.arange(len(cust))
    batch.update(rows, cust_idx=positions, msg_idx=torch.where(msg >= 0, positions, torch.full_like(msg, -1)))
    return batch


def tiled(batch: dict[str, torch.Tensor], reps: int, n: int) -> dict[str, torch.Tensor]:
    """``reps`` copies of a per-row batch of ``n`` rows, in the order Captum lays out its steps."""
    if reps == 1:
        return batch
    out = {k: (v.repeat(reps, *([1] * (v.dim() - 1))) if v.shape[0] == n else v) for k, v in batch.items()}
    positions = torch.arange(n * reps)
    treated = batch["msg_idx"].repeat(reps) >= 0
    out["cust_idx"] = positions
    out["msg_idx"] = torch.where(treated, positions, torch.full_like(positions, -1))
    return out


@contextmanager
def _scaled_outputs(groups: dict[str, list[nn.Module]], scale: dict[str, torch.Tensor]) -> Iterator[None]:
    """Forward hooks that multiply each modality's encoder output by its row's α."""

    def hook_for(name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
            alpha = scale[name]
            return output * alpha.view(-1, *([1] * (output.dim() - 1)))

        return hook

    handles = [m.register_forward_hook(hook_for(name)) for name, parts in groups.items() for m in parts]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
