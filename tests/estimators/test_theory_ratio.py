"""Theory-scale shape factors learned by regression on exact per-event weights (issue 27):
a synthetic case with a known E[r|x], η(±1) exact, the null test, saving, the refusals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from madsbi.errors import InputError
from madsbi.estimators.nuisance_ratio import VariationRatio
from madsbi.estimators.theory_ratio import (
    THEORY_NUISANCES,
    THEORY_TRAINING,
    TheorySample,
    theory_acceptance,
    theory_variations,
    train_theory_ratio,
)

A = 0.15  # r_± = exp(±A z)
S = 0.5  # z = x₀ + N(0, S²): x does not fix z
N = 6000


def _sample(seed: int = 3, n: int = N) -> TheorySample:
    """Two features (x₁ irrelevant), factors exp(±A z) of a latent z = x₀ + noise, weights."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    z = x[:, 0] + S * rng.normal(size=n)
    factors = np.stack([np.exp(A * z), np.exp(-A * z)], axis=1)
    return TheorySample(x, factors, rng.uniform(0.5, 1.5, size=n))


def _true_log_ratio(x0: np.ndarray, sign: float, eta: float) -> np.ndarray:
    """log E[r_±|x]/η: E[exp(±A z)|x] = exp(±A x₀ + A² S²/2)."""
    return np.asarray(sign * A * x0 + 0.5 * A**2 * S**2 - np.log(eta))


@pytest.fixture(scope="module")
def trained() -> VariationRatio:
    torch.set_num_threads(1)
    config = replace(THEORY_TRAINING, hidden=(32, 32), epochs=60, batch_size=256, seed=2)
    return train_theory_ratio("mu_f", ["x0", "x1"], _sample(), config)


def test_recovers_the_known_conditional_mean(trained: VariationRatio) -> None:
    grid = np.stack([np.linspace(-2.0, 2.0, 21), np.zeros(21)], axis=1)
    learned = trained.log_ratios(grid)
    assert learned.shape == (21, 2)
    for column, (sign, eta) in enumerate(((1.0, trained.rate_up), (-1.0, trained.rate_down))):
        truth = _true_log_ratio(grid[:, 0], sign, eta)
        # The truth spans ±0.3; 4.5k training entries give it within 0.03.
        np.testing.assert_allclose(learned[:, column], truth, atol=0.03)
        assert np.corrcoef(learned[:, column], truth)[0, 1] > 0.99
    assert trained.info["learned"]
    assert trained.info["validation_gain"] > 2 * trained.info["validation_gain_error"]
    assert trained.info["variations"] == ["mu_f_up", "mu_f_down"]
    assert trained.info["n_train"] + trained.info["n_validation"] == N


def test_the_learned_ratio_is_normalised_over_the_sample(trained: VariationRatio) -> None:
    sample = _sample()
    w = sample.weights / sample.weights.sum()
    mean = w @ np.exp(trained.log_ratios(sample.x))
    np.testing.assert_allclose(mean, 1.0, atol=0.01)  # ⟨r(x|±1)⟩ = 1: the rate is η's


def test_acceptance_is_exact() -> None:
    sample = TheorySample(
        np.zeros((3, 1)), np.array([[1.1, 0.9], [1.2, 0.8], [1.0, 1.0]]), np.array([1.0, 2, 1])
    )
    up, down = theory_acceptance(sample)
    assert up == pytest.approx((1.1 + 2 * 1.2 + 1.0) / 4, rel=1e-15)
    assert down == pytest.approx((0.9 + 2 * 0.8 + 1.0) / 4, rel=1e-15)
    with pytest.raises(InputError, match="no weight"):
        theory_acceptance(replace(sample, weights=np.zeros(3)))


def test_trained_rates_are_the_exact_acceptance(trained: VariationRatio) -> None:
    up, down = theory_acceptance(_sample())
    assert (trained.rate_up, trained.rate_down) == (up, down)


def test_save_and_load_through_the_variation_ratio(trained: VariationRatio, tmp_path: Path) -> None:
    trained.save(tmp_path / "mu_f")
    loaded = VariationRatio.load(tmp_path / "mu_f")
    x = _sample(seed=9, n=50).x
    np.testing.assert_allclose(loaded.log_ratios(x), trained.log_ratios(x), rtol=1e-12)
    assert loaded.rate_up == trained.rate_up
    assert loaded.info["method"].startswith("regression")


def test_an_unresolvable_shape_keeps_only_eta() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(800, 2))
    factors = np.exp(0.05 * rng.normal(size=(800, 1)) * np.array([1.0, -1.0]))  # not x's
    config = replace(THEORY_TRAINING, hidden=(16,), epochs=40, batch_size=128, seed=1)
    ratio = train_theory_ratio("mu_f", ["a", "b"], TheorySample(x, factors, np.ones(800)), config)
    assert not ratio.info["learned"]
    np.testing.assert_array_equal(ratio.log_ratios(x[:5]), 0.0)
    assert ratio.rate_up == pytest.approx(factors[:, 0].mean(), rel=1e-12)


def test_refusals() -> None:
    assert theory_variations("mu_f") == ("mu_f_up", "mu_f_down")
    assert set(THEORY_NUISANCES) == {"mu_f", "mu_r", "mu_rf"}
    with pytest.raises(InputError, match="pdf"):
        theory_variations("pdf")
    ones = TheorySample(np.zeros((20, 1)), np.ones((20, 2)), np.ones(20))
    with pytest.raises(InputError, match="exactly 1"):
        train_theory_ratio("mu_r", ["a"], ones)
    with pytest.raises(InputError, match="features"):
        train_theory_ratio("mu_f", ["a"], _sample(n=20))
    with pytest.raises(InputError, match="at least 10"):
        train_theory_ratio("mu_f", ["a", "b"], _sample(n=5))
    with pytest.raises(InputError, match="factors"):
        TheorySample(np.zeros((2, 1)), np.array([[1.0, 0.0], [1.0, 1.0]]), np.ones(2))
    with pytest.raises(InputError, match="weights"):
        TheorySample(np.zeros((2, 1)), np.ones((2, 2)), np.array([1.0, -1.0]))
    with pytest.raises(InputError, match=r"\(N, d\)"):
        TheorySample(np.zeros(2), np.ones((2, 2)), np.ones(2))
