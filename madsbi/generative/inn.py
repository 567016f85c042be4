"""The (Bayesian) invertible network: coupling blocks, permutations, density and sampling.

G maps latent z ~ N(0, 1) to phase space x (eq. 4); Ḡ = G⁻¹ gives the density of eq. 3,
log p(x) = log p_Z(Ḡ(x)) + log|det ∂Ḡ/∂x|. Data are standardised by a fixed affine map
(shift, scale) inside the network, so densities are always in the data's own units.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
from torch import nn

from madsbi.errors import ConfigError
from madsbi.generative.coupling import AffineCoupling, Permutation
from madsbi.nn.mlp import ACTIVATIONS


@dataclass(frozen=True)
class INNConfig:
    """Architecture of the (B)INN.

    Attributes
    ----------
    n_blocks : int
        Coupling blocks (paper Tab. 1: 20; the CPU defaults use 8).
    hidden : int
        Units per hidden layer of every subnetwork (paper: 32 for toys, 64 for Drell-Yan).
    n_layers : int
        Hidden layers per subnetwork (paper: 3 for toys, 2 for Drell-Yan).
    bayesian : bool
        Bayesian linear layers (BINN) or plain ones (INN with the ML loss of eq. 8).
    prior_std : float
        Width of the Gaussian weight prior (paper: 1).
    initial_log_variance : float
        Starting log σ² of the Bayesian weights.
    activation : str
        Activation of the subnetworks.
    clamp : float
        Soft clamp of the coupling log-scales.
    permutation_seed : int
        Seed of the fixed random permutations between blocks.
    """

    n_blocks: int = 8
    hidden: int = 32
    n_layers: int = 3
    bayesian: bool = True
    prior_std: float = 1.0
    initial_log_variance: float = -9.0
    activation: str = "silu"
    clamp: float = 2.0
    permutation_seed: int = 0

    def __post_init__(self) -> None:
        if self.n_blocks < 1 or self.hidden < 1 or self.n_layers < 1:
            raise ConfigError(
                "[network] n_blocks, hidden and n_layers: expected >= 1, got "
                f"{self.n_blocks}, {self.hidden}, {self.n_layers}"
            )
        if not self.prior_std > 0:
            raise ConfigError(f"[network] prior_std: expected > 0, got {self.prior_std}")
        if not self.clamp > 0:
            raise ConfigError(f"[network] clamp: expected > 0, got {self.clamp}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                f"[network] activation: expected one of {sorted(ACTIVATIONS)}, "
                f"got {self.activation!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (for checkpoints and summaries)."""
        return asdict(self)


class INN(nn.Module):
    """Invertible network of :class:`AffineCoupling` blocks with random permutations.

    Parameters
    ----------
    dim : int
        Phase-space dimension (≥ 2).
    config : INNConfig
    """

    def __init__(self, dim: int, config: INNConfig | None = None) -> None:
        super().__init__()
        config = config or INNConfig()
        if dim < 2:
            raise ConfigError(f"dim: the INN needs at least 2 dimensions, got {dim}")
        self.dim = dim
        self.config = config
        generator = torch.Generator().manual_seed(config.permutation_seed)
        self.blocks = nn.ModuleList(
            AffineCoupling(
                dim,
                config.hidden,
                config.n_layers,
                bayesian=config.bayesian,
                prior_std=config.prior_std,
                initial_log_variance=config.initial_log_variance,
                act=config.activation,
                clamp=config.clamp,
            )
            for _ in range(config.n_blocks)
        )
        self.permutations = nn.ModuleList(
            Permutation(dim, generator) for _ in range(config.n_blocks)
        )
        self.register_buffer("shift", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))

    # -- standardisation ------------------------------------------------------------------
    def set_standardisation(self, shift: torch.Tensor, scale: torch.Tensor) -> None:
        """Fix the affine map x_std = (x − shift)/scale applied before the couplings."""
        if shift.shape != (self.dim,) or scale.shape != (self.dim,):
            raise ConfigError(
                f"shift/scale: expected shape ({self.dim},), got {tuple(shift.shape)}, "
                f"{tuple(scale.shape)}"
            )
        if not bool(torch.all(scale > 0)):
            raise ConfigError("scale: expected positive values")
        with torch.no_grad():
            self._buffer("shift").copy_(shift)
            self._buffer("scale").copy_(scale)

    def _buffer(self, name: str) -> torch.Tensor:
        value = getattr(self, name)
        if not isinstance(value, torch.Tensor):  # pragma: no cover - registered in __init__
            raise TypeError(name)
        return value

    @property
    def device(self) -> torch.device:
        """Device of the weights."""
        return self._buffer("shift").device

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point type of the weights."""
        return self._buffer("shift").dtype

    def _layers(self) -> list[tuple[AffineCoupling, Permutation]]:
        blocks = cast(list[AffineCoupling], list(self.blocks))
        perms = cast(list[Permutation], list(self.permutations))
        return list(zip(blocks, perms, strict=True))

    # -- the two directions ---------------------------------------------------------------
    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """G: latent z (B, dim) → x (B, dim) and log|det ∂G/∂z| (B,)."""
        log_det = z.new_zeros(z.shape[0])
        u = z
        for block, perm in self._layers():
            u, ld = block(u)
            u = perm(u)
            log_det = log_det + ld
        scale = self._buffer("scale")
        x = u * scale + self._buffer("shift")
        return x, log_det + torch.log(scale).sum()

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Ḡ: x (B, dim) → z (B, dim) and log|det ∂Ḡ/∂x| (B,)."""
        scale = self._buffer("scale")
        u = (x - self._buffer("shift")) / scale
        log_det = x.new_full((x.shape[0],), -float(torch.log(scale).sum()))
        for block, perm in reversed(self._layers()):
            u = perm.inverse(u)
            u, ld = block.inverse(u)
            log_det = log_det + ld
        return u, log_det

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log p_X(x) of eq. 3 (B,) for the current weights (or weight mode)."""
        z, log_det = self.inverse(x)
        return standard_normal_log_prob(z) + log_det

    def sample(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` events x = G(z) and their log p(x) = log p_Z(z) − log|det ∂G/∂z|."""
        z = torch.randn(n, self.dim, generator=generator, device=self.device, dtype=self.dtype)
        x, log_det = self(z)
        return x, standard_normal_log_prob(z) - log_det

    def n_parameters(self) -> int:
        """Trainable parameters (for a BINN: means and log-variances)."""
        return int(sum(p.numel() for p in self.parameters() if p.requires_grad))


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """Log N(z; 0, 1) summed over the last axis."""
    return -0.5 * (z * z).sum(-1) - 0.5 * z.shape[-1] * math.log(2.0 * math.pi)
