"""The jointly trained single-network morphing baseline (MadMiner's morphing-aware estimator)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from madsbi.errors import InputError
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.single_network import SingleNetworkMorphingEstimator
from madsbi.estimators.trainer import TrainingConfig
from madsbi.nn.build import NetworkConfig
from madsbi.simulate.toy import ToyModel
from madsbi.theory.morphing import MorphingBasis

ALPHA = 1.5
MODEL = ToyModel(ALPHA)
BASIS_POINTS = (-1.0, 0.0, 1.0)
SIGMA_BASIS = np.array([1.0 + t**2 for t in BASIS_POINTS])
NETWORK = NetworkConfig(hidden=(8, 8), members=2)
LOSSES = ("alice", "alices", "carl", "mse")


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def basis(points: tuple[float, ...] = BASIS_POINTS) -> MorphingBasis:
    return MorphingBasis.from_points(np.array(points)[:, None], [0.0])


def toy_sample(
    n: int, theta: float, rng: np.random.Generator
) -> tuple[HypothesisSample, np.ndarray]:
    z = MODEL.sample_parton(n, theta, rng)
    return HypothesisSample.build(MODEL.smear(z, rng), MODEL.parton_coefficients(z, 0.0)), z


def estimator(loss: str = "alice", **kwargs: float | str) -> SingleNetworkMorphingEstimator:
    return SingleNetworkMorphingEstimator(
        basis(),
        SIGMA_BASIS,
        1.0,
        1,
        NETWORK,
        loss=loss,
        seed=3,
        **kwargs,  # type: ignore[arg-type]
    )


def test_reference_ratio_is_one_untrained_and_trained(rng: np.random.Generator) -> None:
    samples = [toy_sample(300, t, rng)[0] for t in BASIS_POINTS]
    x = np.linspace(-4.0, 6.0, 41)
    for loss in LOSSES:
        est = estimator(loss)
        # Random weights and σ ratios away from 1: the ratio at θ0 must still be exactly 1.
        with torch.no_grad():
            est.network.log_sigma.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(1))
        assert np.abs(est.log_ratio(x, [[0.0]])).max() <= 1e-6
        est.fit(samples, TrainingConfig(epochs=2, batch_size=128, seed=1), progress=False)
        assert np.abs(est.log_ratio(x, [[0.0]])).max() <= 1e-6, loss
        assert np.abs(est.log_ratio(x, [[0.7]])).max() > 1e-4  # not trivially zero


def test_reference_ratio_is_one_without_a_basis_point_at_theta0(rng: np.random.Generator) -> None:
    est = SingleNetworkMorphingEstimator(basis((-1.0, 0.5, 1.0)), [2.0, 1.25, 2.0], 1.0, 1, NETWORK)
    assert est.reference_index == -1
    with torch.no_grad():
        est.network.log_sigma.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(2))
    x = rng.normal(0.0, 2.0, 50)
    assert np.abs(est.log_ratio(x, [[0.0]])).max() <= 1e-6


def numpy_loss(
    est: SingleNetworkMorphingEstimator, log_c: np.ndarray, batch: dict[str, np.ndarray]
) -> np.ndarray:
    """Per-member loss from first principles (float64)."""
    s = np.exp(est.network.log_sigma_ratios().detach().double().numpy())  # (M, K)
    r = np.exp(log_c)  # (M, B, K)
    a, da = batch["morph"], batch["dmorph"]  # (B, K), (B, 1, K)
    a0 = est.morph0.double().numpy()
    num, den = (r * a).sum(-1), s @ a.T
    num0, den0 = (r * a0).sum(-1), (s * a0).sum(-1)[:, None]
    log_r = np.log(num / den) - np.log(num0 / den0)
    y, joint, w = batch["label"], batch["joint"], batch["weight"]
    f_hat = 1.0 / (1.0 + np.exp(-log_r))  # r̂/(1 + r̂)
    if est.loss == "carl":
        per = -(y * np.log(f_hat) + (1 - y) * np.log(1 - f_hat))
    elif est.loss == "mse":
        r_hat = np.exp(log_r)
        per = np.where(y == 1, (1 / joint - 1 / r_hat) ** 2, (joint - r_hat) ** 2)
    else:
        soft = joint / (1 + joint)
        per = -(soft * np.log(f_hat) + (1 - soft) * np.log(1 - f_hat))
        if est.loss == "alices":
            t_hat = (r * da[:, 0]).sum(-1) / num - (s @ da[:, 0].T) / den
            per = per + est.score_weight * y * (t_hat - batch["score"][:, 0]) ** 2
    out: np.ndarray = (per * w).sum(-1) / w.sum()
    return out


@pytest.mark.parametrize("loss", LOSSES)
def test_loss_matches_numpy_reference(loss: str, rng: np.random.Generator) -> None:
    est = estimator(loss, score_weight=0.7)
    with torch.no_grad():
        est.network.log_sigma.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(5))
    n = 7
    thetas = rng.uniform(-1.2, 1.2, (n, 1))
    data = est._batch_data(
        rng.normal(size=n),
        thetas,
        rng.random(n) < 0.5,
        rng.uniform(0.2, 3.0, n),
        rng.normal(size=(n, 1)),
        rng.uniform(0.5, 2.0, n),
    )
    log_c = 0.2 * rng.normal(size=(2, n, 3))
    log_c[..., 1] = 0.0  # the reference column
    got = est._loss(torch.as_tensor(log_c), {k: v.double() for k, v in data.items()})
    batch = {k: v.double().numpy() for k, v in data.items()}
    np.testing.assert_allclose(got.detach().numpy(), numpy_loss(est, log_c, batch), rtol=2e-6)


def test_pairs_are_exact_and_represent_the_prior() -> None:
    rng = np.random.default_rng(11)
    drawn = [
        toy_sample(n, t, rng) for n, t in zip((20_000, 40_000, 20_000), BASIS_POINTS, strict=True)
    ]
    est = estimator(prior="gauss", prior_std=0.8)
    pairs = est.pairs_from_samples([s for s, _ in drawn], np.random.default_rng(4))
    z = np.concatenate([zz for _, zz in drawn])
    theta = pairs["theta"][:, 0]
    # Joint ratio and score against the toy's parton density (finite difference for t).
    sub = np.arange(0, z.shape[0], 997)
    r_ref = [MODEL.parton_density(z[i], theta[i]) / MODEL.parton_density(z[i], 0.0) for i in sub]
    np.testing.assert_allclose(pairs["joint"][sub], r_ref, rtol=1e-10)
    h = 1e-5
    t_ref = [
        (
            math.log(MODEL.parton_density(z[i], theta[i] + h))
            - math.log(MODEL.parton_density(z[i], theta[i] - h))
        )
        / (2 * h)
        for i in sub
    ]
    np.testing.assert_allclose(pairs["score"][sub, 0], t_ref, rtol=1e-5, atol=1e-6)
    # Weighted numerator events follow ∫ dθ N(θ; 0, 0.8²) p(z|θ): P(|z − α| < 0.5) checks it.
    num = pairs["numerator"].astype(bool)
    w = pairs["weight"][num]
    inside = (np.abs(z[num] - ALPHA) < 0.5).astype(float)
    grid = np.linspace(-6, 6, 4001)
    prior = np.exp(-0.5 * (grid / 0.8) ** 2) / (0.8 * math.sqrt(2 * math.pi))
    bsm = grid**2 / (1 + grid**2)
    p_sm = math.erf(2.0 / math.sqrt(2)) / 2 - math.erf(1.0 / math.sqrt(2)) / 2
    expected = float(
        np.trapezoid(prior * (bsm * math.erf(5.0 / math.sqrt(2)) + (1 - bsm) * p_sm), grid)
    )
    n_eff = w.sum() ** 2 / (w**2).sum()
    got = (w * inside).sum() / w.sum()
    assert abs(got - expected) < 5 * inside.std() / math.sqrt(n_eff)
    # Reference events follow p(z|θ0) = N(0, 1): weighted mean 0 and second moment 1.
    w0, z0 = pairs["weight"][~num], z[~num]
    n0 = w0.sum() ** 2 / (w0**2).sum()
    assert abs((w0 * z0).sum() / w0.sum()) < 5 / math.sqrt(n0)
    assert abs((w0 * z0**2).sum() / w0.sum() - 1.0) < 5 * math.sqrt(2 / n0)
    # Uniform prior: θ stays within θ0 ± width.
    uniform = estimator(prior="uniform", prior_std=1.5).draw_thetas(1000, rng)
    assert uniform.min() >= -1.5
    assert uniform.max() <= 1.5
    assert uniform.std() > 0.8


def test_coefficients_rate_and_save_load(rng: np.random.Generator, tmp_path: Path) -> None:
    samples = [toy_sample(300, t, rng)[0] for t in BASIS_POINTS]
    est = estimator("alices", prior="uniform", prior_std=1.5)
    histories = est.fit(samples, TrainingConfig(epochs=2, batch_size=128), progress=False)
    assert set(histories) == {"all"}
    x = np.linspace(-3.0, 5.0, 9)
    thetas = np.array([[-1.2], [0.3], [0.9]])
    # C·a(θ) / (S·a(θ)) reproduces the jointly trained ratio (the per-event form of the scan).
    a, _ = est.basis.weights(thetas)
    c = est.event_coefficients(x)  # (M, N, K)
    rate = est.learned_sigma_ratios() @ a.T  # (M, G)
    per_event = np.log(np.einsum("mnk,gk->mgn", c, a)) - np.log(rate)[:, :, None]
    np.testing.assert_allclose(per_event, est.log_ratio(x, thetas), rtol=1e-6, atol=1e-7)
    loaded = SingleNetworkMorphingEstimator.load(est.save(tmp_path / "s"))
    assert (loaded.loss, loaded.prior, loaded.prior_std) == ("alices", "uniform", 1.5)
    np.testing.assert_array_equal(loaded.log_ratio(x, thetas), est.log_ratio(x, thetas))


def test_invalid_arguments(rng: np.random.Generator) -> None:
    with pytest.raises(InputError, match="loss: expected one of"):
        estimator("rolr")
    with pytest.raises(InputError, match="prior: expected one of"):
        estimator(prior="cauchy")
    with pytest.raises(InputError, match="prior_std: expected > 0"):
        estimator(prior_std=0.0)
    with pytest.raises(InputError, match="samples: expected one per basis point"):
        estimator().fit([toy_sample(50, 0.0, rng)[0]], TrainingConfig(epochs=1), progress=False)
    with pytest.raises(InputError, match="joint: expected ratios > 0"):
        estimator().fit_pairs(
            np.zeros(4),
            np.zeros((4, 1)),
            np.ones(4, bool),
            np.zeros(4),
            np.zeros((4, 1)),
            TrainingConfig(epochs=1),
            progress=False,
        )
