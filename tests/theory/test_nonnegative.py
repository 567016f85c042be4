"""Projection of per-event quadratics onto R(θ) ≥ 0 (madsbi.theory.polynomial)."""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.inference.likelihood import NonNegativeRatio, RateModel
from madsbi.theory.morphing import MorphingBasis
from madsbi.theory.polynomial import (
    coefficients_from_quadratic_form,
    n_coefficients,
    polynomial_features,
    project_nonnegative,
    quadratic_form,
)


def _psd(rng: np.random.Generator, n_events: int, n: int) -> np.ndarray:
    a = rng.normal(size=(n_events, n + 1, n + 1))
    return np.einsum("eij,ekj->eik", a, a) + 0.05 * np.eye(n + 1)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_quadratic_form_round_trip_and_value(rng: np.random.Generator, n: int) -> None:
    c = rng.normal(size=(50, n_coefficients(n)))
    assert np.allclose(coefficients_from_quadratic_form(quadratic_form(c)), c, atol=0)
    theta = rng.normal(size=(7, n))
    v = np.concatenate([np.ones((7, 1)), theta], axis=1)
    direct = c @ polynomial_features(theta, np.zeros(n)).T
    via_form = np.einsum("gi,eij,gj->eg", v, quadratic_form(c), v)
    assert np.allclose(direct, via_form, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_projection_is_positive_and_moves_towards_psd_truth(
    rng: np.random.Generator, n: int
) -> None:
    truth = coefficients_from_quadratic_form(_psd(rng, 400, n))
    noisy = truth + rng.normal(scale=1.5, size=truth.shape)
    projected = project_nonnegative(noisy)
    thetas = rng.normal(scale=5.0, size=(2000, n))
    phi = polynomial_features(thetas, np.zeros(n))
    assert (noisy @ phi.T).min() < 0  # the test input does leave the cone
    assert (projected @ phi.T).min() > 0
    # Projection onto a convex set containing the truth never increases the distance to it.
    before = np.linalg.norm(quadratic_form(noisy) - quadratic_form(truth), axis=(1, 2))
    after = np.linalg.norm(quadratic_form(projected) - quadratic_form(truth), axis=(1, 2))
    assert np.all(after <= before + 1e-9)


def test_positive_definite_input_is_unchanged(rng: np.random.Generator) -> None:
    c = coefficients_from_quadratic_form(_psd(rng, 200, 2))
    assert np.array_equal(project_nonnegative(c), c)


def test_nonnegative_ratio_matches_morphing_form_when_already_positive(
    rng: np.random.Generator,
) -> None:
    basis = MorphingBasis.from_points([[-1.0], [0.0], [1.0]], [0.0])
    truth = coefficients_from_quadratic_form(_psd(rng, 100, 1))
    truth /= truth[:, :1]
    basis_values = truth @ basis.matrix.T  # C_eb = R(x_e|θ_b)

    class Fixed:
        def __init__(self) -> None:
            self.basis = basis

        def event_coefficients(self, x: np.ndarray) -> np.ndarray:
            return basis_values[None]

        def grid_features(self, thetas: np.ndarray) -> np.ndarray:
            return basis.weights(thetas)[0]

    model = Fixed()
    wrapped = NonNegativeRatio.wrap(model)
    grid = np.linspace(-2, 2, 9)[:, None]
    raw = model.event_coefficients(None) @ model.grid_features(grid).T
    projected = wrapped.event_coefficients(None) @ wrapped.grid_features(grid).T
    assert np.allclose(raw, projected, rtol=1e-10)
    sigma = np.array([2.0, 1.0, 2.0])
    rate = wrapped.rate(RateModel.build(sigma))
    assert np.allclose(rate.ratio(wrapped.grid_features(grid)), 1 + grid[:, 0] ** 2)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_keep_reference_projection_keeps_value_and_slope_at_theta0(
    rng: np.random.Generator, n: int
) -> None:
    k = n_coefficients(n)
    c = rng.normal(size=(400, k))
    c[:, 0] = rng.uniform(0.2, 2.0, 400)
    projected = project_nonnegative(c, keep_reference=True)
    np.testing.assert_array_equal(projected[:, : n + 1], c[:, : n + 1])
    # Non-negative at every θ: all eigenvalues of every event's form ≥ 0 (up to rounding).
    values = np.linalg.eigvalsh(quadratic_form(projected))
    assert values.min() >= -1e-12 * np.abs(values).max()
    # R(θ) on random points is non-negative too, and already-PSD events are left alone.
    theta = rng.normal(scale=3.0, size=(200, n))
    assert (projected @ polynomial_features(theta, np.zeros(n)).T).min() > -1e-9
    good = coefficients_from_quadratic_form(_psd(rng, 30, n))
    np.testing.assert_array_equal(project_nonnegative(good, keep_reference=True), good)


def test_keep_reference_projection_is_the_nearest_schur_complement(
    rng: np.random.Generator,
) -> None:
    """One parameter: S = c2 − c1²/(4 c0) < 0 is raised to the floor and nothing else moves."""
    c = np.array([[1.0, 2.0, 0.5]])  # S = 0.5 − 1 = −0.5
    projected = project_nonnegative(c, floor=1e-6, keep_reference=True)
    s = projected[0, 2] - projected[0, 1] ** 2 / (4 * projected[0, 0])
    assert s == pytest.approx(1e-6 * 0.5, rel=1e-9)  # floor × the largest |eigenvalue| here
    assert projected[0, 0] == 1.0
    assert projected[0, 1] == 2.0


def test_keep_reference_falls_back_to_the_full_projection_for_c0_not_positive() -> None:
    c = np.array([[-1.0, 0.3, 2.0], [0.0, 1.0, 1.0]])
    np.testing.assert_allclose(
        project_nonnegative(c, keep_reference=True), project_nonnegative(c), rtol=1e-12
    )


def test_nonnegative_ratio_keep_reference_keeps_value_and_slope(rng: np.random.Generator) -> None:
    class Raw:
        theta0 = np.zeros(2)
        log1p = True

        def __init__(self, c: np.ndarray) -> None:
            self.c = c

        def event_coefficients(self, x: object) -> np.ndarray:
            return self.c

    c = rng.normal(size=(3, 40, 6))
    c[..., 0] = 1.0
    kept = NonNegativeRatio.wrap(Raw(c), keep_reference=True).event_coefficients(None)
    full = NonNegativeRatio.wrap(Raw(c)).event_coefficients(None)
    np.testing.assert_array_equal(kept[..., :3], c[..., :3])
    assert not np.array_equal(full[..., :3], c[..., :3])
    theta = rng.normal(scale=2.0, size=(50, 2))
    phi = polynomial_features(theta, np.zeros(2))
    assert (kept @ phi.T).min() > -1e-9
