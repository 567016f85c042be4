"""Affine coupling blocks (bellagente2022 eq. 5–7) with deterministic or Bayesian subnetworks.

A block splits its input z = (z₁, z₂) and maps it to x = (x₁, x₂) with

    x₁ = z₁ ⊙ exp(s₂(z₂)) + t₂(z₂),    x₂ = z₂ ⊙ exp(s₁(x₁)) + t₁(x₁)        (eq. 5)

whose inverse (eq. 6) needs no inversion of s or t and whose Jacobian is triangular
(eq. 7), so log|det ∂x/∂z| = Σ s₂(z₂) + Σ s₁(x₁). Hidden layers start with He-uniform
weights. Each (s_i, t_i) pair is one MLP with
2·d_out outputs. The scales are soft-clamped, s = c·tanh(s_raw / c), as in the INN
formulation the paper uses (Ardizzone et al., arXiv:1808.04730): without it a single
large s makes exp(s) overflow early in training. The last layer of every subnetwork starts
at zero, so every block, and the whole network, starts as the identity.
"""

from __future__ import annotations

import torch
from torch import nn

from madsbi.errors import ConfigError
from madsbi.generative._kernels import local_reparam, local_reparam_silu_net
from madsbi.nn.bayesian import BayesianLinear
from madsbi.nn.mlp import activation


class Subnet(nn.Module):
    """MLP d_in → 2·d_out returning (s, t), of plain or Bayesian linear layers.

    Parameters
    ----------
    d_in, d_out : int
        Input width and the width of each of s and t.
    hidden : int
        Units per hidden layer.
    n_layers : int
        Number of hidden layers (paper Tab. 1: 3).
    bayesian : bool
        Use :class:`madsbi.nn.bayesian.BayesianLinear` layers (mean-field Gaussian weights).
    prior_std : float
        Width of the Gaussian weight prior of the Bayesian layers.
    initial_log_variance : float
        Starting log σ² of the Bayesian weights.
    act : str
        Activation name (see :data:`madsbi.nn.mlp.ACTIVATIONS`).
    clamp : float
        Soft clamp c of the log-scales, s = c·tanh(s_raw/c).
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        hidden: int,
        n_layers: int,
        *,
        bayesian: bool,
        prior_std: float = 1.0,
        initial_log_variance: float = -9.0,
        act: str = "silu",
        clamp: float = 2.0,
    ) -> None:
        super().__init__()
        if n_layers < 1 or hidden < 1:
            raise ConfigError(
                f"subnet: expected n_layers >= 1 and hidden >= 1, got {n_layers}, {hidden}"
            )
        widths = [d_in, *([hidden] * n_layers), 2 * d_out]
        layers: list[nn.Module] = []
        for i in range(len(widths) - 1):
            layer: nn.Module
            if bayesian:
                layer = BayesianLinear(
                    widths[i], widths[i + 1], prior_std, initial_log_variance=initial_log_variance
                )
            else:
                layer = nn.Linear(widths[i], widths[i + 1])
            layers.append(layer)
            if i < len(widths) - 2:
                layers.append(activation(act))
        last = layers[-1]
        with torch.no_grad():
            # He initialisation of the hidden layers: with the default U(±1/√n) the signal
            # shrinks layer by layer and a 3-layer subnet barely depends on its input.
            for layer in layers[:-1]:
                if isinstance(layer, BayesianLinear):
                    nn.init.kaiming_uniform_(layer.weight_mean.T, nonlinearity="relu")
                elif isinstance(layer, nn.Linear):
                    nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
            if isinstance(last, BayesianLinear):
                last.weight_mean.zero_()
                last.bias_mean.zero_()
            elif isinstance(last, nn.Linear):
                last.weight.zero_()
                last.bias.zero_()
        self.body = nn.Sequential(*layers)
        # Bayesian layers with SiLU between them: in "local" mode the whole chain runs as
        # one autograd node (madsbi.generative._kernels), the same function.
        self._bayesian = [m for m in layers if isinstance(m, BayesianLinear)]
        self._silu_chain = bayesian and all(isinstance(m, nn.SiLU) for m in layers[1::2])
        self.d_out = d_out
        self.clamp = float(clamp)

    def forward(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(s, t), each of shape (B, d_out), for conditioning input u of shape (B, d_in)."""
        if self._silu_chain and all(m.mode == "local" for m in self._bayesian):
            out = local_reparam_silu_net(self._bayesian, u)
            s_raw, t = out[:, : self.d_out], out[:, self.d_out :]
            return self.clamp * torch.tanh(s_raw / self.clamp), t
        out = u
        for layer in self.body:
            if isinstance(layer, BayesianLinear) and layer.mode == "local":
                # The same function as layer(out), as one autograd node (the BINN's hot path).
                out = local_reparam(layer, out)
            else:
                out = layer(out)
        s_raw, t = out[:, : self.d_out], out[:, self.d_out :]
        s = self.clamp * torch.tanh(s_raw / self.clamp)
        return s, t


class AffineCoupling(nn.Module):
    """One double affine coupling block of eq. 5 acting on vectors of ``dim`` ≥ 2 entries.

    The first ``dim // 2`` entries are z₁, the rest z₂. Subnetwork options as in
    :class:`Subnet`.
    """

    def __init__(
        self,
        dim: int,
        hidden: int,
        n_layers: int,
        *,
        bayesian: bool,
        prior_std: float = 1.0,
        initial_log_variance: float = -9.0,
        act: str = "silu",
        clamp: float = 2.0,
    ) -> None:
        super().__init__()
        if dim < 2:
            raise ConfigError(f"dim: a coupling block needs at least 2 dimensions, got {dim}")
        self.d1 = dim // 2
        self.d2 = dim - self.d1

        def subnet(d_in: int, d_out: int) -> Subnet:
            return Subnet(
                d_in,
                d_out,
                hidden,
                n_layers,
                bayesian=bayesian,
                prior_std=prior_std,
                initial_log_variance=initial_log_variance,
                act=act,
                clamp=clamp,
            )

        # net2 = (s₂, t₂) acts on z₂ and transforms z₁; net1 = (s₁, t₁) acts on x₁.
        self.net2 = subnet(self.d2, self.d1)
        self.net1 = subnet(self.d1, self.d2)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """G direction z → x (eq. 5); returns x and log|det ∂x/∂z| of shape (B,)."""
        z1, z2 = z[:, : self.d1], z[:, self.d1 :]
        s2, t2 = self.net2(z2)
        x1 = z1 * torch.exp(s2) + t2
        s1, t1 = self.net1(x1)
        x2 = z2 * torch.exp(s1) + t1
        return torch.cat([x1, x2], dim=1), s2.sum(1) + s1.sum(1)

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Ḡ direction x → z (eq. 6); returns z and log|det ∂z/∂x| of shape (B,)."""
        x1, x2 = x[:, : self.d1], x[:, self.d1 :]
        s1, t1 = self.net1(x1)
        z2 = (x2 - t1) * torch.exp(-s1)
        s2, t2 = self.net2(z2)
        z1 = (x1 - t2) * torch.exp(-s2)
        return torch.cat([z1, z2], dim=1), -(s1.sum(1) + s2.sum(1))


class Permutation(nn.Module):
    """A fixed random permutation of the coordinates (volume preserving, log-det 0)."""

    def __init__(self, dim: int, generator: torch.Generator) -> None:
        super().__init__()
        perm = torch.randperm(dim, generator=generator)
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Permute the columns of z (B, dim)."""
        perm: torch.Tensor = self.perm  # type: ignore[assignment]
        return z[:, perm]

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`forward`."""
        inverse_perm: torch.Tensor = self.inverse_perm  # type: ignore[assignment]
        return x[:, inverse_perm]
