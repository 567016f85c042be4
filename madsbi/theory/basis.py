"""Choice of a well-conditioned morphing basis for an analysis range.

The morphed ratio r(x|θ) = Σ_b a_b(θ) σ_b/σ(θ) r_b(x) amplifies errors of the learned r_b by
the weights, so we pick the K basis points that minimise the expected squared weight over the
analysis box (an I-optimal design), by greedy start and Fedorov exchange on a candidate grid:

    E_θ[Σ_b a_b(θ)²]                     without rate information, or
    E_θ[Σ_b (a_b(θ) σ_b / σ(θ))²]        with the total-rate coefficients (docs/design.md).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError
from madsbi.theory.morphing import MorphingBasis
from madsbi.theory.polynomial import n_coefficients, polynomial_features_reference

# Candidates whose Sherman–Morrison pivot is below this are (near) singular swaps.
_PIVOT_TOLERANCE = 1e-10


@dataclass(frozen=True)
class BasisChoice:
    """Result of :func:`optimise_basis`.

    Attributes
    ----------
    basis : MorphingBasis
        The chosen basis.
    condition_number : float
        cond(W) of the chosen basis.
    expected_squared_weight : float
        The minimised objective, E_θ[Σ_b a_b²] (or its rate-weighted form) over the box.
    rate_weighted : bool
        Whether the objective used σ_b/σ(θ).
    """

    basis: MorphingBasis
    condition_number: float
    expected_squared_weight: float
    rate_weighted: bool


def _candidate_grid(
    box: FloatArray, theta0: FloatArray, levels: int, max_candidates: int, rng: np.random.Generator
) -> FloatArray:
    axes = []
    for (low, high), centre in zip(box, theta0, strict=True):
        values = np.linspace(low, high, levels)
        if low <= centre <= high:
            values = np.union1d(values, [centre])
        axes.append(values)
    n_grid = int(np.prod([len(a) for a in axes]))
    if n_grid <= max_candidates:
        return np.array(list(itertools.product(*axes)), dtype=np.float64)
    picks = np.stack([rng.choice(a, size=max_candidates) for a in axes], axis=1)
    return np.unique(picks, axis=0)


def _greedy_start(phi: FloatArray, k: int, fixed: list[int]) -> list[int]:
    """Indices of k rows of phi, starting from ``fixed``, maximising the residual norm."""
    chosen = list(fixed)
    basis_vectors: list[FloatArray] = []
    residual = phi.copy()
    for idx in chosen:
        v = residual[idx] / np.linalg.norm(residual[idx])
        basis_vectors.append(v)
        residual -= np.outer(residual @ v, v)
    while len(chosen) < k:
        norms = np.linalg.norm(residual, axis=1)
        norms[chosen] = -1.0
        idx = int(np.argmax(norms))
        if norms[idx] <= 1e-12:
            raise InputError(
                "optimise_basis: the candidate grid does not determine a quadratic; use more levels"
            )
        v = residual[idx] / norms[idx]
        chosen.append(idx)
        residual -= np.outer(residual @ v, v)
    return chosen


def _objective(inverse: FloatArray, moment: FloatArray, sigma_b: FloatArray | None) -> float:
    """Σ_b σ_b² (VᵀMV)_bb for V = W⁻¹; moment M is E[φφᵀ] (or E[φφᵀ/σ²]); σ_b = 1 if None."""
    per_point = np.einsum("kb,kl,lb->b", inverse, moment, inverse)
    return float(per_point.sum() if sigma_b is None else (per_point * sigma_b**2).sum())


def optimise_basis(
    theta0: Any,
    ranges: Any,
    *,
    include_theta0: bool = True,
    rate_coefficients: Any | None = None,
    levels: int = 5,
    max_candidates: int = 4000,
    n_samples: int = 4096,
    max_iterations: int = 200,
    seed: int = 0,
) -> BasisChoice:
    """Choose K basis points in the box ``ranges`` minimising the expected squared weight.

    Parameters
    ----------
    theta0 : array_like, shape (n,)
        Reference point.
    ranges : array_like, shape (n, 2)
        Analysis box (low, high) per parameter.
    include_theta0 : bool
        Keep θ0 itself as a basis point (its ratio is 1 by definition).
    rate_coefficients : array_like, shape (K,), optional
        Coefficients of σ(θ) = c·φ(θ − θ0); weights the objective by σ_b/σ(θ).
    levels : int
        Grid levels per axis for the candidate points (θ0's coordinate is added).
    max_candidates, n_samples, max_iterations, seed
        Size of the candidate set, Monte-Carlo sample of the box, exchange iterations, RNG seed.

    Returns
    -------
    BasisChoice
    """
    theta0_arr = as_float_array(theta0, "theta0", (None,))
    n = theta0_arr.shape[0]
    box = as_float_array(ranges, "ranges", (n, 2))
    if np.any(box[:, 0] >= box[:, 1]):
        raise InputError(f"ranges: expected low < high per parameter, got {box.tolist()}")
    if levels < 3:
        raise InputError(f"levels: a quadratic needs >= 3 levels per axis, got {levels}")
    k = n_coefficients(n)
    rng = np.random.default_rng(seed)
    candidates = _candidate_grid(box, theta0_arr, levels, max_candidates, rng)
    if include_theta0 and not np.any(np.all(candidates == theta0_arr, axis=1)):
        candidates = np.vstack([candidates, theta0_arr])  # θ0 outside the box stays a point
    phi_c = polynomial_features_reference(candidates, theta0_arr)
    samples = rng.uniform(box[:, 0], box[:, 1], size=(n_samples, n))
    phi_s = polynomial_features_reference(samples, theta0_arr)

    rate = None
    if rate_coefficients is not None:
        rate = as_float_array(rate_coefficients, "rate_coefficients", (k,))
        sigma_s = phi_s @ rate
        if np.any(sigma_s <= 0):
            raise InputError("rate_coefficients: σ(θ) is not positive everywhere in the box")
        moment = (phi_s / sigma_s[:, None]).T @ (phi_s / sigma_s[:, None]) / n_samples
        sigma_c: FloatArray | None = phi_c @ rate
    else:
        moment = phi_s.T @ phi_s / n_samples
        sigma_c = None

    fixed: list[int] = []
    if include_theta0:
        fixed = [int(np.flatnonzero(np.all(candidates == theta0_arr, axis=1))[0])]
    chosen = _greedy_start(phi_c, k, fixed)
    inverse = np.asarray(np.linalg.inv(phi_c[chosen]), dtype=np.float64)
    best = _objective(inverse, moment, None if sigma_c is None else sigma_c[chosen])

    for _ in range(max_iterations):
        improvement: tuple[float, int, int] | None = None
        # Diagonal of VᵀMV per basis point, and Mv_b, for the current inverse V = W⁻¹.
        mv = moment @ inverse
        q = np.einsum("kb,kb->b", inverse, mv)
        for slot in range(len(fixed), k):
            # Replacing row `slot` of W by φ_c changes V by the rank-one term g hᵀ/d
            # (Sherman–Morrison); the objective then follows in closed form for all candidates.
            g = inverse[:, slot]
            d = phi_c @ g
            ok = np.abs(d) > _PIVOT_TOLERANCE
            ok[chosen] = False
            if not np.any(ok):
                continue
            idx = np.flatnonzero(ok)
            h = (phi_c[idx] - phi_c[chosen[slot]]) @ inverse
            p = g @ mv
            s_gg = float(g @ moment @ g)
            dd = d[idx, None]
            diag = q[None, :] - 2.0 * h * p[None, :] / dd + h**2 * s_gg / dd**2
            if sigma_c is None:
                values = diag.sum(axis=1)
            else:
                sig = np.repeat(sigma_c[chosen][None], idx.size, axis=0)
                sig[:, slot] = sigma_c[idx]
                values = (diag * sig**2).sum(axis=1)
            j = int(np.argmin(values))
            if values[j] < best * (1 - 1e-9) and (
                improvement is None or values[j] < improvement[0]
            ):
                improvement = (float(values[j]), slot, int(idx[j]))
        if improvement is None:
            break
        best, slot, cand = improvement
        chosen[slot] = cand
        inverse = np.asarray(
            np.linalg.inv(phi_c[chosen]), dtype=np.float64
        )  # fresh inverse: no drift from rank-one updates

    basis = MorphingBasis.from_points(candidates[chosen], theta0_arr)
    a = phi_s @ basis.inverse
    if rate is None:
        objective = float(np.mean(np.sum(a**2, axis=1)))
    else:
        sigma_b = basis.matrix @ rate
        sigma_s = phi_s @ rate
        objective = float(np.mean(np.sum((a * sigma_b / sigma_s[:, None]) ** 2, axis=1)))
    return BasisChoice(basis, basis.condition_number, objective, rate is not None)
