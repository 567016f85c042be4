"""Fast kernels of the BINN training step: the Bayesian linear layer, flat parameters, KL.

**Local reparametrisation.** :class:`madsbi.nn.bayesian.BayesianLinear` in its ``"local"``
mode computes

    y = x μ + b + √max(x² σ² + σ_b², 10⁻³⁰) ⊙ ε,    σ² = exp(log σ²),  ε ~ N(0, 1)

with a dozen tensor operations, each an autograd node, and its backward with about thirty
more. The BINN has 120 such layers of 512 × 64 activations, and on a CPU the per-operation
overhead is a good part of a training step. :class:`LocalReparamLinear` computes the same
function with ``addmm``/``addcmul`` as one autograd node with a hand-written backward (four
matrix products, as autograd does). The noise is one ``torch.randn_like(mean)`` per layer
and call, exactly as in ``BayesianLinear.forward``, so for the same global random state both
give the same output (up to rounding) and the same weight-noise semantics.

**Flat parameters and the KL term.** :func:`madsbi.nn.bayesian.kl_divergence` concatenates
the 480 parameter tensors of the BINN into one vector, so its backward splits the gradient
again and adds it parameter by parameter, and Adam and the gradient clipping loop over 480
tensors. :class:`FlatParameters` makes every parameter a view into one flat tensor (Adam is
elementwise, the gradient norm global: the same computation on one tensor) and evaluates
the same KL on it, adding its closed-form gradient

    ∂KL/∂μ = μ / s²,    ∂KL/∂log σ² = ½ (σ² / s² − 1)

to the flat gradient after the backward pass of the likelihood.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from madsbi.nn.bayesian import BayesianLinear

#: Floor of the pre-activation variance before the square root (as in BayesianLinear).
VARIANCE_FLOOR = 1e-30


Saved = tuple[torch.Tensor, ...]


def _layer_forward(
    x: torch.Tensor,
    weight_mean: torch.Tensor,
    weight_log_variance: torch.Tensor,
    bias_mean: torch.Tensor,
    bias_log_variance: torch.Tensor,
) -> tuple[torch.Tensor, Saved]:
    """One local-reparametrisation layer; returns y and what its backward needs."""
    mean = torch.addmm(bias_mean, x, weight_mean)
    x2 = x * x
    weight_var = weight_log_variance.exp()
    bias_var = bias_log_variance.exp()
    var = torch.addmm(bias_var, x2, weight_var)
    std = var.clamp_min(VARIANCE_FLOOR).sqrt_()
    eps = torch.randn_like(mean)
    return torch.addcmul(mean, std, eps), (x, x2, weight_mean, weight_var, bias_var, var, std, eps)


def _layer_backward(
    grad: torch.Tensor, saved: Saved, needs: tuple[bool, ...]
) -> tuple[torch.Tensor | None, ...]:
    """Gradients of one layer with respect to x, μ, log σ², b, log σ_b² (None: not needed)."""
    x, x2, weight_mean, weight_var, bias_var, var, std, eps = saved
    # ∂y/∂var = ε / (2 std), zero where the floor was active (clamp_min's gradient).
    grad_var = (grad * eps).div_(std).mul_(0.5)
    # var >= e^{log σ_b²} elementwise (a sum of non-negative terms added to it), so the
    # floor can only be active if a bias variance is below it; skip the mask otherwise.
    if bool(bias_var.min() < VARIANCE_FLOOR):
        grad_var.masked_fill_(var < VARIANCE_FLOOR, 0.0)
    grad_x = grad_weight_mean = grad_weight_lv = grad_bias_mean = grad_bias_lv = None
    if needs[0]:
        grad_x = torch.addcmul(grad @ weight_mean.T, x, grad_var @ weight_var.T, value=2.0)
    if needs[1]:
        grad_weight_mean = x.T @ grad
    if needs[2]:
        grad_weight_lv = (x2.T @ grad_var).mul_(weight_var)
    if needs[3]:
        grad_bias_mean = grad.sum(0)
    if needs[4]:
        grad_bias_lv = grad_var.sum(0).mul_(bias_var)
    return grad_x, grad_weight_mean, grad_weight_lv, grad_bias_mean, grad_bias_lv


class LocalReparamLinear(torch.autograd.Function):
    """y = x μ + b + √max(x² e^{log σ²} + e^{log σ_b²}, floor) ⊙ ε with a hand-written backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        """Forward pass for (x, μ, log σ², b, log σ_b²); ε is drawn from the global generator."""
        out, saved = _layer_forward(x, *params)
        ctx.save_for_backward(*saved)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """Gradients with respect to x, μ, log σ², b and log σ_b²."""
        return _layer_backward(grad, ctx.saved_tensors, ctx.needs_input_grad)


class LocalReparamSiLUNet(torch.autograd.Function):
    """A chain of local-reparametrisation layers with SiLU between them, as one node.

    Arguments are x and four parameters (μ, log σ², b, log σ_b²) per layer; the layers
    draw their noise in order, as the same layers called one after the other would.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        """The last layer's output (no activation after it)."""
        n_layers = len(params) // 4
        saved: list[torch.Tensor] = []
        h = x
        for i in range(n_layers):
            out, layer_saved = _layer_forward(h, *params[4 * i : 4 * i + 4])
            saved.extend(layer_saved)
            if i < n_layers - 1:
                saved.append(out)
                h = torch.nn.functional.silu(out)
        ctx.n_layers = n_layers
        ctx.save_for_backward(*saved)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """Gradients with respect to x and every layer's parameters."""
        saved = ctx.saved_tensors
        needs = ctx.needs_input_grad
        n_layers: int = ctx.n_layers
        grads: list[torch.Tensor | None] = [None] * (1 + 4 * n_layers)
        g: torch.Tensor | None = grad
        for i in reversed(range(n_layers)):
            start = 9 * i
            layer_saved = saved[start : start + 8]
            layer_needs = (i > 0 or needs[0], *needs[1 + 4 * i : 5 + 4 * i])
            if g is None:  # pragma: no cover - every layer gets a gradient from above
                break
            layer_grads = _layer_backward(g, layer_saved, layer_needs)
            grads[1 + 4 * i : 5 + 4 * i] = layer_grads[1:]
            g = layer_grads[0]
            if i > 0 and g is not None:
                g = torch.ops.aten.silu_backward(g, saved[start - 1])
        grads[0] = g if needs[0] else None
        return tuple(grads)


def local_reparam(layer: BayesianLinear, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` in ``"local"`` mode as one autograd node (same function, same noise)."""
    out: torch.Tensor = LocalReparamLinear.apply(  # type: ignore[no-untyped-call]
        x, layer.weight_mean, layer.weight_log_variance, layer.bias_mean, layer.bias_log_variance
    )
    return out


def local_reparam_silu_net(layers: list[BayesianLinear], x: torch.Tensor) -> torch.Tensor:
    """``layers`` in ``"local"`` mode with SiLU between them, as one autograd node."""
    params = [
        t
        for layer in layers
        for t in (
            layer.weight_mean,
            layer.weight_log_variance,
            layer.bias_mean,
            layer.bias_log_variance,
        )
    ]
    out: torch.Tensor = LocalReparamSiLUNet.apply(x, *params)  # type: ignore[no-untyped-call]
    return out


class FlatParameters:
    """All parameters of ``module`` as views into one flat tensor, with the KL term on it.

    Every parameter's data and ``.grad`` become views into :attr:`flat` and its gradient,
    means and log-variances of the Bayesian layers each contiguous per prior width. Adam
    (elementwise) and the global gradient norm are then the same computation on one tensor
    instead of ~480, and the KL term of :func:`madsbi.nn.bayesian.kl_divergence` is a
    handful of operations whose gradient, known in closed form, is added to the flat
    gradient. Backward passes accumulate into the views in place, so :meth:`zero_grad`
    must be used instead of setting gradients to None; :meth:`release` gives the
    parameters their own storage back.

    Parameters
    ----------
    module : torch.nn.Module
        The network; all its parameters must share one dtype and device.
    """

    def __init__(self, module: nn.Module) -> None:
        groups: dict[float, tuple[list[nn.Parameter], list[nn.Parameter]]] = {}
        bayesian: set[int] = set()
        for m in module.modules():
            if isinstance(m, BayesianLinear):
                means, log_vars = groups.setdefault(m.prior_std, ([], []))
                means.extend((m.weight_mean, m.bias_mean))
                log_vars.extend((m.weight_log_variance, m.bias_log_variance))
                bayesian.update(id(p) for p in m.parameters())
        ordered: list[nn.Parameter] = []
        #: (prior width, slice of the means, slice of the log-variances) per prior width.
        self.kl_slices: list[tuple[float, slice, slice]] = []
        for prior_std, (means, log_vars) in groups.items():
            start = sum(p.numel() for p in ordered)
            middle = start + sum(p.numel() for p in means)
            end = middle + sum(p.numel() for p in log_vars)
            self.kl_slices.append((prior_std, slice(start, middle), slice(middle, end)))
            ordered.extend((*means, *log_vars))
        ordered.extend(p for p in module.parameters() if id(p) not in bayesian)
        self.parameters = ordered
        with torch.no_grad():
            flat = torch.cat([p.detach().reshape(-1) for p in ordered])
        self.flat = nn.Parameter(flat)
        self.flat.grad = torch.zeros_like(flat)
        offset = 0
        for p in ordered:
            n = p.numel()
            p.data = flat[offset : offset + n].view_as(p)
            p.grad = self.flat.grad[offset : offset + n].view_as(p)
            offset += n

    def zero_grad(self) -> None:
        """Zero the flat gradient (and with it every parameter's)."""
        grad = self.flat.grad
        if grad is not None:
            grad.zero_()

    @torch.no_grad()
    def kl_value(self) -> torch.Tensor:
        """KL(q ‖ prior) summed over all Bayesian weights and biases (0-d, no gradient)."""
        total = self.flat.new_zeros(())
        for prior_std, means, log_vars in self.kl_slices:
            s2 = prior_std**2
            mu, log_var = self.flat[means], self.flat[log_vars]
            total += 0.5 * ((log_var.exp() + mu * mu) / s2 - 1.0 - log_var + math.log(s2)).sum()
        return total

    @torch.no_grad()
    def add_kl_gradient(self, weight: float) -> None:
        """Add ``weight`` · ∂KL/∂θ: μ/s² to the means', ½(σ²/s² − 1) to the log-variances'."""
        grad = self.flat.grad
        if grad is None:  # pragma: no cover - set in __init__
            msg = "FlatParameters: no gradient"
            raise RuntimeError(msg)
        for prior_std, means, log_vars in self.kl_slices:
            s2 = prior_std**2
            grad[means].add_(self.flat[means], alpha=weight / s2)
            grad[log_vars].add_(self.flat[log_vars].exp().mul_(0.5 / s2).sub_(0.5), alpha=weight)

    def release(self) -> None:
        """Give every parameter its own copy of its data back and drop the gradients."""
        with torch.no_grad():
            for p in self.parameters:
                p.data = p.data.clone()
                p.grad = None
        self.flat.grad = None
