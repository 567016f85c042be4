"""Repulsive ensembles (paper App. A; D'Angelo & Fortuin, arXiv:2106.11642).

M member networks with their weights stacked in one tensor per layer, so the members train
together with one batched matrix product per layer. The function-space repulsion pushes each
member's predictions on the batch away from the others'; its gradient is the kernel term of
Wasserstein gradient descent,

    ∇_{f_i} log Σ_j k(f_i, f_j),    k(f, g) = exp(−‖f − g‖² / h),

h from the median heuristic. Mean over members is the prediction, their spread the
uncertainty due to limited training data.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from madsbi.nn.mlp import activation


class EnsembleLinear(nn.Module):
    """M independent linear layers applied member-wise: (M, B, n_in) → (M, B, n_out)."""

    def __init__(self, members: int, n_in: int, n_out: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(n_in)
        # Same initial distribution as torch.nn.Linear, independently per member.
        self.weight = nn.Parameter(torch.empty(members, n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, n_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Member-wise x W_m + b_m."""
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleMLP(nn.Module):
    """Repulsive ensemble of M MLPs: inputs (B, d_in) → predictions (M, B, d_out).

    Parameters
    ----------
    n_in, n_out : int
    hidden : tuple of int
    members : int
    act : str
    repulsion_strength : float
        Scale of the repulsive term relative to the per-event loss (see :func:`repulsion`).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        hidden: tuple[int, ...],
        members: int,
        act: str = "silu",
        repulsion_strength: float = 1.0,
    ) -> None:
        super().__init__()
        widths = (n_in, *hidden, n_out)
        self.layers = nn.ModuleList(
            EnsembleLinear(members, a, b) for a, b in itertools.pairwise(widths)
        )
        self.act = activation(act)
        self.n_members = members
        self.repulsion_strength = float(repulsion_strength)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions (M, B, d_out) of all members for inputs (B, d_in)."""
        h = x.unsqueeze(0).expand(self.n_members, *x.shape)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = self.act(h)
        return h

    def regulariser(self, predictions: torch.Tensor, n_train: int) -> torch.Tensor:
        """Repulsion on this batch's predictions, scaled by strength / n_train."""
        if self.repulsion_strength == 0.0:
            return predictions.new_zeros(())
        return self.repulsion_strength / n_train * repulsion(predictions)


def repulsion(predictions: torch.Tensor) -> torch.Tensor:
    """Σ_i log Σ_j k(f_i, sg(f_j)) for member predictions (M, B, D).

    Minimising it moves every member away from the others (the others' predictions are
    detached, so each member feels the kernel gradient of WGD, not its own reflection).
    The bandwidth is h = median_ij ‖f_i − f_j‖² / log M (median heuristic), detached.
    """
    m = predictions.shape[0]
    if m < 2:
        return predictions.new_zeros(())
    flat = predictions.reshape(m, -1)
    # ‖f_i − f_j‖² per pair, mean over the batch so h is independent of the batch size.
    d2 = torch.cdist(flat, flat.detach()).pow(2) / flat.shape[1]
    off = d2.detach()[~torch.eye(m, dtype=torch.bool, device=flat.device)]
    h = off.median() / math.log(m)
    h = torch.clamp(h, min=1e-12)
    return torch.logsumexp(-d2 / h, dim=1).sum()
