"""Estimators on the toy (paper Sec. 3): derivative learning and per-basis morphing."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from madsbi.errors import InputError, MissingFileError, StoreFormatError
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.morphing import MorphingAwareEstimator
from madsbi.estimators.trainer import TrainingConfig
from madsbi.nn.build import NetworkConfig
from madsbi.simulate.toy import ToyModel
from madsbi.theory.morphing import MorphingBasis

ALPHA = 1.5
MODEL = ToyModel(ALPHA)
NETWORK = NetworkConfig(hidden=(16, 16), members=3)
TRAINING = TrainingConfig(epochs=4, batch_size=256, learning_rate=5e-3, device="cpu")
BASIS_POINTS = (-1.0, 0.0, 1.0)
SIGMA_BASIS = np.array([1.0 + t**2 for t in BASIS_POINTS])  # σ(θ_b) = 1 + θ_b²


def module_rng(name: str) -> np.random.Generator:
    """Seeded generator for module-scoped fixtures (the ``rng`` fixture is per test)."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def toy_sample(
    n: int, theta: float, rng: np.random.Generator, *, parton: bool = False
) -> HypothesisSample:
    """Events at θ: inputs x = smeared z (or z itself), exact parton coefficients around θ0 = 0."""
    z = MODEL.sample_parton(n, theta, rng)
    x = z if parton else MODEL.smear(z, rng)
    return HypothesisSample.build(x, MODEL.parton_coefficients(z, 0.0))


def basis() -> MorphingBasis:
    return MorphingBasis.from_points(np.array(BASIS_POINTS)[:, None], [0.0])


# -- derivative learning ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def derivative() -> tuple[DerivativeEstimator, HypothesisSample]:
    sample = toy_sample(3000, 0.0, module_rng("derivative"))
    # At θ0 = 0 the linear coefficient 2 θ0 D2 vanishes identically: train only t_2.
    np.testing.assert_array_equal(sample.coefficients[:, 1], 0.0)
    estimator = DerivativeEstimator([0.0], 1, NETWORK, targets=[2], combination_seed=5)
    # Heavy-tailed targets (t_2(z) reaches 30 at z = α): a few more epochs than the morphing nets.
    training = TrainingConfig(epochs=10, batch_size=256, learning_rate=1e-2, device="cpu")
    histories = estimator.fit(sample, training, progress=False)
    assert set(histories) == {"t2"}
    assert histories["t2"].train_loss[-1] < histories["t2"].train_loss[0]
    return estimator, sample


def test_derivative_predictions(derivative: tuple[DerivativeEstimator, HypothesisSample]) -> None:
    estimator, _ = derivative
    x = np.linspace(-4.0, 5.0, 200)
    ratios = estimator.predict_ratios(x)
    assert ratios.shape == (3, 200, 3)
    assert ratios.dtype == torch.float64
    assert estimator.n_members == 3
    np.testing.assert_array_equal(ratios[..., 0].numpy(), 1.0)
    np.testing.assert_array_equal(ratios[..., 1].numpy(), 0.0)  # the skipped target
    # Members differ (an ensemble), and the combination is a permutation of the network's.
    member_preds = estimator.networks["t2"].predict(torch.tensor(x[:, None]))[..., 0]
    assert not torch.allclose(member_preds[0], member_preds[1])
    perm = [
        int(np.argmin([float((ratios[m, :, 2] - p).abs().max()) for p in member_preds]))
        for m in range(3)
    ]
    assert sorted(perm) == [0, 1, 2]
    for m in range(3):
        torch.testing.assert_close(ratios[m, :, 2], member_preds[perm[m]], rtol=0, atol=0)
    c = estimator.event_coefficients(x)
    np.testing.assert_array_equal(c, ratios.numpy())
    np.testing.assert_array_equal(estimator.second_derivative(x), 2.0 * c[..., 2])
    assert estimator.log1p
    # Φ(θ) = φ(θ − θ0) = (1, Δθ, Δθ²) for n = 1 (docs/design.md), written out term by term.
    thetas = np.linspace(-1.0, 1.0, 5)[:, None]
    delta = thetas[:, 0] - 0.0
    reference = np.stack([np.ones_like(delta), delta, delta * delta], axis=1)
    np.testing.assert_allclose(estimator.grid_features(thetas), reference, rtol=0, atol=1e-15)
    # Hence R̂(x|θ) = c·Φ(θ) = 1 + t̂_1 Δθ + t̂_2 Δθ² per member and event.
    r_hat = c @ estimator.grid_features(thetas).T
    expected = 1.0 + c[..., 1:2] * delta + c[..., 2:3] * delta**2
    np.testing.assert_allclose(r_hat, expected, rtol=1e-12, atol=1e-12)


def test_derivative_learns_the_trend(
    derivative: tuple[DerivativeEstimator, HypothesisSample],
) -> None:
    # t_2(x) = ĉ_2/ĉ_0 = M2(x)/M1(x): ≈ 3.7 at the narrow peak x = α, ≈ 0 at x = −2.
    estimator, _ = derivative
    mean = estimator.predict_ratios([ALPHA, -2.0])[..., 2].mean(0).numpy()
    truth = MODEL.reco_derivatives(np.array([ALPHA, -2.0]), 0.0)[1] / 2
    assert mean[0] > 1.0 + mean[1]
    assert abs(mean[1] - truth[1]) < 0.5


def test_positive_squares(derivative: tuple[DerivativeEstimator, HypothesisSample]) -> None:
    estimator, _ = derivative
    assert estimator.positive == {2: True}
    assert estimator.networks["t2"].positive
    x = np.linspace(-30.0, 30.0, 2001)
    assert float(estimator.predict_ratios(x)[..., 2].min()) >= 0.0
    # Without it the output is unconstrained.
    free = DerivativeEstimator([0.0], 1, NETWORK, targets=[2], positive_squares=False)
    assert not free.networks["t2"].positive


def test_derivative_save_load(
    derivative: tuple[DerivativeEstimator, HypothesisSample], tmp_path: Path
) -> None:
    estimator, _ = derivative
    path = estimator.save(tmp_path / "est")
    loaded = DerivativeEstimator.load(path)
    x = np.linspace(-3.0, 4.0, 50)
    torch.testing.assert_close(
        loaded.predict_ratios(x), estimator.predict_ratios(x), rtol=0, atol=0
    )
    assert loaded.targets == (2,)
    assert loaded.config == estimator.config
    assert loaded.combination_seed == 5
    with pytest.raises(StoreFormatError, match="expected 'morphing_aware'"):
        MorphingAwareEstimator.load(path)
    with pytest.raises(MissingFileError, match="not an estimator directory"):
        DerivativeEstimator.load(tmp_path / "nothing")


def test_derivative_all_targets(rng: np.random.Generator) -> None:
    # The default trains every coefficient; a target that is identically zero stays ≈ 0.
    sample = toy_sample(600, 0.0, rng)
    estimator = DerivativeEstimator([0.0], 1, NetworkConfig(hidden=(4,), members=2))
    assert estimator.targets == (1, 2)
    histories = estimator.fit(sample, TrainingConfig(epochs=1, batch_size=256), progress=False)
    assert set(histories) == {"t1", "t2"}
    ratios = estimator.predict_ratios(np.linspace(-2, 2, 9))
    assert ratios.shape == (2, 9, 3)
    assert bool(torch.isfinite(ratios).all())


def test_derivative_bad_input(rng: np.random.Generator) -> None:
    for targets in ([0], [3], []):
        with pytest.raises(InputError, match="targets: expected coefficient indices"):
            DerivativeEstimator([0.0], 1, NETWORK, targets=targets)
    estimator = DerivativeEstimator([0.0], 1, NetworkConfig(hidden=(4,), members=2), targets=[2])
    config = TrainingConfig(epochs=1)
    z = rng.normal(size=50)
    c = MODEL.parton_coefficients(z, 0.0)
    with pytest.raises(InputError, match=r"sample\.x: expected 1 columns, got 2"):
        estimator.fit(HypothesisSample.build(np.column_stack([z, z]), c), config, progress=False)
    with pytest.raises(InputError, match=r"sample\.coefficients: expected K = 3"):
        estimator.fit(HypothesisSample.build(z, c[:, :2]), config, progress=False)
    negative = c.copy()
    negative[7, 2] = -1e-3
    with pytest.raises(InputError, match=r"coefficients\[:, 2\].*square must be >= 0"):
        estimator.fit(HypothesisSample.build(z, negative), config, progress=False)
    free = DerivativeEstimator(
        [0.0], 1, NetworkConfig(hidden=(4,), members=2), targets=[2], positive_squares=False
    )
    free.fit(HypothesisSample.build(z, negative), config, progress=False)
    with pytest.raises(InputError, match="x: non-finite"):
        HypothesisSample.build([0.0, math.nan], c[:2])


# -- morphing-aware estimator ----------------------------------------------------------------


@pytest.fixture(scope="module")
def morphing() -> tuple[MorphingAwareEstimator, list[HypothesisSample]]:
    torch.set_num_threads(1)
    rng = module_rng("morphing")
    samples = [toy_sample(2000, theta, rng) for theta in BASIS_POINTS]
    estimator = MorphingAwareEstimator(basis(), SIGMA_BASIS, 1.0, 1, NETWORK, seed=2)
    histories = estimator.fit(samples, samples[1], TRAINING, progress=False)
    assert set(histories) == {"b0", "b2"}
    return estimator, samples


def test_morphing_structure(
    morphing: tuple[MorphingAwareEstimator, list[HypothesisSample]],
) -> None:
    estimator, _ = morphing
    assert estimator.reference_index == 1
    assert set(estimator.networks) == {"b0", "b2"}  # no network for the θ0 basis point
    x = np.linspace(-4.0, 5.0, 300)
    c = estimator.event_coefficients(x)
    assert c.shape == (3, 300, 3)
    np.testing.assert_array_equal(c[..., 1], 1.0)  # r̂ = 1 at θ0, σ_1/σ0 = 1
    assert np.all(c > 0)
    a0 = estimator.grid_features([[0.0]])
    np.testing.assert_array_equal(c @ a0[0], 1.0)  # R̂(x|θ0, θ0) = 1
    for b, theta in enumerate(BASIS_POINTS):
        a = estimator.grid_features([[theta]])[0]
        np.testing.assert_allclose(c @ a, c[..., b], rtol=1e-12, atol=1e-12 * np.abs(c).max())
    # C_eb = σ_b r̂_b / σ0
    np.testing.assert_allclose(c, estimator.basis_ratios(x).numpy() * SIGMA_BASIS, rtol=1e-15)
    thetas = np.linspace(-2.0, 2.0, 9)[:, None]
    np.testing.assert_allclose(estimator.cross_section(thetas), 1.0 + thetas[:, 0] ** 2, rtol=1e-12)
    assert not estimator.log1p


def test_morphing_learns_the_trend(
    morphing: tuple[MorphingAwareEstimator, list[HypothesisSample]],
) -> None:
    estimator, _ = morphing
    x = np.array([ALPHA, -2.0])
    log_r = np.log(estimator.basis_ratios(x).numpy()).mean(0)
    truth = MODEL.log_likelihood_ratio(x, 1.0, 0.0)  # ≈ (0.83, −0.69)
    for b in (0, 2):  # the toy is symmetric in θ → −θ
        assert log_r[0, b] > log_r[1, b] + 0.5, (b, log_r[:, b], truth)
        assert log_r[0, b] > 0 > log_r[1, b]


def test_morphing_save_load(
    morphing: tuple[MorphingAwareEstimator, list[HypothesisSample]], tmp_path: Path
) -> None:
    estimator, _ = morphing
    loaded = MorphingAwareEstimator.load(estimator.save(tmp_path / "m"))
    x = np.linspace(-3.0, 4.0, 40)
    np.testing.assert_array_equal(loaded.event_coefficients(x), estimator.event_coefficients(x))
    assert loaded.loss == "alice"
    np.testing.assert_array_equal(loaded.basis.points, estimator.basis.points)
    np.testing.assert_array_equal(loaded.sigma_basis, SIGMA_BASIS)
    with pytest.raises(StoreFormatError, match="expected 'derivative'"):
        DerivativeEstimator.load(tmp_path / "m")


def test_classification_data(rng: np.random.Generator) -> None:
    estimator = MorphingAwareEstimator(basis(), SIGMA_BASIS, 1.0, 1, NETWORK)
    numerator = toy_sample(300, 1.0, rng, parton=True)
    weights = rng.uniform(0.2, 1.0, 500)
    z0 = MODEL.sample_parton(500, 0.0, rng)
    reference = HypothesisSample.build(z0, MODEL.parton_coefficients(z0, 0.0), weights)
    data = estimator._classification_data(2, numerator, reference)
    z = data["x"].double().numpy()[:, 0]
    label = data["label"].numpy()
    w = data["weight"].double().numpy()
    np.testing.assert_array_equal(label, np.r_[np.ones(300), np.zeros(500)])
    # Balanced classes, mean weight 1; within a class the weights keep their ratios.
    assert w[label == 1].sum() == pytest.approx(w[label == 0].sum(), rel=1e-6)
    assert w.mean() == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(w[300:] / w[300], weights / weights[0], rtol=1e-6)
    # The joint ratio is r(z|θ_b, θ0) = p(z|1)/p(z|0), the toy's parton-level truth.
    truth = MODEL.parton_density(z, 1.0) / MODEL.parton_density(z, 0.0)
    np.testing.assert_allclose(data["joint"].double().numpy(), truth, rtol=1e-5)


@pytest.mark.parametrize("loss", ["alice", "carl", "mse"])
def test_morphing_losses_run(rng: np.random.Generator, loss: str) -> None:
    samples = [toy_sample(400, theta, rng) for theta in BASIS_POINTS]
    network = NetworkConfig(hidden=(8,), members=2)
    estimator = MorphingAwareEstimator(basis(), SIGMA_BASIS, 1.0, 1, network, loss=loss)
    histories = estimator.fit(
        [samples[0], None, samples[2]],  # the θ0 point needs no sample of its own
        samples[1],
        TrainingConfig(epochs=2, batch_size=128),
        progress=False,
    )
    for history in histories.values():
        assert all(math.isfinite(v) for v in history.train_loss + history.validation_loss)
    c = estimator.event_coefficients(np.linspace(-3.0, 3.0, 7))
    assert c.shape == (2, 7, 3)
    assert np.all(np.isfinite(c))
    assert np.all(c > 0)


def test_morphing_basis_without_theta0(rng: np.random.Generator) -> None:
    # No basis point at θ0: every point gets a network, trained against the θ0 reference.
    points = np.array([[-1.0], [0.5], [1.0]])
    other = MorphingBasis.from_points(points, [0.0])
    sigma = 1.0 + points[:, 0] ** 2
    network = NetworkConfig(hidden=(4,), members=2)
    estimator = MorphingAwareEstimator(other, sigma, 1.0, 1, network)
    assert estimator.reference_index == -1
    assert set(estimator.networks) == {"b0", "b1", "b2"}
    samples = [toy_sample(200, float(t), rng) for t in points[:, 0]]
    estimator.fit(samples, toy_sample(200, 0.0, rng), TrainingConfig(epochs=1), progress=False)
    c = estimator.event_coefficients(np.linspace(-2.0, 2.0, 5))
    assert c.shape == (2, 5, 3)
    a = estimator.grid_features([[0.5]])[0]
    np.testing.assert_allclose(c @ a, c[..., 1], rtol=1e-12)


def test_morphing_bad_input(rng: np.random.Generator) -> None:
    with pytest.raises(InputError, match="loss: expected one of"):
        MorphingAwareEstimator(basis(), SIGMA_BASIS, 1.0, 1, NETWORK, loss="hinge")
    with pytest.raises(InputError, match="cross-sections must be > 0"):
        MorphingAwareEstimator(basis(), [2.0, 0.0, 2.0], 1.0, 1, NETWORK)
    with pytest.raises(InputError, match="cross-sections must be > 0"):
        MorphingAwareEstimator(basis(), SIGMA_BASIS, -1.0, 1, NETWORK)
    estimator = MorphingAwareEstimator(basis(), SIGMA_BASIS, 1.0, 1, NETWORK)
    sample = toy_sample(100, 0.0, rng)
    config = TrainingConfig(epochs=1)
    with pytest.raises(InputError, match="samples: expected one per basis point"):
        estimator.fit([sample, sample], sample, config, progress=False)
    with pytest.raises(InputError, match=r"samples\[2\]"):
        estimator.fit([sample, sample, None], sample, config, progress=False)
    with pytest.raises(InputError, match="x: expected 1 columns, got 2"):
        estimator.basis_ratios(np.zeros((3, 2)))


# The single-network (jointly trained) baseline: tests/estimators/test_single_network.py.
