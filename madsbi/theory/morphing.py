"""Morphing (paper eq. 20–25, docs/design.md): basis points θ_b, the matrix W, weights a(θ).

W_bk = φ_k(θ_b − θ0); event weights at the basis points are w_eb = Σ_k W_bk c_ek, so
c_e = W⁻¹ w_e; for any θ, dσ(θ) = Σ_b a_b(θ) dσ(θ_b) with a(θ) = W⁻ᵀ φ(θ − θ0), and
σ(θ) = Σ_b a_b(θ) σ(θ_b).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from madsbi._backend import call_core, call_cuda, resolve_backend
from madsbi._validate import FloatArray, as_float_array, as_thetas, check_shape
from madsbi.errors import IllConditionedBasisError, PrecisionWarning
from madsbi.theory.polynomial import (
    n_coefficients,
    polynomial_features_reference,
)

#: Bases with a larger 2-norm condition number are refused by default: LHE weights carry
#: 8 significant digits, so cond(W) = 1e8 already leaves no digit in the coefficients.
DEFAULT_MAX_CONDITION = 1e8
#: Above this condition number a PrecisionWarning is issued.
WARN_CONDITION = 1e5


def morphing_matrix(points: Any, theta0: Any) -> FloatArray:
    """W_bk = φ_k(θ_b − θ0) for K basis points (K, n); returns (K, K)."""
    theta0_arr = as_float_array(theta0, "theta0", (None,))
    n = theta0_arr.shape[0]
    pts = as_float_array(points, "basis_points", (n_coefficients(n), n))
    return polynomial_features_reference(pts, theta0_arr)


def condition_number(matrix: FloatArray) -> float:
    """2-norm condition number; ``inf`` for a singular matrix."""
    singular_values = np.linalg.svd(matrix, compute_uv=False)
    # Below this the matrix is singular to working precision (numpy.linalg.matrix_rank's rule).
    if singular_values[-1] <= singular_values[0] * max(matrix.shape) * np.finfo(np.float64).eps:
        return float("inf")
    return float(singular_values[0] / singular_values[-1])


@dataclass(frozen=True, eq=False)
class MorphingBasis:
    """K basis points with their morphing matrix and its inverse.

    Build it with :meth:`from_points`, which refuses singular or ill-conditioned bases.
    """

    points: FloatArray
    theta0: FloatArray
    matrix: FloatArray
    inverse: FloatArray
    condition_number: float

    @classmethod
    def from_points(
        cls, points: Any, theta0: Any, *, max_condition: float = DEFAULT_MAX_CONDITION
    ) -> MorphingBasis:
        """Build the basis for ``points`` (K, n) around ``theta0`` (n,).

        Raises
        ------
        ShapeError
            If there are not exactly K = 1 + n + n(n+1)/2 points of n components.
        IllConditionedBasisError
            If cond(W) exceeds ``max_condition`` (the message and the exception carry it).
        """
        theta0_arr = as_float_array(theta0, "theta0", (None,))
        n = theta0_arr.shape[0]
        pts = as_float_array(points, "basis_points", (n_coefficients(n), n))
        matrix = morphing_matrix(pts, theta0_arr)
        cond = condition_number(matrix)
        if not cond <= max_condition:
            raise IllConditionedBasisError(
                f"morphing basis: cond(W) = {cond:.3g} exceeds the limit {max_condition:.3g}; "
                f"the points do not determine a quadratic in {n} parameters "
                f"(points: {pts.tolist()})",
                cond,
            )
        if cond > WARN_CONDITION:
            warnings.warn(
                f"morphing basis: cond(W) = {cond:.3g}; coefficients lose about "
                f"{np.log10(cond):.0f} digits",
                PrecisionWarning,
                stacklevel=2,
            )
        inverse = np.asarray(np.linalg.inv(matrix), dtype=np.float64)
        for arr in (pts, theta0_arr, matrix, inverse):
            arr.setflags(write=False)
        return cls(pts, theta0_arr, matrix, inverse, cond)

    @property
    def n_parameters(self) -> int:
        """Number of θ components n."""
        return int(self.theta0.shape[0])

    @property
    def n_points(self) -> int:
        """Number of basis points, K."""
        return int(self.points.shape[0])

    def coefficients(self, basis_weights: Any) -> FloatArray:
        """Per-event coefficients c_e = W⁻¹ w_e from weights at the basis points (N, K)."""
        w = as_float_array(basis_weights, "basis_weights", (None, self.n_points))
        result: FloatArray = w @ self.inverse.T
        return result

    def weights(
        self,
        thetas: Any,
        sigma_basis: Any | None = None,
        *,
        backend: str = "auto",
        n_threads: int = 0,
    ) -> tuple[FloatArray, FloatArray | None]:
        """Morphing weights a(θ) = W⁻ᵀ φ(θ − θ0) for G points, and σ(θ) = Σ_b a_b σ_b.

        Parameters
        ----------
        thetas : array_like, shape (G, n) or (n,)
        sigma_basis : array_like, shape (K,), optional
            Cross-sections σ(θ_b) at the basis points.
        backend : {"auto", "core", "cuda", "numpy"}
            "auto" uses the GPU when one is usable, else the C++ core
            (``madsbi._backend.resolve_backend``).

        Returns
        -------
        a : ndarray, shape (G, K)
        sigma : ndarray, shape (G,), or None without ``sigma_basis``
        """
        backend = resolve_backend(backend)
        # The core checks finiteness in its own pass over θ.
        points = as_thetas(thetas, self.n_parameters, finite=backend != "core")
        sig = None if sigma_basis is None else as_float_array(sigma_basis, "sigma_basis")
        if sig is not None:
            check_shape(sig, "sigma_basis", (self.n_points,))
        if backend == "numpy":
            return morphing_weights_reference(points, self.theta0, self.inverse, sig)
        if backend == "core":
            a, sigma = call_core(
                "morphing_weights", points, self.theta0, self.inverse, sig, n_threads
            )
            return a, sigma
        a, sigma = call_cuda("morphing_weights", points, self.theta0, self.inverse, sig)
        return a, sigma

    def expected_squared_weight(
        self, ranges: Any, *, n_samples: int = 20_000, seed: int = 0
    ) -> float:
        """E_θ[Σ_b a_b(θ)²] for θ uniform in the box ``ranges`` (n, 2), by Monte Carlo."""
        box = as_float_array(ranges, "ranges", (self.n_parameters, 2))
        rng = np.random.default_rng(seed)
        thetas = rng.uniform(box[:, 0], box[:, 1], size=(n_samples, self.n_parameters))
        a, _ = self.weights(thetas, backend="core")
        return float(np.mean(np.sum(a**2, axis=1)))


def morphing_weights_reference(
    thetas: FloatArray,
    theta0: FloatArray,
    inverse: FloatArray,
    sigma_basis: FloatArray | None,
) -> tuple[FloatArray, FloatArray | None]:
    """NumPy reference of :meth:`MorphingBasis.weights`: a = φ W⁻¹ row-wise."""
    a = polynomial_features_reference(thetas, theta0) @ inverse
    sigma = None if sigma_basis is None else a @ sigma_basis
    return a, sigma
