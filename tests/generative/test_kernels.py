"""The fast BINN training kernels against the straightforward implementations they replace."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from madsbi.generative import binn
from madsbi.generative._kernels import VARIANCE_FLOOR, FlatParameters, local_reparam
from madsbi.generative.binn import BINNTraining, build_inn, train_inn
from madsbi.generative.coupling import Subnet
from madsbi.generative.inn import INN, INNConfig
from madsbi.generative.toys import toy
from madsbi.nn.bayesian import BayesianLinear, kl_divergence, set_mode

torch.set_num_threads(1)


def _layer(n_in: int, n_out: int, seed: int, log_variance: float = -3.0) -> BayesianLinear:
    torch.manual_seed(seed)
    layer = BayesianLinear(n_in, n_out, prior_std=0.7, initial_log_variance=log_variance)
    with torch.no_grad():
        layer.weight_log_variance.add_(torch.randn_like(layer.weight_log_variance))
        layer.bias_log_variance.add_(torch.randn_like(layer.bias_log_variance))
    return layer.double()


def _forward_backward(layer: BayesianLinear, fused: bool, seed: int) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    x = torch.randn(33, layer.weight_mean.shape[0], dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(33, layer.weight_mean.shape[1], dtype=torch.float64)
    layer.zero_grad(set_to_none=True)
    torch.manual_seed(seed + 1)  # the same noise for both implementations
    y = local_reparam(layer, x) if fused else layer(x)
    (y * upstream).sum().backward()
    grads = [p.grad for p in layer.parameters()]
    assert x.grad is not None
    assert all(g is not None for g in grads)
    return [y.detach(), x.grad, *grads]  # type: ignore[list-item]


@pytest.mark.parametrize(("n_in", "n_out", "seed"), [(2, 64, 0), (64, 64, 1), (64, 4, 2)])
def test_local_reparam_matches_bayesian_linear(n_in: int, n_out: int, seed: int) -> None:
    layer = _layer(n_in, n_out, seed)
    assert layer.mode == "local"
    reference = _forward_backward(layer, fused=False, seed=seed)
    fused = _forward_backward(layer, fused=True, seed=seed)
    for a, b in zip(reference, fused, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    # The output is really random: another noise draw changes it.
    other = _forward_backward(layer, fused=True, seed=seed + 10)
    assert not torch.allclose(other[0], fused[0])


def test_local_reparam_floor_of_the_variance_blocks_its_gradient() -> None:
    # Bias variances e^-200 and zero inputs: the variance is below the floor, where
    # BayesianLinear's clamp_min passes no gradient to the log-variances.
    layer = _layer(3, 5, seed=4)
    with torch.no_grad():
        layer.bias_log_variance.fill_(-200.0)
    assert float(layer.bias_log_variance.detach().exp().max()) < VARIANCE_FLOOR
    x = torch.zeros(4, 3, dtype=torch.float64)
    x[0] = 1.0
    results = []
    for fused in (False, True):
        layer.zero_grad(set_to_none=True)
        torch.manual_seed(3)
        y = local_reparam(layer, x) if fused else layer(x)
        y.sum().backward()
        results.append([y.detach(), *(p.grad for p in layer.parameters())])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    assert all(bool(torch.isfinite(t).all()) for t in results[1])


def _subnet_outputs(net: Subnet, u: torch.Tensor, chain: bool) -> list[torch.Tensor]:
    net.zero_grad(set_to_none=True)
    u = u.detach().requires_grad_(True)
    torch.manual_seed(6)
    if chain:
        s, t = net(u)
    else:
        out = net.body(u)
        s, t = 2.0 * torch.tanh(out[:, :2] / 2.0), out[:, 2:]
    (s.sum() + (t * t).sum()).backward()
    assert u.grad is not None
    return [s.detach(), t.detach(), u.grad, *(p.grad for p in net.parameters())]  # type: ignore[list-item]


def test_subnet_chain_matches_the_layers_one_by_one() -> None:
    torch.manual_seed(5)
    net = Subnet(3, 2, 16, 3, bayesian=True, initial_log_variance=-2.0).double()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    assert net._silu_chain
    u = torch.randn(10, 3, dtype=torch.float64)
    reference = _subnet_outputs(net, u, chain=False)
    fused = _subnet_outputs(net, u, chain=True)
    assert len(fused) == 3 + 4 * 4
    for a, b in zip(reference, fused, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    set_mode(net, "mean")
    torch.testing.assert_close(net(u)[1], net.body(u)[:, 2:])


def _model() -> INN:
    torch.manual_seed(7)
    model = INN(3, INNConfig(n_blocks=2, hidden=8, n_layers=2, prior_std=0.5))
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(0.2 * torch.randn_like(p) - (2.0 if "log_variance" in name else 0.0))
    return model.double()


def test_flat_parameters_kl_value_and_gradient_match_autograd() -> None:
    model = _model()
    x = torch.randn(20, 3, dtype=torch.float64)
    weight = 0.37
    reference = copy.deepcopy(model)
    torch.manual_seed(8)
    kl_ref = kl_divergence(reference)
    (-reference.log_prob(x).mean() + weight * kl_ref).backward()

    flat = FlatParameters(model)
    assert flat.flat.numel() == sum(p.numel() for p in reference.parameters())
    torch.testing.assert_close(flat.kl_value(), kl_ref.detach(), rtol=1e-12, atol=0.0)
    flat.zero_grad()
    torch.manual_seed(8)
    (-model.log_prob(x).mean()).backward()
    flat.add_kl_gradient(weight)
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert p.grad is not None, name
        assert q.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12, msg=name)
    # The parameters are views: an update of the flat tensor is an update of the model.
    with torch.no_grad():
        flat.flat.add_(1.0)
    first = next(model.parameters())
    torch.testing.assert_close(first, next(reference.parameters()) + 1.0)
    flat.release()
    assert first.grad is None
    with torch.no_grad():
        flat.flat.add_(1.0)  # no longer shared
    torch.testing.assert_close(first, next(reference.parameters()) + 1.0)


def test_flat_adam_step_equals_the_per_parameter_step() -> None:
    model = _model()
    reference = copy.deepcopy(model)
    x = torch.randn(20, 3, dtype=torch.float64)
    flat = FlatParameters(model)
    optimizer = torch.optim.Adam([flat.flat], lr=1e-2, fused=True)
    ref_optimizer = torch.optim.Adam(reference.parameters(), lr=1e-2, foreach=True)
    for step in range(3):
        torch.manual_seed(step)
        flat.zero_grad()
        (-model.log_prob(x).mean()).backward()
        flat.add_kl_gradient(1e-3)
        torch.nn.utils.clip_grad_norm_(flat.flat, 0.5)
        optimizer.step()
        torch.manual_seed(step)
        ref_optimizer.zero_grad(set_to_none=True)
        (-reference.log_prob(x).mean() + 1e-3 * kl_divergence(reference)).backward()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
        ref_optimizer.step()
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-11)


def test_training_leaves_independent_double_parameters() -> None:
    x = toy("kicker").sample(600, np.random.default_rng(1))
    model = build_inn(x, INNConfig(n_blocks=2, hidden=8, n_layers=1), seed=0)
    train_inn(model, x, BINNTraining(n_updates=3, batch_size=64))
    storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    assert len(storages) == len(list(model.parameters()))
    assert all(p.dtype == torch.float64 and p.grad is None for p in model.parameters())


def test_interrupted_training_resumes_to_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = toy("kicker").sample(700, np.random.default_rng(2))
    config = INNConfig(n_blocks=2, hidden=8, n_layers=2)
    settings = BINNTraining(n_updates=7, batch_size=128, seed=3)
    fingerprint = {"test": 1}
    path = tmp_path / "partial.pt"
    reference = build_inn(x, config, seed=0)
    expected = train_inn(reference, x, settings)

    def interrupt(settings: BINNTraining, step: int) -> float:
        if step == 5:
            raise KeyboardInterrupt
        return learning_rate(settings, step)

    learning_rate = binn._learning_rate
    monkeypatch.setattr(binn, "_learning_rate", interrupt)
    model = build_inn(x, config, seed=0)
    with pytest.raises(KeyboardInterrupt):
        train_inn(model, x, settings, checkpoint=path, fingerprint=fingerprint, checkpoint_every=2)
    assert path.is_file()
    monkeypatch.setattr(binn, "_learning_rate", learning_rate)
    # Another fingerprint does not resume (and would start from scratch).
    assert binn._load_partial(path, {"test": 2}) is None
    assert int(binn._load_partial(path, fingerprint)["step"]) == 4  # type: ignore[index]
    model = build_inn(x, config, seed=0)
    history = train_inn(model, x, settings, checkpoint=path, fingerprint=fingerprint)
    assert not path.exists()
    assert history.step == expected.step
    assert history.nll == expected.nll
    assert history.kl_per_event == expected.kl_per_event
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q)
