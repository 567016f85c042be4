"""Standardisation of inputs and targets (a linear map commutes with the MSE minimum, Sec. 2)."""

from __future__ import annotations

import torch
from torch import nn

SPREAD_FLOOR = 1e-9
"""Relative spread below which a column counts as constant (scale 1)."""


class Standardiser(nn.Module):
    """Affine map y → (y − mean)/scale with buffers saved in the state dict.

    Parameters
    ----------
    n_features : int
    """

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(n_features, dtype=torch.float64))

    @torch.no_grad()
    def fit(
        self, values: torch.Tensor, weights: torch.Tensor | None = None, *, center: bool = True
    ) -> Standardiser:
        """Set mean and scale from ``values`` (N, F), weighted by ``weights`` (N,) if given.

        Weighted statistics matter for fractionally smeared samples (weights 1/n_e). A
        feature without spread keeps scale 1. With ``center=False`` the mean stays 0 and the
        scale is the root mean square (a positive quantity stays positive).
        """
        v = values.to(torch.float64)
        w = torch.ones(v.shape[0], dtype=torch.float64) if weights is None else weights
        w = w.to(torch.float64)
        total = w.sum()
        mean = (w[:, None] * v).sum(0) / total if center else torch.zeros_like(v[0])
        var = (w[:, None] * (v - mean) ** 2).sum(0) / total
        scale = var.sqrt()
        # A constant column has var 0 only up to round-off (≈ 1e-16 of its mean): treat a
        # spread below SPREAD_FLOOR of the column's magnitude as none, or a value the fit never
        # saw (a charge sum of −1 after training on +1) would be multiplied by ≈ 1e16.
        floor = SPREAD_FLOOR * torch.maximum(mean.abs(), torch.ones_like(mean))
        scale = torch.where(scale > floor, scale, torch.ones_like(scale))
        self.mean.copy_(mean)
        self.scale.copy_(scale)
        return self

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """(y − mean)/scale, in the dtype of ``values``."""
        return (values - self.mean.to(values.dtype)) / self.scale.to(values.dtype)

    def inverse(self, values: torch.Tensor) -> torch.Tensor:
        """Y·scale + mean, in the dtype of ``values``."""
        return values * self.scale.to(values.dtype) + self.mean.to(values.dtype)
