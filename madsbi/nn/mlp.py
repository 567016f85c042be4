"""The plain MLP and the activations every MLP-based kind shares.

The network configuration and the factory of all four kinds (MLP, ensemble, Bayesian MLP,
L-GATr) are in :mod:`madsbi.nn.build`, above the kinds they build.
"""

from __future__ import annotations

import torch
from torch import nn

from madsbi.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}


def activation(name: str) -> nn.Module:
    """The activation module called ``name`` (one of :data:`ACTIVATIONS`)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(
            f"activation: expected one of {sorted(ACTIVATIONS)}, got {name!r}"
        ) from None


class MLP(nn.Module):
    """Fully connected network (B, d_in) → (1, B, d_out)."""

    def __init__(self, n_in: int, n_out: int, hidden: tuple[int, ...], act: str = "silu"):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for h in hidden:
            layers += [nn.Linear(width, h), activation(act)]
            width = h
        layers.append(nn.Linear(width, n_out))
        self.body = nn.Sequential(*layers)
        self.n_members = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions (1, B, d_out) for inputs (B, d_in)."""
        out: torch.Tensor = self.body(x)
        return out.unsqueeze(0)

    def regulariser(self, predictions: torch.Tensor, n_train: int) -> torch.Tensor:
        """No regulariser: zero."""
        return predictions.new_zeros(())
