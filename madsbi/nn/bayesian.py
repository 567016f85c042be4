"""Bayesian linear layers with local reparametrisation, shared by the Bayesian MLP and the BINN.

Mean-field Gaussian weights q(w) = N(μ, σ²) with σ = exp(½ log σ²) learned; Gaussian prior
N(0, s²). In training every event gets its own weight sample through the local
reparametrisation trick (Kingma et al., arXiv:1506.02557): the pre-activation of a linear
layer is Gaussian with mean x·μ + b and variance x²·σ² + σ_b², sampled directly. For
predictions that must be one function of x (a density, a likelihood ratio over a grid),
:func:`resample_weights` draws one weight set that every input then shares.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from madsbi.nn.mlp import activation

MODES = ("local", "sample", "mean")


class BayesianLinear(nn.Module):
    """Linear layer with Gaussian weights (n_in → n_out).

    Parameters
    ----------
    n_in, n_out : int
    prior_std : float
        Width s of the Gaussian prior N(0, s²) on every weight and bias.
    initial_log_variance : float
        Starting log σ² of all weights (small: the network starts near a deterministic one).

    Notes
    -----
    ``mode`` selects the forward pass: ``"local"`` (local reparametrisation, the training
    default), ``"sample"`` (the weights last drawn by :meth:`resample`, shared by all
    inputs), ``"mean"`` (the means μ).
    """

    def __init__(
        self, n_in: int, n_out: int, prior_std: float = 1.0, initial_log_variance: float = -9.0
    ) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(n_in)
        self.weight_mean = nn.Parameter(torch.empty(n_in, n_out).uniform_(-bound, bound))
        self.weight_log_variance = nn.Parameter(torch.full((n_in, n_out), initial_log_variance))
        self.bias_mean = nn.Parameter(torch.empty(n_out).uniform_(-bound, bound))
        self.bias_log_variance = nn.Parameter(torch.full((n_out,), initial_log_variance))
        self.prior_std = float(prior_std)
        self.mode = "local"
        self._weight_draw: torch.Tensor | None = None
        self._bias_draw: torch.Tensor | None = None

    def resample(self, generator: torch.Generator | None = None) -> None:
        """Draw one weight set w = μ + σ ε for the ``"sample"`` mode."""
        eps_w = torch.randn(
            self.weight_mean.shape, generator=generator, device=self.weight_mean.device
        )
        eps_b = torch.randn(self.bias_mean.shape, generator=generator, device=self.bias_mean.device)
        with torch.no_grad():
            self._weight_draw = self.weight_mean + (0.5 * self.weight_log_variance).exp() * eps_w
            self._bias_draw = self.bias_mean + (0.5 * self.bias_log_variance).exp() * eps_b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer in the current ``mode``."""
        if self.mode == "mean":
            return x @ self.weight_mean + self.bias_mean
        if self.mode == "sample":
            if self._weight_draw is None or self._bias_draw is None:
                self.resample()
            weight, bias = self._weight_draw, self._bias_draw
            if weight is None or bias is None:  # pragma: no cover - resample() sets both
                msg = "BayesianLinear: no weight draw"
                raise RuntimeError(msg)
            return x @ weight + bias
        mean = x @ self.weight_mean + self.bias_mean
        var = (x * x) @ self.weight_log_variance.exp() + self.bias_log_variance.exp()
        return mean + var.clamp_min(1e-30).sqrt() * torch.randn_like(mean)

    def kl(self) -> torch.Tensor:
        """KL(q ‖ prior) summed over weights and biases."""
        s2 = self.prior_std**2
        total = self.weight_mean.new_zeros(())
        for mu, log_var in (
            (self.weight_mean, self.weight_log_variance),
            (self.bias_mean, self.bias_log_variance),
        ):
            total = (
                total + 0.5 * ((log_var.exp() + mu**2) / s2 - 1.0 - log_var + math.log(s2)).sum()
            )
        return total


def kl_divergence(module: nn.Module) -> torch.Tensor:
    """Sum of :meth:`BayesianLinear.kl` over all Bayesian layers inside ``module``.

    Layers with the same prior width are evaluated together on the concatenated parameters:
    a network of many small layers (the BINN has ~100) then costs a handful of tensor
    operations per step instead of several per layer.
    """
    groups: dict[float, list[BayesianLinear]] = {}
    for m in module.modules():
        if isinstance(m, BayesianLinear):
            groups.setdefault(m.prior_std, []).append(m)
    if not groups:
        return torch.zeros(())
    totals = []
    for prior_std, layers in groups.items():
        s2 = prior_std**2
        mu = torch.cat([t.reshape(-1) for m in layers for t in (m.weight_mean, m.bias_mean)])
        log_var = torch.cat(
            [t.reshape(-1) for m in layers for t in (m.weight_log_variance, m.bias_log_variance)]
        )
        totals.append(0.5 * ((log_var.exp() + mu**2) / s2 - 1.0 - log_var + math.log(s2)).sum())
    return torch.stack(totals).sum()


def set_mode(module: nn.Module, mode: str) -> None:
    """Put every Bayesian layer of ``module`` into ``mode`` ("local", "sample" or "mean")."""
    if mode not in MODES:
        msg = f"mode: expected one of {MODES}, got {mode!r}"
        raise ValueError(msg)
    for m in module.modules():
        if isinstance(m, BayesianLinear):
            m.mode = mode


def resample_weights(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """Draw a new shared weight set in every Bayesian layer of ``module``."""
    for m in module.modules():
        if isinstance(m, BayesianLinear):
            m.resample(generator)


class BayesianMLP(nn.Module):
    """MLP of Bayesian linear layers: inputs (B, d_in) → predictions (M, B, d_out).

    In training mode M = 1 and each event sees its own weight sample (local
    reparametrisation). In evaluation mode the prediction stacks ``n_draws`` shared weight
    draws, so the spread over M is the network's uncertainty.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        hidden: tuple[int, ...],
        act: str = "silu",
        prior_std: float = 1.0,
        *,
        n_draws: int = 10,
        draw_seed: int = 0,
    ) -> None:
        super().__init__()
        widths = (n_in, *hidden, n_out)
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            layers.append(BayesianLinear(a, b, prior_std))
            if i < len(widths) - 2:
                layers.append(activation(act))
        self.body = nn.Sequential(*layers)
        self.n_members = n_draws
        self.draw_seed = int(draw_seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(1, B, d_out) in training; (n_draws, B, d_out) from shared weight draws otherwise."""
        if self.training:
            set_mode(self, "local")
            out: torch.Tensor = self.body(x)
            return out.unsqueeze(0)
        set_mode(self, "sample")
        # Seeded draws: the same network gives the same prediction ensemble every call.
        generator = torch.Generator(device=x.device).manual_seed(self.draw_seed)
        draws = []
        for _ in range(self.n_members):
            resample_weights(self, generator)
            draws.append(self.body(x))
        set_mode(self, "local")
        return torch.stack(draws)

    def regulariser(self, predictions: torch.Tensor, n_train: int) -> torch.Tensor:
        """KL(q ‖ prior) / n_train: the ELBO with the loss read per event."""
        return kl_divergence(self) / n_train
