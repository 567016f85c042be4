"""Morphing: weights a(θ) reproduce the quadratic, core = reference, bad bases are refused."""

from __future__ import annotations

import re

import numpy as np
import pytest

import madsbi
from madsbi.errors import (
    BackendError,
    DtypeError,
    IllConditionedBasisError,
    InputError,
    PrecisionWarning,
    ShapeError,
)
from madsbi.theory.morphing import (
    DEFAULT_MAX_CONDITION,
    WARN_CONDITION,
    MorphingBasis,
    condition_number,
    morphing_matrix,
)
from madsbi.theory.polynomial import n_coefficients


def hand_features(delta: np.ndarray) -> np.ndarray:
    """φ(Δθ) for (G, n) points, written out from docs/design.md."""
    n = delta.shape[1]
    cols = [np.ones(len(delta)), *delta.T, *(delta.T**2)]
    cols += [delta[:, i] * delta[:, j] for i in range(n) for j in range(i + 1, n)]
    return np.stack(cols, axis=1)


def random_basis(
    rng: np.random.Generator, n: int, max_cond: float = 1e4
) -> tuple[np.ndarray, np.ndarray]:
    """Random K points around a random θ0, redrawn until cond(W) <= max_cond."""
    k = n_coefficients(n)
    theta0 = rng.normal(size=n)
    for _ in range(1000):
        points = theta0 + rng.uniform(-2.0, 2.0, size=(k, n))
        if np.linalg.cond(hand_features(points - theta0)) <= max_cond:
            return points, theta0
    raise AssertionError("no well-conditioned random basis found")  # pragma: no cover


def degenerate_points(n: int, eps: float, rng: np.random.Generator) -> np.ndarray:
    """A well-posed basis whose last point is moved to within ``eps`` of another point."""
    points, theta0 = random_basis(rng, n)
    points[-1] = points[-2] + eps * np.linspace(1.0, 0.5, n)
    return points - theta0  # around θ0 = 0


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_morphing_reproduces_quadratic(rng: np.random.Generator, n: int) -> None:
    for _ in range(5):
        points, theta0 = random_basis(rng, n)
        basis = MorphingBasis.from_points(points, theta0)
        n_events = 20
        c = rng.normal(size=(n_events, n_coefficients(n)))
        w = c @ hand_features(points - theta0).T  # w_eb = c_e·φ(θ_b − θ0)
        thetas = theta0 + rng.uniform(-3.0, 3.0, size=(50, n))
        phi = hand_features(thetas - theta0)
        exact = c @ phi.T  # (N, G)
        scale = np.abs(c) @ np.abs(phi).T  # guards against cancellations in c·φ
        for backend in ("core", "numpy", "auto"):
            a, sigma = basis.weights(thetas, backend=backend)
            assert a.shape == (50, basis.n_points)
            assert sigma is None
            morphed = w @ a.T
            rel = np.abs(morphed - exact) / scale
            assert rel.max() < 1e-10, (backend, rel.max())
        # Where the quadratic is not small, the agreement is 1e-10 relative to the value itself.
        big = np.abs(exact) > 0.1 * scale
        a, _ = basis.weights(thetas)
        np.testing.assert_allclose((w @ a.T)[big], exact[big], rtol=1e-10)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])  # 1–6: fixed-size kernels; 7: generic
def test_core_matches_reference(rng: np.random.Generator, n: int) -> None:
    points, theta0 = random_basis(rng, n, max_cond=1e5)
    basis = MorphingBasis.from_points(points, theta0)
    thetas = theta0 + rng.normal(scale=2.0, size=(int(rng.integers(1, 5000)), n))
    sigma_basis = rng.uniform(0.5, 5.0, basis.n_points)
    a_core, s_core = basis.weights(thetas, sigma_basis, backend="core")
    a_ref, s_ref = basis.weights(thetas, sigma_basis, backend="numpy")
    assert a_core.dtype == np.float64
    assert s_core is not None
    assert s_ref is not None
    scale = np.abs(hand_features(thetas - theta0)) @ np.abs(basis.inverse)
    assert np.max(np.abs(a_core - a_ref) / scale) < 1e-12
    s_scale = scale @ sigma_basis
    assert np.max(np.abs(s_core - s_ref) / s_scale) < 1e-12
    # threads do not change the result
    a_one, _ = basis.weights(thetas, backend="core", n_threads=1)
    a_two, _ = basis.weights(thetas, backend="core", n_threads=2)
    np.testing.assert_array_equal(a_one, a_two)


@pytest.mark.gpu
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_cuda_matches_reference(rng: np.random.Generator, n: int) -> None:
    assert madsbi.has_cuda()
    points, theta0 = random_basis(rng, n)
    basis = MorphingBasis.from_points(points, theta0)
    thetas = theta0 + rng.normal(scale=2.0, size=(4096, n))
    sigma_basis = rng.uniform(0.5, 5.0, basis.n_points)
    a_gpu, s_gpu = basis.weights(thetas, sigma_basis, backend="cuda")
    a_ref, s_ref = basis.weights(thetas, sigma_basis, backend="numpy")
    np.testing.assert_allclose(a_gpu, a_ref, rtol=1e-12, atol=1e-12 * np.abs(a_ref).max())
    np.testing.assert_allclose(s_gpu, s_ref, rtol=1e-12, atol=1e-12 * np.abs(s_ref).max())


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_weights_sum_to_one(rng: np.random.Generator, n: int) -> None:
    # φ_0 = 1 makes W's first column all ones, so W⁻¹·1 = e_0 and Σ_b a_b(θ) = φ_0 = 1.
    points, theta0 = random_basis(rng, n)
    basis = MorphingBasis.from_points(points, theta0)
    a, _ = basis.weights(theta0 + rng.uniform(-3, 3, size=(200, n)))
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=0, atol=1e-10 * np.abs(a).sum(axis=1).max())


@pytest.mark.parametrize("n", [1, 2, 3])
def test_sigma_from_sigma_basis(rng: np.random.Generator, n: int) -> None:
    points, theta0 = random_basis(rng, n)
    basis = MorphingBasis.from_points(points, theta0)
    c = rng.normal(size=(100, n_coefficients(n)))
    w = c @ basis.matrix.T
    sigma_basis = w.sum(axis=0)  # σ(θ_b) = Σ_e w_eb
    thetas = theta0 + rng.uniform(-2, 2, size=(30, n))
    exact = (c @ hand_features(thetas - theta0).T).sum(axis=0)
    scale = (np.abs(c) @ np.abs(hand_features(thetas - theta0)).T).sum(axis=0)
    for backend in ("core", "numpy"):
        a, sigma = basis.weights(thetas, sigma_basis, backend=backend)
        assert sigma is not None
        assert sigma.shape == (30,)
        np.testing.assert_allclose(sigma, a @ sigma_basis, rtol=1e-13, atol=1e-13 * scale.max())
        assert np.max(np.abs(sigma - exact) / scale) < 1e-10
    # σ at a basis point is that point's cross-section: a(θ_b) is the unit vector e_b.
    a_b, sigma_b = basis.weights(points, sigma_basis)
    np.testing.assert_allclose(a_b, np.eye(basis.n_points), atol=1e-10)
    assert sigma_b is not None
    np.testing.assert_allclose(sigma_b, sigma_basis, rtol=1e-10)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_coefficients_inverts_w(rng: np.random.Generator, n: int) -> None:
    points, theta0 = random_basis(rng, n)
    basis = MorphingBasis.from_points(points, theta0)
    np.testing.assert_allclose(basis.matrix, hand_features(points - theta0), rtol=1e-15)
    np.testing.assert_allclose(basis.matrix @ basis.inverse, np.eye(basis.n_points), atol=1e-10)
    np.testing.assert_allclose(morphing_matrix(points, theta0), basis.matrix, rtol=0)
    c = rng.normal(size=(25, n_coefficients(n)))
    w = c @ basis.matrix.T
    got = basis.coefficients(w)
    np.testing.assert_allclose(got, c, rtol=1e-10, atol=1e-10 * np.abs(c).max())
    assert basis.n_parameters == n
    assert basis.n_points == n_coefficients(n)
    assert basis.condition_number == pytest.approx(np.linalg.cond(basis.matrix), rel=1e-8)
    assert not basis.inverse.flags.writeable
    assert not basis.points.flags.writeable


def test_single_theta_point(rng: np.random.Generator) -> None:
    points, theta0 = random_basis(rng, 2)
    basis = MorphingBasis.from_points(points, theta0)
    a1, _ = basis.weights(points[3])
    assert a1.shape == (1, 6)
    np.testing.assert_allclose(a1[0], np.eye(6)[3], atol=1e-10)


# -- ill-conditioned bases -------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3])
def test_singular_basis_duplicated_point(rng: np.random.Generator, n: int) -> None:
    points, theta0 = random_basis(rng, n)
    points[-1] = points[0]
    with pytest.raises(IllConditionedBasisError, match="cond") as info:
        MorphingBasis.from_points(points, theta0)
    assert isinstance(info.value, InputError)
    # W has two equal rows: it is exactly singular.
    assert info.value.condition_number == np.inf


def test_condition_number_of_exact_zero_singular_value() -> None:
    assert condition_number(np.zeros((3, 3))) == np.inf
    assert condition_number(np.diag([2.0, 1.0, 0.5])) == pytest.approx(4.0)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_nearly_degenerate_basis_reports_condition(rng: np.random.Generator, n: int) -> None:
    points = degenerate_points(n, 1e-10, rng)
    theta0 = np.zeros(n)
    cond = np.linalg.cond(hand_features(points))
    assert DEFAULT_MAX_CONDITION < cond < 1e16
    with pytest.raises(IllConditionedBasisError, match=r"cond\(W\) = ") as info:
        MorphingBasis.from_points(points, theta0)
    reported = info.value.condition_number
    assert np.isfinite(reported)
    assert reported == pytest.approx(cond, rel=1e-3)
    assert f"{reported:.3g}" in str(info.value)
    assert f"{DEFAULT_MAX_CONDITION:.3g}" in str(info.value)


def test_custom_max_condition(rng: np.random.Generator) -> None:
    points, theta0 = random_basis(rng, 2)
    cond = np.linalg.cond(hand_features(points - theta0))
    with pytest.raises(IllConditionedBasisError, match=re.escape(f"{cond / 2:.3g}")) as info:
        MorphingBasis.from_points(points, theta0, max_condition=cond / 2)
    assert info.value.condition_number == pytest.approx(cond, rel=1e-8)
    assert MorphingBasis.from_points(points, theta0, max_condition=cond * 2).condition_number > 0


@pytest.mark.parametrize("n", [1, 2])
def test_precision_warning_between_warn_and_max(rng: np.random.Generator, n: int) -> None:
    for eps in np.geomspace(1e-2, 1e-8, 25):
        points = degenerate_points(n, float(eps), rng)
        cond = np.linalg.cond(hand_features(points))
        if 10 * WARN_CONDITION < cond < DEFAULT_MAX_CONDITION / 10:
            break
    else:  # pragma: no cover
        pytest.fail("no basis with a condition number in the warning band")
    with pytest.warns(PrecisionWarning, match=r"cond\(W\) = .* lose about \d+ digits"):
        basis = MorphingBasis.from_points(points, np.zeros(n))
    assert WARN_CONDITION < basis.condition_number < DEFAULT_MAX_CONDITION
    assert basis.condition_number == pytest.approx(cond, rel=1e-4)


# -- bad input -------------------------------------------------------------------------------


def test_wrong_shapes_name_the_argument(rng: np.random.Generator) -> None:
    points, theta0 = random_basis(rng, 2)
    with pytest.raises(ShapeError, match=r"basis_points: expected shape \(6, 2\), got \(5, 2\)"):
        MorphingBasis.from_points(points[:5], theta0)
    with pytest.raises(ShapeError, match="basis_points"):
        MorphingBasis.from_points(points[:, :1], theta0)
    with pytest.raises(ShapeError, match="theta0"):
        MorphingBasis.from_points(points, theta0[None, :])
    with pytest.raises(ShapeError, match="basis_points"):
        morphing_matrix(points.ravel(), theta0)
    basis = MorphingBasis.from_points(points, theta0)
    with pytest.raises(ShapeError, match=r"thetas: expected shape \(\*, 2\), got \(4, 3\)"):
        basis.weights(np.zeros((4, 3)))
    with pytest.raises(ShapeError, match="thetas"):
        basis.weights(np.zeros(3))
    with pytest.raises(ShapeError, match=r"sigma_basis: expected shape \(6,\), got \(5,\)"):
        basis.weights(np.zeros((4, 2)), np.ones(5))
    with pytest.raises(ShapeError, match="basis_weights"):
        basis.coefficients(np.ones((3, 5)))
    with pytest.raises(ShapeError, match="ranges"):
        basis.expected_squared_weight(np.ones((3, 2)))


def test_bad_dtypes(rng: np.random.Generator) -> None:
    points, theta0 = random_basis(rng, 1)
    with pytest.raises(DtypeError, match="basis_points: expected a real-valued array"):
        MorphingBasis.from_points(points.astype(complex), theta0)
    with pytest.raises(DtypeError, match="theta0"):
        MorphingBasis.from_points(points, np.array(["0"]))
    basis = MorphingBasis.from_points(points, theta0)
    with pytest.raises(DtypeError, match="thetas"):
        basis.weights(np.array([["a"], ["b"]]))
    with pytest.raises(DtypeError, match="thetas"):
        basis.weights(np.array([[1 + 1j]]))
    with pytest.raises(DtypeError, match="sigma_basis"):
        basis.weights(np.zeros((1, 1)), np.array(["1", "2", "3"]))
    assert issubclass(DtypeError, TypeError)


def test_non_finite_input(rng: np.random.Generator) -> None:
    points, theta0 = random_basis(rng, 2)
    basis = MorphingBasis.from_points(points, theta0)
    thetas = rng.normal(size=(5, 2))
    thetas[3, 1] = np.nan
    for backend in ("core", "numpy"):
        with pytest.raises(InputError, match=r"thetas: non-finite value nan"):
            basis.weights(thetas, backend=backend)
    bad_points = points.copy()
    bad_points[0, 0] = np.inf
    with pytest.raises(InputError, match="basis_points: non-finite"):
        MorphingBasis.from_points(bad_points, theta0)
    with pytest.raises(InputError, match="sigma_basis: non-finite"):
        basis.weights(thetas[:2], np.full(6, np.nan))


@pytest.mark.parametrize("backend", ["core", "numpy"])
def test_non_finite_message_prints_a_plain_index(rng: np.random.Generator, backend: str) -> None:
    # The location is for people: "(3, 1)" or "point 3, component 1", not NumPy 2's
    # "(np.int64(3), np.int64(1))".
    points, theta0 = random_basis(rng, 2)
    basis = MorphingBasis.from_points(points, theta0)
    thetas = np.zeros((5, 2))
    thetas[3, 1] = np.nan
    with pytest.raises(InputError, match=r"thetas: non-finite value nan at .*3.*1") as info:
        basis.weights(thetas, backend=backend)
    assert "np.int64" not in str(info.value)


def test_unknown_backend(rng: np.random.Generator) -> None:
    points, theta0 = random_basis(rng, 1)
    basis = MorphingBasis.from_points(points, theta0)
    with pytest.raises(InputError, match=r"backend: expected .* got 'gpu'"):
        basis.weights(np.zeros((1, 1)), backend="gpu")


def test_cuda_backend_without_cuda_build(rng: np.random.Generator) -> None:
    points, theta0 = random_basis(rng, 1)
    basis = MorphingBasis.from_points(points, theta0)
    if madsbi.has_cuda():
        a, _ = basis.weights(np.zeros((1, 1)), backend="cuda")
        assert a.shape == (1, 3)
    else:
        with pytest.raises(
            BackendError, match=r"backend='cuda': .*(MADSBI_CUDA=ON|no CUDA device)"
        ):
            basis.weights(np.zeros((1, 1)), backend="cuda")
