"""Networks: shapes, independent members, repulsion, Bayesian layers, standardisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from madsbi.errors import ConfigError
from madsbi.nn import (
    MLP,
    BayesianLinear,
    BayesianMLP,
    EnsembleMLP,
    NetworkConfig,
    Standardiser,
    build_network,
    kl_divergence,
    repulsion,
    resample_weights,
)
from madsbi.nn.bayesian import set_mode
from madsbi.nn.mlp import activation


@pytest.fixture
def seed(rng: np.random.Generator) -> int:
    """Seeds torch's global generator from the test's own generator."""
    value = int(rng.integers(2**31))
    torch.manual_seed(value)
    return value


# -- shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "members", "train_m", "eval_m"),
    [("mlp", 1, 1, 1), ("ensemble", 4, 4, 4), ("bayesian", 6, 1, 6)],
)
def test_output_shapes(seed: int, kind: str, members: int, train_m: int, eval_m: int) -> None:
    config = NetworkConfig(kind=kind, hidden=(8, 8), members=members)
    net = build_network(config, 3, 2)
    x = torch.randn(17, 3)
    net.train()
    assert net(x).shape == (train_m, 17, 2)
    net.eval()
    with torch.no_grad():
        assert net(x).shape == (eval_m, 17, 2)
    assert net.n_members == members
    # Every kind has a regulariser that returns a scalar.
    assert net.regulariser(net(x), 100).shape == ()


def test_build_network_kinds() -> None:
    assert isinstance(build_network(NetworkConfig(kind="mlp"), 2, 1), MLP)
    assert isinstance(build_network(NetworkConfig(kind="ensemble", members=3), 2, 1), EnsembleMLP)
    assert isinstance(build_network(NetworkConfig(kind="bayesian", members=3), 2, 1), BayesianMLP)


def test_bayesian_mlp_draws(seed: int) -> None:
    net = BayesianMLP(2, 3, (16,), n_draws=5, draw_seed=seed % 1000)
    for layer in net.modules():
        if isinstance(layer, BayesianLinear):
            with torch.no_grad():
                layer.weight_log_variance.fill_(-2.0)
                layer.bias_log_variance.fill_(-2.0)
    x = torch.randn(11, 2)
    x = torch.cat([x, x[:1]])  # a repeated input: the same weight draw gives the same output
    net.eval()
    with torch.no_grad():
        first, second = net(x), net(x)
    assert first.shape == (5, 12, 3)
    torch.testing.assert_close(first, second, rtol=0, atol=0)  # reproducible call to call
    # n_draws distinct draws, each one function of x.
    for i in range(5):
        for j in range(i):
            assert not torch.allclose(first[i], first[j])
    torch.testing.assert_close(first[:, 0], first[:, -1], rtol=0, atol=0)
    # Evaluation leaves the layers in the training mode.
    assert all(m.mode == "local" for m in net.modules() if isinstance(m, BayesianLinear))
    # Training mode: one output, each event with its own noise, different call to call.
    net.train()
    a, b = net(x), net(x)
    assert a.shape == (1, 12, 3)
    assert not torch.allclose(a, b)
    assert not torch.allclose(a[0, 0], a[0, -1])


def test_bayesian_draw_seed_matters(seed: int) -> None:
    x = torch.randn(5, 2)
    outs = []
    for draw_seed in (0, 1):
        torch.manual_seed(seed)
        net = BayesianMLP(2, 1, (8,), n_draws=3, draw_seed=draw_seed).eval()
        with torch.no_grad():
            outs.append(net(x))
    assert not torch.allclose(outs[0], outs[1])


# -- ensembles -------------------------------------------------------------------------------


def test_ensemble_members_are_independent(seed: int) -> None:
    net = EnsembleMLP(3, 2, (8, 8), members=3)
    x = torch.randn(10, 3)
    out = net(x)
    out[0].sum().backward()
    for layer in net.layers:
        assert layer.weight.grad is not None
        assert layer.bias.grad is not None
        assert torch.count_nonzero(layer.weight.grad[1:]) == 0
        assert torch.count_nonzero(layer.bias.grad[1:]) == 0
        assert torch.count_nonzero(layer.weight.grad[0]) > 0
    # Changing member 1's weights leaves member 0's predictions unchanged.
    with torch.no_grad():
        before = net(x)
        for layer in net.layers:
            layer.weight[1].add_(1.0)
        after = net(x)
    torch.testing.assert_close(after[0], before[0], rtol=0, atol=0)
    torch.testing.assert_close(after[2], before[2], rtol=0, atol=0)
    assert not torch.allclose(after[1], before[1])


def test_ensemble_member_equals_plain_network(seed: int) -> None:
    net = EnsembleMLP(2, 1, (5,), members=2, act="tanh")
    x = torch.randn(7, 2)
    h = x
    for i, layer in enumerate(net.layers):
        h = h @ layer.weight[1] + layer.bias[1, 0]
        if i < len(net.layers) - 1:
            h = torch.tanh(h)
    torch.testing.assert_close(net(x)[1], h, rtol=1e-6, atol=1e-6)


def mean_pairwise_distance(f: torch.Tensor) -> float:
    flat = f.reshape(f.shape[0], -1)
    d = torch.cdist(flat, flat)
    m = f.shape[0]
    return float(d.sum() / (m * (m - 1)))


def test_repulsion_pushes_members_apart(seed: int) -> None:
    net = EnsembleMLP(2, 1, (16,), members=4)
    x = torch.randn(64, 2)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    before = mean_pairwise_distance(net(x).detach())
    for _ in range(10):
        loss = repulsion(net(x))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = mean_pairwise_distance(net(x).detach())
    assert after > 1.2 * before, (before, after)


def test_repulsion_gradient_is_the_kernel_term(rng: np.random.Generator) -> None:
    m, b, d = 3, 6, 2  # odd M: the lower median torch takes is the median
    values = rng.normal(size=(m, b, d))
    f = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    value = repulsion(f)
    value.backward()
    assert f.grad is not None
    flat = values.reshape(m, -1)
    p = flat.shape[1]
    d2 = ((flat[:, None, :] - flat[None, :, :]) ** 2).sum(-1) / p
    h = np.median(d2[~np.eye(m, dtype=bool)]) / math.log(m)
    kernel = np.exp(-d2 / h)
    assert float(value.detach()) == pytest.approx(np.log(kernel.sum(1)).sum(), rel=1e-12)
    soft = kernel / kernel.sum(1, keepdims=True)
    # ∇_{f_i} Σ_i log Σ_j k(f_i, sg f_j) = Σ_j softmax_ij · (−2/(h P)) (f_i − f_j).
    expected = -2.0 / (h * p) * np.einsum("ij,ijp->ip", soft, flat[:, None, :] - flat[None, :, :])
    np.testing.assert_allclose(f.grad.numpy().reshape(m, -1), expected, rtol=1e-10, atol=1e-14)


def test_repulsion_single_member_and_strength(seed: int) -> None:
    assert float(repulsion(torch.randn(1, 5, 2))) == 0.0
    net = EnsembleMLP(2, 1, (4,), members=3, repulsion_strength=0.0)
    pred = net(torch.randn(5, 2)).detach()
    assert float(net.regulariser(pred, 10).detach()) == 0.0
    net = EnsembleMLP(2, 1, (4,), members=3, repulsion_strength=2.0)
    torch.testing.assert_close(net.regulariser(pred, 10), 0.2 * repulsion(pred))


# -- Bayesian layers -------------------------------------------------------------------------


def test_bayesian_kl_closed_form(seed: int) -> None:
    layer = BayesianLinear(4, 3, prior_std=0.7)
    with torch.no_grad():
        layer.weight_log_variance.uniform_(-3.0, 0.5)
        layer.bias_log_variance.uniform_(-3.0, 0.5)
    s = 0.7
    total = 0.0
    for mu_t, lv_t in (
        (layer.weight_mean, layer.weight_log_variance),
        (layer.bias_mean, layer.bias_log_variance),
    ):
        mu = mu_t.detach().double().numpy().ravel()
        sigma = np.exp(0.5 * lv_t.detach().double().numpy().ravel())
        for mu_i, sigma_i in zip(mu, sigma, strict=True):
            # KL(N(μ, σ²) ‖ N(0, s²)) = log(s/σ) + (σ² + μ²)/(2 s²) − ½
            total += math.log(s / sigma_i) + (sigma_i**2 + mu_i**2) / (2 * s**2) - 0.5
    assert float(layer.kl().detach()) == pytest.approx(total, rel=1e-5)
    q = torch.distributions.Normal(layer.weight_mean, (0.5 * layer.weight_log_variance).exp())
    prior = torch.distributions.Normal(torch.zeros(()), torch.tensor(s))
    q_b = torch.distributions.Normal(layer.bias_mean, (0.5 * layer.bias_log_variance).exp())
    reference = (
        torch.distributions.kl_divergence(q, prior).sum()
        + torch.distributions.kl_divergence(q_b, prior).sum()
    )
    torch.testing.assert_close(layer.kl(), reference, rtol=1e-5, atol=1e-5)
    # kl_divergence sums over every Bayesian layer of a module.
    net = BayesianMLP(3, 1, (5, 4), n_draws=2)
    layers = [m for m in net.modules() if isinstance(m, BayesianLinear)]
    assert len(layers) == 3
    torch.testing.assert_close(kl_divergence(net), sum(m.kl() for m in layers))
    torch.testing.assert_close(net.regulariser(torch.zeros(1), 50), kl_divergence(net) / 50)
    assert float(kl_divergence(MLP(2, 1, (3,)))) == 0.0


def test_local_reparametrisation_matches_sampled_weights(seed: int) -> None:
    layer = BayesianLinear(3, 2)
    with torch.no_grad():
        layer.weight_log_variance.copy_(torch.tensor([[-1.0, -2.0], [0.0, -0.5], [-3.0, -1.5]]))
        layer.bias_log_variance.copy_(torch.tensor([-1.0, -4.0]))
    x = torch.tensor([0.7, -1.3, 2.0])
    mean = (x @ layer.weight_mean + layer.bias_mean).detach().double()
    var = ((x * x) @ layer.weight_log_variance.exp() + layer.bias_log_variance.exp()).detach()
    var = var.double()

    def check(samples: torch.Tensor) -> None:
        n = samples.shape[0]
        s = samples.double()
        # 5σ of the sample mean and of the sample variance (Gaussian: var·√(2/n)).
        assert torch.all((s.mean(0) - mean).abs() < 5 * (var / n).sqrt()), (s.mean(0), mean)
        assert torch.all((s.var(0) - var).abs() < 5 * var * math.sqrt(2 / n)), (s.var(0), var)

    with torch.no_grad():
        layer.mode = "local"
        local = layer(x.expand(100_000, 3))
        check(local)
        layer.mode = "sample"
        draws = []
        for _ in range(3_000):
            layer.resample()
            draws.append(layer(x[None])[0])
        check(torch.stack(draws))


def test_bayesian_modes(seed: int) -> None:
    layer = BayesianLinear(2, 3)
    with torch.no_grad():
        layer.weight_log_variance.fill_(-1.0)
    x = torch.randn(4, 2)
    xx = torch.cat([x, x])
    with torch.no_grad():
        layer.mode = "mean"
        torch.testing.assert_close(layer(x), x @ layer.weight_mean + layer.bias_mean)
        torch.testing.assert_close(layer(x), layer(x), rtol=0, atol=0)
        layer.mode = "sample"
        a = layer(xx)
        torch.testing.assert_close(a, layer(xx), rtol=0, atol=0)  # the same draw until resample
        torch.testing.assert_close(a[:4], a[4:], rtol=0, atol=0)  # shared by all inputs
        layer.resample()
        assert not torch.allclose(a, layer(xx))
        # A seeded generator makes draws reproducible.
        layer.resample(torch.Generator().manual_seed(3))
        c = layer(x)
        layer.resample(torch.Generator().manual_seed(3))
        torch.testing.assert_close(c, layer(x), rtol=0, atol=0)
        layer.mode = "local"
        d = layer(xx)
        assert not torch.allclose(d[:4], d[4:])  # every event its own noise
    net = BayesianMLP(2, 1, (3,), n_draws=2)
    set_mode(net, "mean")
    assert all(m.mode == "mean" for m in net.modules() if isinstance(m, BayesianLinear))
    resample_weights(net, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="mode: expected one of"):
        set_mode(net, "median")


# -- standardisation -------------------------------------------------------------------------


def test_standardiser_weighted_fit(rng: np.random.Generator) -> None:
    values = rng.normal(loc=[3.0, -1.0, 0.0], scale=[2.0, 0.1, 5.0], size=(500, 3))
    weights = rng.uniform(0.0, 2.0, 500)
    st = Standardiser(3).fit(torch.tensor(values, dtype=torch.float32), torch.tensor(weights))
    v = torch.tensor(values, dtype=torch.float32).double().numpy()  # what the fit saw
    mean = (weights[:, None] * v).sum(0) / weights.sum()
    std = np.sqrt((weights[:, None] * (v - mean) ** 2).sum(0) / weights.sum())
    assert st.mean.dtype == torch.float64
    np.testing.assert_allclose(st.mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(st.scale.numpy(), std, rtol=1e-12)
    # Unweighted: the population mean and std.
    st.fit(torch.tensor(values))
    np.testing.assert_allclose(st.mean.numpy(), values.mean(0), rtol=1e-12)
    np.testing.assert_allclose(st.scale.numpy(), values.std(0), rtol=1e-12)
    # forward/inverse are inverse maps, and the standardised sample has mean 0, std 1.
    t = torch.tensor(values)
    out = st(t)
    np.testing.assert_allclose(out.numpy().mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.numpy().std(0), 1.0, rtol=1e-12)
    torch.testing.assert_close(st.inverse(out), t, rtol=1e-12, atol=1e-12)
    assert st(t.float()).dtype == torch.float32
    # Buffers travel with the state dict.
    other = Standardiser(3)
    other.load_state_dict(st.state_dict())
    torch.testing.assert_close(other.scale, st.scale, rtol=0, atol=0)


def test_standardiser_uncentred_and_constant(rng: np.random.Generator) -> None:
    values = rng.exponential(2.0, size=(300, 2))
    weights = rng.uniform(0.5, 1.5, 300)
    st = Standardiser(2).fit(torch.tensor(values), torch.tensor(weights), center=False)
    np.testing.assert_array_equal(st.mean.numpy(), 0.0)
    rms = np.sqrt((weights[:, None] * values**2).sum(0) / weights.sum())
    np.testing.assert_allclose(st.scale.numpy(), rms, rtol=1e-12)
    assert bool((st(torch.tensor(values)) >= 0).all())  # a positive quantity stays positive
    # A feature without spread keeps scale 1.
    const = np.column_stack([np.full(50, 4.0), rng.normal(size=50)])
    st = Standardiser(2).fit(torch.tensor(const))
    assert float(st.scale[0]) == 1.0
    assert float(st.mean[0]) == 4.0
    # Weighted, a constant's variance is round-off (≈ 1e-32), not 0: still scale 1, so a value
    # the fit never saw (a charge sum of −1 after +1 only) stays an input of order 1.
    column = torch.tensor(np.column_stack([np.full(891, 0.1), rng.normal(size=891)]))
    weights = torch.tensor(rng.uniform(0.01, 3.0, size=891))
    mean = (weights * column[:, 0]).sum() / weights.sum()
    assert float((weights * (column[:, 0] - mean) ** 2).sum()) > 0  # the round-off guarded
    st = Standardiser(2).fit(column, weights)
    assert float(st.scale[0]) == 1.0
    unseen = st(torch.tensor([[-0.9, 0.0]], dtype=torch.float64))
    assert abs(float(unseen[0, 0]) + 1.0) < 1e-12


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "transformer"}, "network.kind"),
        ({"hidden": ()}, "network.hidden"),
        ({"hidden": (8, 0)}, "network.hidden"),
        ({"members": 0}, "network.members"),
        ({"kind": "ensemble", "members": 1}, "ensemble needs >= 2"),
        ({"repulsion": -0.1}, "network.repulsion"),
        ({"prior_std": 0.0}, "network.prior_std"),
        ({"activation": "swish"}, "network.activation"),
    ],
)
def test_network_config_rejects_bad_values(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        NetworkConfig(**kwargs)  # type: ignore[arg-type]


def test_network_config_accepts() -> None:
    NetworkConfig(kind="mlp", members=1)
    NetworkConfig(kind="bayesian", members=1)
    with pytest.raises(ConfigError, match="activation: expected one of"):
        activation("swish")
    assert isinstance(activation("tanh"), torch.nn.Tanh)
