"""Coupling blocks and the (B)INN: invertibility, log-determinants, normalisation, KL."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from madsbi.errors import ConfigError
from madsbi.generative.coupling import AffineCoupling
from madsbi.generative.inn import INN, INNConfig
from madsbi.nn.bayesian import BayesianLinear, kl_divergence, resample_weights, set_mode

torch.set_num_threads(1)


def _randomised(
    dim: int, bayesian: bool, seed: int, n_blocks: int = 3, amplitude: float = 0.15
) -> INN:
    """An INN whose weights (including the zero-initialised last layers) are random."""
    torch.manual_seed(seed)
    model = INN(dim, INNConfig(n_blocks=n_blocks, hidden=8, n_layers=2, bayesian=bayesian))
    model = model.double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "log_variance" in name:
                p.fill_(-4.0)
            else:
                p.add_(amplitude * torch.randn_like(p))
        model.set_standardisation(
            torch.randn(dim, dtype=torch.float64), 0.5 + torch.rand(dim, dtype=torch.float64)
        )
    return model


@pytest.mark.parametrize(
    ("dim", "bayesian", "mode"),
    [(2, False, "mean"), (3, True, "mean"), (4, True, "sample"), (5, False, "mean")],
)
def test_invertible_to_float_precision(dim: int, bayesian: bool, mode: str) -> None:
    model = _randomised(dim, bayesian, seed=dim)
    set_mode(model, mode)
    resample_weights(model, torch.Generator().manual_seed(3))
    z = torch.randn(200, dim, dtype=torch.float64)
    x, log_det_forward = model(z)
    z_back, log_det_inverse = model.inverse(x)
    torch.testing.assert_close(z_back, z, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(log_det_forward, -log_det_inverse, rtol=1e-9, atol=1e-10)
    assert not torch.allclose(x, z)  # a non-trivial map


@pytest.mark.parametrize("dim", [2, 3, 4])
def test_log_det_matches_autograd_jacobian(dim: int) -> None:
    model = _randomised(dim, True, seed=10 + dim)
    set_mode(model, "sample")
    resample_weights(model, torch.Generator().manual_seed(0))
    for point in torch.randn(5, dim, dtype=torch.float64):
        jac_inv = torch.autograd.functional.jacobian(lambda v: model.inverse(v[None])[0][0], point)
        _, log_det = model.inverse(point[None])
        torch.testing.assert_close(log_det[0], torch.linalg.slogdet(jac_inv)[1], rtol=0, atol=1e-10)
        jac_fwd = torch.autograd.functional.jacobian(lambda v: model(v[None])[0][0], point)
        _, log_det_fwd = model(point[None])
        torch.testing.assert_close(
            log_det_fwd[0], torch.linalg.slogdet(jac_fwd)[1], rtol=0, atol=1e-10
        )


def test_coupling_block_alone_is_invertible_and_starts_as_identity() -> None:
    torch.manual_seed(0)
    block = AffineCoupling(3, 8, 2, bayesian=True).double()
    set_mode(block, "mean")
    z = torch.randn(50, 3, dtype=torch.float64)
    x, ld = block(z)
    torch.testing.assert_close(x, z)  # zero-initialised last layers: identity
    torch.testing.assert_close(ld, torch.zeros(50, dtype=torch.float64))


def test_density_is_normalised() -> None:
    model = _randomised(2, True, seed=5, amplitude=0.1)
    set_mode(model, "sample")
    resample_weights(model, torch.Generator().manual_seed(1))
    shift, scale = model.shift, model.scale
    axes = [
        torch.linspace(
            float(shift[i] - 10 * scale[i]),
            float(shift[i] + 10 * scale[i]),
            1001,
            dtype=torch.float64,
        )
        for i in range(2)
    ]
    gx, gy = torch.meshgrid(*axes, indexing="ij")
    with torch.no_grad():
        p = model.log_prob(torch.stack([gx.ravel(), gy.ravel()], 1)).exp().reshape(gx.shape)
    integral = torch.trapezoid(torch.trapezoid(p, axes[1], dim=1), axes[0])
    assert abs(float(integral) - 1.0) < 1e-3


def test_sample_log_prob_agrees_with_density() -> None:
    model = _randomised(3, False, seed=7)
    with torch.no_grad():
        x, log_p = model.sample(100, torch.Generator().manual_seed(2))
        torch.testing.assert_close(log_p, model.log_prob(x), rtol=0, atol=1e-10)


def test_kl_divergence_equals_sum_of_layer_terms() -> None:
    model = _randomised(2, True, seed=1)
    layers = [m for m in model.modules() if isinstance(m, BayesianLinear)]
    layers[0].prior_std = 0.3  # a second prior width is grouped separately
    expected = sum(float(layer.kl().detach()) for layer in layers)
    assert math.isclose(float(kl_divergence(model).detach()), expected, rel_tol=1e-12)
    assert float(kl_divergence(_randomised(2, False, seed=1))) == 0.0


def test_configuration_is_checked() -> None:
    with pytest.raises(ConfigError, match="n_blocks"):
        INNConfig(n_blocks=0)
    with pytest.raises(ConfigError, match="activation"):
        INNConfig(activation="softplus")
    with pytest.raises(ConfigError, match="dim"):
        INN(1)


def test_plain_inn_has_no_bayesian_layers() -> None:
    model = INN(2, INNConfig(bayesian=False, n_blocks=2))
    assert not any(isinstance(m, BayesianLinear) for m in model.modules())
    assert model.n_parameters() == sum(p.numel() for p in model.parameters())
    assert np.isfinite(model.n_parameters())
