"""The quadratic θ-polynomial φ(Δθ) and the Taylor-factor-correct derivative accessors.

Order of the K = 1 + n + n(n+1)/2 features (docs/design.md)::

    φ(Δθ) = (1, Δθ_1 … Δθ_n, Δθ_1² … Δθ_n², Δθ_1Δθ_2, Δθ_1Δθ_3, …, Δθ_{n−1}Δθ_n)

Per-event coefficients c satisfy dσ(z|θ) ∝ c·φ(θ − θ0). Derivatives of the joint ratio
R = c·φ/c_0 at θ0 are ∂_i R = c_i/c_0, ∂_i² R = 2 c_ii/c_0 and ∂_i∂_j R = c_ij/c_0 (i ≠ j):
the factor 2 on the diagonal is why derivatives are only exposed through these accessors
(paper eq. 27 writes R = 1 + Δθ_i R_i + Δθ_i Δθ_j R_ij with a sum over all i, j).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from madsbi._backend import CPU_KERNELS, call_core, resolve_backend
from madsbi._validate import FloatArray, as_float_array, as_thetas
from madsbi.errors import InputError, WeightError


def n_coefficients(n_parameters: int) -> int:
    """K = 1 + n + n(n+1)/2, the number of quadratic-polynomial coefficients."""
    if n_parameters < 0:
        raise InputError(f"n_parameters: expected >= 0, got {n_parameters}")
    return 1 + n_parameters + n_parameters * (n_parameters + 1) // 2


def n_parameters_from_coefficients(n_coeff: int) -> int:
    """Inverse of :func:`n_coefficients`; raises InputError if ``n_coeff`` is not a valid K."""
    n = 0
    while n_coefficients(n) < n_coeff:
        n += 1
    if n_coefficients(n) != n_coeff:
        raise InputError(f"{n_coeff} is not 1 + n + n(n+1)/2 for any number of parameters n")
    return n


def cross_pairs(n_parameters: int) -> list[tuple[int, int]]:
    """The (i, j), i < j, of the mixed terms in feature order."""
    return [(i, j) for i in range(n_parameters) for j in range(i + 1, n_parameters)]


def linear_index(i: int) -> int:
    """Feature index of Δθ_i."""
    return 1 + i


def square_index(i: int, n_parameters: int) -> int:
    """Feature index of Δθ_i²."""
    return 1 + n_parameters + i


def cross_index(i: int, j: int, n_parameters: int) -> int:
    """Feature index of Δθ_i Δθ_j for i ≠ j."""
    if i == j:
        return square_index(i, n_parameters)
    a, b = min(i, j), max(i, j)
    return 1 + 2 * n_parameters + cross_pairs(n_parameters).index((a, b))


def coefficient_labels(names: Sequence[str]) -> list[str]:
    """Human-readable labels of the K features, e.g. ``['1', 'cW', 'cW^2', 'cW*cHWB']``."""
    n = len(names)
    labels = ["1", *names, *(f"{name}^2" for name in names)]
    labels += [f"{names[i]}*{names[j]}" for i, j in cross_pairs(n)]
    return labels


def polynomial_features(
    thetas: Any, theta0: Any, *, backend: str = "auto", n_threads: int = 0
) -> FloatArray:
    """φ(θ − θ0) for G points.

    Parameters
    ----------
    thetas : array_like, shape (G, n) or (n,)
        The θ points.
    theta0 : array_like, shape (n,)
        Reference point.
    backend : {"auto", "core", "numpy"}
        The compiled kernel ("auto": there is no GPU kernel) or the NumPy reference
        (``madsbi._backend.resolve_backend``).

    Returns
    -------
    ndarray, shape (G, K)
    """
    backend = resolve_backend(backend, CPU_KERNELS)
    theta0_arr = as_float_array(theta0, "theta0", (None,))
    # The core checks finiteness in its own pass over θ.
    points = as_thetas(thetas, theta0_arr.shape[0], finite=backend == "numpy")
    if backend == "numpy":
        return polynomial_features_reference(points, theta0_arr)
    result: FloatArray = call_core("polynomial_features", points, theta0_arr, n_threads)
    return result


def polynomial_features_reference(thetas: FloatArray, theta0: FloatArray) -> FloatArray:
    """NumPy reference of :func:`polynomial_features` for (G, n) float64 inputs.

    The features are built as contiguous rows of a (K, G) array (fast in NumPy) and returned
    as its (G, K) transpose view.
    """
    delta = (thetas - theta0[None, :]).T
    n = delta.shape[0]
    rows = [np.ones(delta.shape[1]), *delta, *(delta**2)]
    rows += [delta[i] * delta[j] for i, j in cross_pairs(n)]
    return np.stack(rows, axis=0).T


def recentring_matrix(theta_from: Any, theta_to: Any) -> FloatArray:
    """The K×K map T with c·φ(θ − θ_from) = (T c)·φ(θ − θ_to) for every θ.

    With d = θ_to − θ_from and Δ = θ − θ_to, expanding c·φ(Δ + d) in Δ gives

    * constant: c·φ(d), the polynomial's value at θ_to;
    * Δ_i: c_i + 2 c_ii d_i + Σ_{j≠i} c_ij d_j, its gradient at θ_to;
    * quadratic terms: unchanged.

    Parameters
    ----------
    theta_from, theta_to : array_like, shape (n,)
        The old and the new reference point.

    Returns
    -------
    ndarray, shape (K, K)
        Apply as ``c_new = c_old @ T.T`` for (N, K) coefficients.
    """
    old = as_float_array(theta_from, "theta_from", (None,))
    new = as_float_array(theta_to, "theta_to", old.shape)
    if not (np.all(np.isfinite(old)) and np.all(np.isfinite(new))):
        raise InputError(f"theta_from, theta_to: expected finite values, got {old}, {new}")
    n = old.shape[0]
    d = new - old
    t = np.eye(n_coefficients(n))
    t[0] = polynomial_features_reference(d[None], np.zeros(n))[0]
    for i in range(n):
        row = linear_index(i)
        t[row, square_index(i, n)] = 2.0 * d[i]
        for j in range(n):
            if j != i:
                t[row, cross_index(i, j, n)] = d[j]
    return t


def recentre_coefficients(coefficients: Any, theta_from: Any, theta_to: Any) -> FloatArray:
    """Coefficients of the same polynomials expanded around ``theta_to`` instead of ``theta_from``.

    Parameters
    ----------
    coefficients : array_like, shape (N, K)
    theta_from, theta_to : array_like, shape (n,)

    Returns
    -------
    ndarray, shape (N, K)
        ``c @ T.T`` with T from :func:`recentring_matrix`; column 0 is each polynomial's value
        at ``theta_to``.
    """
    c = as_float_array(coefficients, "coefficients", (None, None))
    t = recentring_matrix(theta_from, theta_to)
    if c.shape[1] != t.shape[0]:
        raise InputError(
            f"coefficients: expected K = {t.shape[0]} columns for {len(np.atleast_1d(theta_from))} "
            f"parameters, got {c.shape[1]}"
        )
    result: FloatArray = c @ t.T
    return result


def _reference_weights(coefficients: Any) -> tuple[FloatArray, FloatArray]:
    c = as_float_array(coefficients, "coefficients", (None, None))
    c0 = c[:, 0]
    zero = np.flatnonzero(c0 == 0.0)
    if zero.size:
        raise WeightError(
            f"coefficients: reference weight c_0 is zero for {zero.size} events "
            f"(first at event {zero[0]}); ratios to θ0 are undefined"
        )
    return c, c0


def joint_ratio(coefficients: Any, thetas: Any, theta0: Any) -> FloatArray:
    """Joint ratio of unnormalised densities R(z_e|θ, θ0) = c_e·φ(θ−θ0)/c_e0 (eq. 26–27).

    Returns
    -------
    ndarray, shape (N, G)
    """
    c, c0 = _reference_weights(coefficients)
    phi = polynomial_features(thetas, theta0)
    if phi.shape[1] != c.shape[1]:
        raise InputError(
            f"coefficients: expected K = {phi.shape[1]} columns for {len(np.atleast_1d(theta0))} "
            f"parameters, got {c.shape[1]}"
        )
    result: FloatArray = (c @ phi.T) / c0[:, None]
    return result


def first_derivatives(coefficients: Any) -> FloatArray:
    """R_i = ∂R/∂θ_i at θ0 = c_i/c_0 (eq. 29), shape (N, n)."""
    c, c0 = _reference_weights(coefficients)
    n = n_parameters_from_coefficients(c.shape[1])
    return c[:, 1 : 1 + n] / c0[:, None]


def second_derivatives(coefficients: Any) -> FloatArray:
    """Hessian ∂²R/∂θ_i∂θ_j at θ0, shape (N, n, n): 2 c_ii/c_0 on the diagonal, c_ij/c_0 off it."""
    c, c0 = _reference_weights(coefficients)
    n = n_parameters_from_coefficients(c.shape[1])
    hess = np.empty((c.shape[0], n, n))
    for i in range(n):
        hess[:, i, i] = 2.0 * c[:, square_index(i, n)] / c0
    for i, j in cross_pairs(n):
        hess[:, i, j] = hess[:, j, i] = c[:, cross_index(i, j, n)] / c0
    return hess


def coefficients_from_derivatives(c0: Any, first: Any, hessian: Any) -> FloatArray:
    """Inverse of the accessors: c from c_0 (N,), R_i (N, n) and the Hessian (N, n, n)."""
    ref = as_float_array(c0, "c0", (None,))
    n_events = ref.shape[0]
    grad = as_float_array(first, "first", (n_events, None))
    n = grad.shape[1]
    hess = as_float_array(hessian, "hessian", (n_events, n, n))
    c = np.empty((n_events, n_coefficients(n)))
    c[:, 0] = ref
    c[:, 1 : 1 + n] = grad * ref[:, None]
    for i in range(n):
        c[:, square_index(i, n)] = 0.5 * hess[:, i, i] * ref
    for i, j in cross_pairs(n):
        c[:, cross_index(i, j, n)] = hess[:, i, j] * ref
    return c


def quadratic_form(coefficients: Any) -> FloatArray:
    """Symmetric matrices A (..., n+1, n+1) with c·φ(Δθ) = (1, Δθ)ᵀ A (1, Δθ).

    A_00 = c_0, A_0i = c_i/2, A_ii = c_ii, A_ij = c_ij/2 (i ≠ j).
    """
    c = np.asarray(coefficients, dtype=np.float64)
    n = n_parameters_from_coefficients(c.shape[-1])
    a = np.zeros((*c.shape[:-1], n + 1, n + 1))
    a[..., 0, 0] = c[..., 0]
    for i in range(n):
        a[..., 0, i + 1] = a[..., i + 1, 0] = 0.5 * c[..., linear_index(i)]
        a[..., i + 1, i + 1] = c[..., square_index(i, n)]
    for i, j in cross_pairs(n):
        a[..., i + 1, j + 1] = a[..., j + 1, i + 1] = 0.5 * c[..., cross_index(i, j, n)]
    return a


def coefficients_from_quadratic_form(matrices: Any) -> FloatArray:
    """Inverse of :func:`quadratic_form`: c from A, shape (..., K)."""
    a = np.asarray(matrices, dtype=np.float64)
    n = a.shape[-1] - 1
    c = np.empty((*a.shape[:-2], n_coefficients(n)))
    c[..., 0] = a[..., 0, 0]
    for i in range(n):
        c[..., linear_index(i)] = 2.0 * a[..., 0, i + 1]
        c[..., square_index(i, n)] = a[..., i + 1, i + 1]
    for i, j in cross_pairs(n):
        c[..., cross_index(i, j, n)] = 2.0 * a[..., i + 1, j + 1]
    return c


def project_nonnegative(
    coefficients: Any, floor: float = 1e-6, *, keep_reference: bool = False
) -> FloatArray:
    """The nearest coefficients (in the Frobenius norm of A) whose polynomial is ≥ 0 for all θ.

    A squared matrix element |M_0 + Δθ·M|² is a positive semi-definite quadratic form in
    (1, Δθ), and so is every reco-level dσ(x|θ) = ∫ p(x|z) dσ(z|θ). Learned coefficients
    can leave that cone (the morphed ratio then turns negative for some θ); projecting each
    event's A onto the PSD cone — clipping negative eigenvalues to zero — restores it and,
    since the truth lies in the convex cone, never moves A away from the truth.

    With ``keep_reference`` the value c_0 at θ0 and the first derivatives c_i stay as they
    are and only the quadratic block moves: with c_0 > 0, A ⪰ 0 exactly when the Schur
    complement S = A_qq − a aᵀ/c_0 (a = A_q0) is, so S is projected and A_qq = S' + a aᵀ/c_0.
    R(θ0) = c_0 and the slope at θ0 are then untouched (the best fit of an Asimov θ0 sample
    stays at θ0). Events with c_0 ≤ 0 get the full projection.

    Parameters
    ----------
    coefficients : array_like, shape (..., K)
    floor : float
        Eigenvalues are clipped to at least ``floor`` times the event's largest one (or its
        mean absolute one if none is positive), so the projected polynomial stays strictly
        positive and log R finite.
    keep_reference : bool
        Keep c_0 and the linear coefficients (see above).

    Returns
    -------
    ndarray, shape (..., K)
        Unchanged for events whose form was already positive definite above the floor.
    """
    a = quadratic_form(coefficients)
    result = np.array(coefficients, dtype=np.float64, copy=True)
    if keep_reference:
        c0 = a[..., 0, 0]
        positive = c0 > 0
        safe = np.where(positive, c0, 1.0)[..., None, None]
        corner = a[..., 1:, 0]
        outer = corner[..., :, None] * corner[..., None, :] / safe
        clipped, bad = _clip_eigenvalues(a[..., 1:, 1:] - outer, floor)
        fixed = a.copy()
        fixed[..., 1:, 1:] = clipped + outer
        use = bad & positive
        result[use] = coefficients_from_quadratic_form(fixed[use])
        rest = ~positive
        if rest.any():
            result[rest] = project_nonnegative(result[rest], floor)
        return result
    clipped, bad = _clip_eigenvalues(a, floor)
    if bad.any():
        result[bad] = coefficients_from_quadratic_form(clipped[bad])
    return result


def _clip_eigenvalues(
    matrices: FloatArray, floor: float
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Symmetric matrices with eigenvalues clipped at ``floor`` × scale; which ones changed."""
    values, vectors = np.linalg.eigh(matrices)
    # Scale of the event: its largest eigenvalue, or the mean |eigenvalue| when none is positive.
    scale = np.maximum(values[..., -1:], np.abs(values).mean(axis=-1, keepdims=True))
    lowest = floor * scale
    bad = (values < lowest).any(axis=-1)
    clipped = np.maximum(values, lowest)
    fixed: FloatArray = np.einsum("...ik,...k,...jk->...ij", vectors, clipped, vectors)
    return np.where(bad[..., None, None], fixed, matrices), bad
