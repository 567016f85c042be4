"""Pooled runs (``[training] runs``): an ensemble of independently trained ensembles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from madsbi.errors import ConfigError, InputError
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.morphing import MorphingAwareEstimator
from madsbi.estimators.network import pool_members, seeded_network
from madsbi.estimators.single_network import SingleNetworkMorphingEstimator
from madsbi.estimators.trainer import TrainingConfig
from madsbi.nn.build import NetworkConfig
from madsbi.simulate.toy import ToyModel
from madsbi.theory.morphing import MorphingBasis

MODEL = ToyModel(1.5)
THETA0 = 0.5
NETWORK = NetworkConfig(hidden=(8, 8), members=2)


def toy_sample(seed: int) -> HypothesisSample:
    rng = np.random.default_rng(seed)
    z = MODEL.sample_parton(2000, THETA0, rng)
    return HypothesisSample.build(MODEL.smear(z, rng), MODEL.parton_coefficients(z, THETA0))


def training(seed: int, runs: int = 1) -> TrainingConfig:
    return TrainingConfig(
        epochs=4, batch_size=256, learning_rate=1e-2, device="cpu", seed=seed, runs=runs
    )


@pytest.mark.parametrize("joint", [False, True])
def test_pooled_runs_are_the_single_runs_side_by_side(tmp_path: Path, joint: bool) -> None:
    data = toy_sample(3)
    x = np.linspace(-2.0, 3.0, 57)
    singles = []
    for seed in (4, 5):
        single = DerivativeEstimator([THETA0], 1, NETWORK, combination_seed=1, joint=joint)
        single.fit(data, training(seed), progress=False)
        singles.append(single.predict_ratios(x))
    pooled = DerivativeEstimator([THETA0], 1, NETWORK, combination_seed=1, joint=joint)
    histories = pooled.fit(data, training(4, runs=2), out_dir=tmp_path / "d", progress=False)
    assert pooled.n_members == 4
    assert pooled.config.members == 4
    names = ["t"] if joint else ["t1", "t2"]
    assert set(histories) == {f"{n} (seed {s})" for n in names for s in (4, 5)}
    for n in names:
        for s in (4, 5):
            assert (tmp_path / "d" / f"seed_{s}" / n / "checkpoint.pt").is_file()
    ratios = pooled.predict_ratios(x)
    # Float32 networks: a batched product over 4 members rounds unlike one over 2.
    if joint:  # members in run order, each run's members in their order
        torch.testing.assert_close(ratios, torch.cat(singles), rtol=1e-6, atol=1e-7)
    else:  # members of each target permuted by the combination seed: compare as sets
        for k in (1, 2):
            got = torch.sort(ratios[..., k], dim=0).values
            want = torch.sort(torch.cat(singles)[..., k], dim=0).values
            torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)
    # Saved and loaded with all members; a second fit of the same runs resumes from the
    # checkpoints (no training: same predictions at once).
    loaded = DerivativeEstimator.load(pooled.save(tmp_path / "final"))
    torch.testing.assert_close(loaded.predict_ratios(x), ratios, rtol=0, atol=0)
    again = DerivativeEstimator([THETA0], 1, NETWORK, combination_seed=1, joint=joint)
    again.fit(data, training(4, runs=2), out_dir=tmp_path / "d", progress=False)
    torch.testing.assert_close(again.predict_ratios(x), ratios, rtol=0, atol=0)


def test_a_run_checkpoint_is_a_single_trainings_checkpoint(tmp_path: Path) -> None:
    # A run trained on its own (runs = 1) can be copied in as one run of a pooled training.
    data = toy_sample(6)
    single = DerivativeEstimator([THETA0], 1, NETWORK, joint=True)
    single.fit(data, training(8), out_dir=tmp_path / "alone", progress=False)
    target = tmp_path / "pooled" / "seed_8" / "t"
    target.mkdir(parents=True)
    alone = tmp_path / "alone" / "t" / "checkpoint.pt"
    (target / "checkpoint.pt").write_bytes(alone.read_bytes())
    pooled = DerivativeEstimator([THETA0], 1, NETWORK, joint=True)
    pooled.fit(data, training(7, runs=2), out_dir=tmp_path / "pooled", progress=False)
    x = np.linspace(-1.0, 2.0, 11)
    torch.testing.assert_close(
        pooled.predict_ratios(x)[2:], single.predict_ratios(x), rtol=1e-6, atol=1e-7
    )


def test_runs_need_an_ensemble_and_derivative_learning() -> None:
    data = toy_sample(1)
    mlp = DerivativeEstimator([THETA0], 1, NetworkConfig(kind="mlp", hidden=(4,), members=1))
    with pytest.raises(ConfigError, match=r"runs = 2.*ensemble"):
        mlp.fit(data, training(0, runs=2), progress=False)
    with pytest.raises(ConfigError, match=r"training\.runs: expected >= 1, got 0"):
        training(0, runs=0)
    from madsbi.estimators.trainer import fit

    net = seeded_network(NETWORK, 1, 1, 0)
    batch = {"x": torch.zeros(4, 1)}
    with pytest.raises(ConfigError, match="estimators pool runs through fit_runs"):
        fit(net, lambda p, b: p.sum((1, 2)), batch, training(0, runs=3), progress=False)


def test_pooling_refuses_parts_with_other_standardisers() -> None:
    a, b = seeded_network(NETWORK, 2, 1, 0), seeded_network(NETWORK, 2, 1, 1)
    b.inputs.fit(torch.randn(10, 2, dtype=torch.float64), torch.ones(10, dtype=torch.float64))
    with pytest.raises(InputError, match=r"inputs.*differs between the runs"):
        pool_members([a, b], NETWORK, 2, 1)
    with pytest.raises(InputError, match="'mlp'"):
        pool_members([a], NetworkConfig(kind="mlp", hidden=(8, 8), members=1), 2, 1)


BASIS = MorphingBasis.from_points(np.array([[-1.0], [0.0], [1.0]]), [0.0])
SIGMA = np.array([2.0, 1.0, 2.0])


def basis_samples(n: int, seed: int) -> list[HypothesisSample]:
    """Events at each basis point θ_b, coefficients around θ0 = 0."""
    rng = np.random.default_rng(seed)
    out = []
    for theta in (-1.0, 0.0, 1.0):
        z = MODEL.sample_parton(n, theta, rng)
        out.append(HypothesisSample.build(MODEL.smear(z, rng), MODEL.parton_coefficients(z, 0.0)))
    return out


def test_per_basis_morphing_pools_runs(tmp_path: Path) -> None:
    basis, sigma = BASIS, SIGMA
    samples = basis_samples(600, 21)
    x = np.linspace(-2.0, 2.0, 9)
    singles = []
    for seed in (3, 4):
        single = MorphingAwareEstimator(basis, sigma, 1.0, 1, NETWORK, seed=5)
        single.fit(samples, samples[1], training(seed), progress=False)
        singles.append(single.basis_ratios(x))
    pooled = MorphingAwareEstimator(basis, sigma, 1.0, 1, NETWORK, seed=5)
    histories = pooled.fit(
        samples, samples[1], training(3, runs=2), out_dir=tmp_path / "m", progress=False
    )
    assert set(histories) == {f"b{b} (seed {s})" for b in (0, 2) for s in (3, 4)}
    assert (tmp_path / "m" / "seed_4" / "b2" / "checkpoint.pt").is_file()
    ratios = pooled.basis_ratios(x)
    assert ratios.shape == (4, 9, 3)
    for b in (0, 2):  # each basis network's members permuted: compare as sets
        got = torch.sort(ratios[..., b], dim=0).values
        want = torch.sort(torch.cat(singles)[..., b], dim=0).values
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)
    loaded = MorphingAwareEstimator.load(pooled.save(tmp_path / "final"))
    torch.testing.assert_close(loaded.basis_ratios(x), ratios, rtol=0, atol=0)


def test_single_network_pools_runs(tmp_path: Path) -> None:
    def make() -> SingleNetworkMorphingEstimator:
        return SingleNetworkMorphingEstimator(BASIS, SIGMA, 1.0, 1, NETWORK, seed=2)

    samples = basis_samples(300, 31)
    x, thetas = np.linspace(-2.0, 2.0, 7), [[-0.5], [0.0], [0.8]]
    singles = []
    for seed in (3, 4):
        single = make()
        single.fit(samples, training(seed), progress=False)
        singles.append((single.log_ratio(x, thetas), single.learned_sigma_ratios()))
    pooled = make()
    histories = pooled.fit(samples, training(3, runs=2), out_dir=tmp_path / "s", progress=False)
    assert set(histories) == {"all (seed 3)", "all (seed 4)"}
    assert pooled.n_members == 4
    # Members in run order: the log ratios and σ ratios of both runs side by side; r̂ = 1 at θ0.
    log_r = pooled.log_ratio(x, thetas)
    np.testing.assert_allclose(log_r, np.concatenate([s[0] for s in singles]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        pooled.learned_sigma_ratios(), np.concatenate([s[1] for s in singles]), rtol=1e-6
    )
    assert np.abs(log_r[:, 1]).max() <= 1e-6  # (M, G, N): θ = 0 is the second point
    loaded = SingleNetworkMorphingEstimator.load(pooled.save(tmp_path / "final"))
    np.testing.assert_array_equal(loaded.log_ratio(x, thetas), log_r)
