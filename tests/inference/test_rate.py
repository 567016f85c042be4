"""σ(θ) by multiple importance weighting, on a one-parameter model whose σ(θ) is known.

dσ(z|θ)/dz = 1 + 2θz + 3θ²z² on z ∈ [0, 1], i.e. c(z) = (1, 2z, 3z²) with φ(θ) = (1, θ, θ²),
so σ(θ) = 1 + θ + θ². Samples are drawn exactly (rejection sampling) at several θ_gen.
"""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.errors import WeightError
from madsbi.inference.likelihood import RateModel, exact_event_coefficients
from madsbi.inference.rate import GeneratedSample, cross_section, mis_weights
from madsbi.theory.polynomial import polynomial_features

THETA0 = np.array([0.0])


def _sigma(theta: float) -> float:
    return 1.0 + theta + theta**2


def _coefficients(z: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(z), 2 * z, 3 * z**2], axis=1)


def _sample(theta: float, n: int, rng: np.random.Generator, channel: str = "") -> GeneratedSample:
    phi = polynomial_features([[theta]], THETA0)[0]
    grid = np.linspace(0, 1, 1001)
    ceiling = 1.05 * float((_coefficients(grid) @ phi).max())
    kept: list[np.ndarray] = []
    while sum(k.shape[0] for k in kept) < n:
        z = rng.uniform(0, 1, 4 * n)
        u = rng.uniform(0, ceiling, 4 * n)
        kept.append(z[u < _coefficients(z) @ phi])
    z = np.concatenate(kept)[:n]
    # MadGraph's "average" convention: every unweighted event carries σ(θ_gen).
    return GeneratedSample(
        _coefficients(z), np.full(n, _sigma(theta)), np.array([theta]), _sigma(theta), channel
    )


def test_single_sample_at_theta0_is_eq_34() -> None:
    rng = np.random.default_rng(1)
    sm = _sample(0.0, 3000, rng)
    (v,) = mis_weights([sm], THETA0)
    np.testing.assert_allclose(v, _sigma(0.0) / 3000, rtol=1e-12)
    thetas = np.linspace(-3, 3, 13)[:, None]
    estimate = cross_section([sm], THETA0, thetas)
    eq34 = RateModel.from_event_coefficients(exact_event_coefficients(sm.coefficients)).ratio(
        polynomial_features(thetas, THETA0)
    )[0]
    np.testing.assert_allclose(estimate.ratio, eq34, rtol=1e-12)
    np.testing.assert_allclose(estimate.sigma, _sigma(0.0) * eq34, rtol=1e-12)


def test_pooled_samples_agree_with_the_known_cross_section() -> None:
    rng = np.random.default_rng(2)
    samples = [_sample(t, 2000, rng) for t in (0.0, -1.0, 1.0, 3.0)]
    thetas = np.linspace(-4, 4, 17)[:, None]
    estimate = cross_section(samples, THETA0, thetas)
    truth = np.array([_sigma(t) for t in thetas[:, 0]])
    pulls = (estimate.sigma - truth) / estimate.sigma_error
    assert np.all(np.abs(pulls) < 4.0), pulls
    assert np.all(estimate.sigma_error / truth < 0.02)


def test_error_is_calibrated_and_smaller_than_sm_only() -> None:
    theta = np.array([[3.0]])
    pulls, mis_errors, sm_errors = [], [], []
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        pooled = [_sample(0.0, 400, rng), _sample(3.0, 400, rng)]
        estimate = cross_section(pooled, THETA0, theta)
        pulls.append((estimate.sigma[0] - _sigma(3.0)) / estimate.sigma_error[0])
        mis_errors.append(estimate.sigma_error[0])
        sm_errors.append(cross_section([_sample(0.0, 800, rng)], THETA0, theta).sigma_error[0])
    rms = float(np.sqrt(np.mean(np.square(pulls))))
    assert 0.6 < rms < 1.5, rms
    assert np.median(mis_errors) < 0.7 * np.median(sm_errors)


def test_ratio_error_and_theta0_value() -> None:
    rng = np.random.default_rng(3)
    samples = [_sample(0.0, 1500, rng), _sample(2.0, 1500, rng)]
    estimate = cross_section(samples, THETA0, np.array([[0.0], [2.0]]))
    assert estimate.ratio[0] == pytest.approx(1.0, abs=1e-12)
    assert estimate.ratio_error[0] == pytest.approx(0.0, abs=1e-12)
    pull = (estimate.ratio[1] - _sigma(2.0) / _sigma(0.0)) / estimate.ratio_error[1]
    assert abs(pull) < 4.0


def test_channels_add() -> None:
    rng = np.random.default_rng(4)
    a = _sample(0.0, 1000, rng, "w+ z")
    b = _sample(1.0, 1000, rng, "w- z")
    thetas = np.array([[-1.0], [0.5], [2.0]])
    both = cross_section([a, b], THETA0, thetas)
    alone = cross_section([a], THETA0, thetas).sigma + cross_section([b], THETA0, thetas).sigma
    np.testing.assert_allclose(both.sigma, alone, rtol=1e-12)


def test_bad_weights_are_refused() -> None:
    z = np.linspace(0.1, 0.9, 5)
    with pytest.raises(WeightError, match="channel 'x'"):
        GeneratedSample(_coefficients(z), np.array([1, 1, np.nan, 1, 1.0]), np.zeros(1), 1.0, "x")
    with pytest.raises(WeightError, match="sigma_gen"):
        GeneratedSample(_coefficients(z), np.ones(5), np.zeros(1), 0.0, "x")


def _fiducial_sigma(theta: float, cut: float) -> float:
    """∫_cut^1 (1 + 2θz + 3θ²z²) dz."""
    return (1 - cut) + theta * (1 - cut**2) + theta**2 * (1 - cut**3)


def _selected(sample: GeneratedSample, cut: float) -> GeneratedSample:
    """The events with z > cut (z = c_1 / 2), keeping the generated size and total weight."""
    keep = sample.coefficients[:, 1] / 2 > cut
    return GeneratedSample(
        sample.coefficients[keep],
        sample.weights[keep],
        sample.theta_gen,
        sample.sigma_gen,
        sample.channel,
        n_generated=sample.size,
        weight_total=sample.total_weight,
    )


def test_selected_events_give_the_fiducial_cross_section() -> None:
    """Passed entries of a selection (a reco store's) with n_generated and weight_total."""
    cut = 0.6
    thetas = np.linspace(-3, 3, 13)[:, None]
    full_rng, sub_rng = np.random.default_rng(7), np.random.default_rng(7)
    full = [_sample(t, 2000, full_rng) for t in (0.0, 2.0)]
    subset = [_selected(s, cut) for s in (_sample(t, 2000, sub_rng) for t in (0.0, 2.0))]
    # Same events: the selected sample's weights are the full sample's for the kept events.
    v_full, v_sub = mis_weights(full, THETA0), mis_weights(subset, THETA0)
    for k in range(2):
        keep = full[k].coefficients[:, 1] / 2 > cut
        np.testing.assert_allclose(v_sub[k], v_full[k][keep], rtol=1e-12)
    estimate = cross_section(subset, THETA0, thetas)
    truth = np.array([_fiducial_sigma(t, cut) for t in thetas[:, 0]])
    pulls = (estimate.sigma - truth) / estimate.sigma_error
    assert np.all(np.abs(pulls) < 4.0), pulls
    # The error counts the removed events as zeros: it is not the full sample's.
    assert np.all(estimate.sigma_error > 0)
    assert estimate.ratio[6] == pytest.approx(1.0, abs=1e-12)  # θ = θ0


def test_selected_sizes_are_checked() -> None:
    rng = np.random.default_rng(8)
    s = _sample(0.0, 100, rng)
    with pytest.raises(Exception, match="n_generated"):
        GeneratedSample(s.coefficients, s.weights, s.theta_gen, s.sigma_gen, n_generated=10)
    with pytest.raises(WeightError, match="weight_total"):
        GeneratedSample(s.coefficients, s.weights, s.theta_gen, s.sigma_gen, weight_total=1e-3)
