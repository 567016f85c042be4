"""The quadratic θ-polynomial φ(Δθ): feature order, core vs reference, derivative accessors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from madsbi.errors import InputError, ShapeError, WeightError
from madsbi.theory import polynomial as poly
from madsbi.theory.polynomial import (
    coefficient_labels,
    coefficients_from_derivatives,
    first_derivatives,
    joint_ratio,
    n_coefficients,
    polynomial_features,
    second_derivatives,
)


def hand_features(delta: np.ndarray) -> np.ndarray:
    """φ(Δθ) for one point, written out from docs/design.md independently of the package."""
    n = len(delta)
    out = [1.0, *delta, *(d * d for d in delta)]
    out += [delta[i] * delta[j] for i in range(n) for j in range(i + 1, n)]
    return np.array(out)


def random_coefficients(rng: np.random.Generator, n_events: int, n: int) -> np.ndarray:
    c = rng.normal(size=(n_events, n_coefficients(n)))
    c[:, 0] = rng.uniform(0.5, 2.0, n_events) * rng.choice([-1.0, 1.0], n_events)
    return c


def ratio(c: np.ndarray, theta: np.ndarray, theta0: np.ndarray) -> np.ndarray:
    """R(θ) = c·φ(θ − θ0)/c_0 with the hand-written features."""
    return c @ hand_features(theta - theta0) / c[:, 0]


# -- feature order ---------------------------------------------------------------------------


def test_feature_order_two_parameters(rng: np.random.Generator) -> None:
    theta0 = rng.normal(size=2)
    theta = rng.normal(size=2)
    d1, d2 = theta - theta0
    expected = [1.0, d1, d2, d1**2, d2**2, d1 * d2]
    for backend in ("core", "numpy"):
        phi = polynomial_features(theta, theta0, backend=backend)
        assert phi.shape == (1, 6)
        np.testing.assert_allclose(phi[0], expected, rtol=1e-15, atol=0)


def test_feature_order_three_parameters(rng: np.random.Generator) -> None:
    theta0 = rng.normal(size=3)
    theta = rng.normal(size=3)
    d1, d2, d3 = theta - theta0
    expected = [1.0, d1, d2, d3, d1**2, d2**2, d3**2, d1 * d2, d1 * d3, d2 * d3]
    for backend in ("core", "numpy"):
        phi = polynomial_features(theta[None, :], theta0, backend=backend)
        assert phi.shape == (1, 10)
        np.testing.assert_allclose(phi[0], expected, rtol=1e-15, atol=0)


def test_index_helpers_match_feature_order() -> None:
    n = 4
    labels = coefficient_labels(["a", "b", "c", "d"])
    names = "abcd"
    for i in range(n):
        assert labels[poly.linear_index(i)] == names[i]
        assert labels[poly.square_index(i, n)] == f"{names[i]}^2"
        assert poly.cross_index(i, i, n) == poly.square_index(i, n)
    for i, j in itertools.permutations(range(n), 2):
        a, b = min(i, j), max(i, j)
        assert labels[poly.cross_index(i, j, n)] == f"{names[a]}*{names[b]}"
    assert poly.cross_pairs(3) == [(0, 1), (0, 2), (1, 2)]


# -- K and labels ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(9))
def test_n_coefficients_formula(n: int) -> None:
    k = n_coefficients(n)
    assert k == 1 + n + n * (n + 1) // 2
    assert k == (n + 1) * (n + 2) // 2
    assert poly.n_parameters_from_coefficients(k) == n
    assert len(hand_features(np.zeros(n))) == k


def test_n_coefficients_rejects_negative() -> None:
    with pytest.raises(InputError, match="n_parameters"):
        n_coefficients(-1)


@pytest.mark.parametrize("k", [2, 4, 5, 7, 8, 9, 11])
def test_invalid_number_of_coefficients(k: int) -> None:
    with pytest.raises(InputError, match=f"{k} is not 1 \\+ n"):
        poly.n_parameters_from_coefficients(k)


def test_coefficient_labels() -> None:
    assert coefficient_labels([]) == ["1"]
    assert coefficient_labels(["cW"]) == ["1", "cW", "cW^2"]
    assert coefficient_labels(["cW", "cHWB", "cHDD"]) == [
        "1",
        "cW",
        "cHWB",
        "cHDD",
        "cW^2",
        "cHWB^2",
        "cHDD^2",
        "cW*cHWB",
        "cW*cHDD",
        "cHWB*cHDD",
    ]
    for n in range(6):
        assert len(coefficient_labels([f"p{i}" for i in range(n)])) == n_coefficients(n)


# -- C++ vs NumPy reference ------------------------------------------------------------------


@pytest.mark.parametrize("n", range(7))
def test_core_matches_reference(rng: np.random.Generator, n: int) -> None:
    g = int(rng.integers(1, 2000))
    thetas = rng.normal(scale=rng.uniform(0.1, 10.0), size=(g, n))
    theta0 = rng.normal(size=n)
    core = polynomial_features(thetas, theta0, backend="core")
    ref = polynomial_features(thetas, theta0, backend="numpy")
    assert core.shape == ref.shape == (g, n_coefficients(n))
    assert core.dtype == np.float64
    np.testing.assert_allclose(core, ref, rtol=1e-14, atol=0)
    # And both follow the order written out by hand.
    for row in rng.choice(g, size=min(g, 5), replace=False):
        np.testing.assert_allclose(ref[row], hand_features(thetas[row] - theta0), rtol=1e-15)


def test_core_accepts_integer_and_noncontiguous_input(rng: np.random.Generator) -> None:
    thetas = rng.integers(-5, 5, size=(40, 6))[:, ::2]  # non-contiguous int64 view
    theta0 = np.array([1, 0, -1])
    core = polynomial_features(thetas, theta0)
    ref = polynomial_features(thetas.astype(float), theta0.astype(float), backend="numpy")
    np.testing.assert_array_equal(core, ref)


def test_polynomial_features_bad_input() -> None:
    with pytest.raises(InputError, match="backend"):
        polynomial_features(np.zeros((2, 2)), np.zeros(2), backend="torch")
    with pytest.raises(ShapeError, match="thetas"):
        polynomial_features(np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ShapeError, match="theta0"):
        polynomial_features(np.zeros((2, 2)), np.zeros((1, 2)))
    with pytest.raises(InputError, match="thetas: non-finite"):
        polynomial_features(np.array([[0.0, np.nan]]), np.zeros(2))


# -- derivative accessors --------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_first_derivatives_are_finite_differences(rng: np.random.Generator, n: int) -> None:
    c = random_coefficients(rng, 50, n)
    theta0 = rng.normal(size=n)
    h = 1e-4
    grad = first_derivatives(c)
    assert grad.shape == (50, n)
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        fd = (ratio(c, theta0 + e, theta0) - ratio(c, theta0 - e, theta0)) / (2 * h)
        # R is quadratic: the central difference is exact up to rounding, ~ eps/h.
        np.testing.assert_allclose(grad[:, i], fd, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_second_derivatives_are_finite_differences(rng: np.random.Generator, n: int) -> None:
    c = random_coefficients(rng, 50, n)
    theta0 = rng.normal(size=n)
    h = 1e-3
    hess = second_derivatives(c)
    assert hess.shape == (50, n, n)
    np.testing.assert_array_equal(hess, np.swapaxes(hess, 1, 2))
    r0 = ratio(c, theta0, theta0)
    np.testing.assert_allclose(r0, 1.0, rtol=1e-15)
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        fd = (ratio(c, theta0 + e, theta0) - 2 * r0 + ratio(c, theta0 - e, theta0)) / h**2
        # Rounding error ~ eps/h² ~ 2e-10 times |R|.
        np.testing.assert_allclose(hess[:, i, i], fd, rtol=1e-6, atol=1e-6)
    for i, j in poly.cross_pairs(n):
        ei = np.zeros(n)
        ej = np.zeros(n)
        ei[i] = h
        ej[j] = h
        fd = (
            ratio(c, theta0 + ei + ej, theta0)
            - ratio(c, theta0 + ei - ej, theta0)
            - ratio(c, theta0 - ei + ej, theta0)
            + ratio(c, theta0 - ei - ej, theta0)
        ) / (4 * h**2)
        np.testing.assert_allclose(hess[:, i, j], fd, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(hess[:, j, i], fd, rtol=1e-6, atol=1e-6)


def test_second_derivative_diagonal_carries_taylor_factor() -> None:
    # R = 1 + 3 Δθ²: ∂²R/∂θ² = 6 = 2 c_11/c_0, not c_11/c_0.
    c = np.array([[2.0, 0.0, 6.0]])
    np.testing.assert_allclose(second_derivatives(c)[0], [[6.0]])
    np.testing.assert_allclose(first_derivatives(c)[0], [0.0])


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_coefficients_from_derivatives_inverts_accessors(rng: np.random.Generator, n: int) -> None:
    c = random_coefficients(rng, 30, n)
    back = coefficients_from_derivatives(c[:, 0], first_derivatives(c), second_derivatives(c))
    np.testing.assert_allclose(back, c, rtol=1e-14, atol=1e-15)
    # and the other way round: derivatives → coefficients → derivatives.
    c0 = rng.uniform(0.5, 2.0, 30)
    grad = rng.normal(size=(30, n))
    a = rng.normal(size=(30, n, n))
    hess = a + np.swapaxes(a, 1, 2)
    c2 = coefficients_from_derivatives(c0, grad, hess)
    np.testing.assert_allclose(c2[:, 0], c0, rtol=0)
    np.testing.assert_allclose(first_derivatives(c2), grad, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(second_derivatives(c2), hess, rtol=1e-14, atol=1e-15)


def test_coefficients_from_derivatives_shape_errors() -> None:
    with pytest.raises(ShapeError, match="first"):
        coefficients_from_derivatives(np.ones(3), np.ones((4, 2)), np.ones((3, 2, 2)))
    with pytest.raises(ShapeError, match="hessian"):
        coefficients_from_derivatives(np.ones(3), np.ones((3, 2)), np.ones((3, 3, 3)))


# -- joint ratio -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3])
def test_joint_ratio(rng: np.random.Generator, n: int) -> None:
    c = random_coefficients(rng, 40, n)
    theta0 = rng.normal(size=n)
    thetas = rng.normal(size=(7, n))
    r = joint_ratio(c, thetas, theta0)
    assert r.shape == (40, 7)
    expected = np.stack([ratio(c, t, theta0) for t in thetas], axis=1)
    np.testing.assert_allclose(r, expected, rtol=1e-12, atol=1e-13)
    # R(θ0|θ0) = 1, and a single point (n,) gives one column.
    np.testing.assert_allclose(joint_ratio(c, theta0, theta0), 1.0, rtol=1e-15)
    assert joint_ratio(c, thetas[0], theta0).shape == (40, 1)


def test_joint_ratio_wrong_number_of_coefficients(rng: np.random.Generator) -> None:
    c = random_coefficients(rng, 5, 2)
    with pytest.raises(InputError, match="expected K = 10 columns"):
        joint_ratio(c, np.zeros((1, 3)), np.zeros(3))


def test_zero_reference_weight(rng: np.random.Generator) -> None:
    c = random_coefficients(rng, 6, 2)
    c[[2, 4], 0] = 0.0
    for call in (
        lambda: joint_ratio(c, np.zeros(2), np.zeros(2)),
        lambda: first_derivatives(c),
        lambda: second_derivatives(c),
    ):
        with pytest.raises(WeightError, match="c_0 is zero for 2 events \\(first at event 2\\)"):
            call()
    assert issubclass(WeightError, ValueError)
