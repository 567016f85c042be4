"""Damped Newton ascent for many small problems at once (the profile over nuisances).

Each of P points maximises its own objective over k parameters; every step evaluates all
points together, solves the k × k systems in one batch (Cholesky where −H is positive
definite, an eigen-decomposition with flipped and floored eigenvalues elsewhere), caps the
step's length at :data:`MAX_STEP` and backtracks where a full step would not increase the
objective (:mod:`madsbi.inference.profile`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from madsbi._validate import BoolArray, FloatArray, IntArray

Objective = Callable[[FloatArray], tuple[FloatArray, FloatArray, FloatArray]]
"""α (P, k) → value (P,), gradient (P, k), Hessian (P, k, k) of log r_full."""

TOLERANCE = 1e-10
"""Newton decrement g·H⁻¹g (≈ twice the remaining gain in log r_full) at which a point stops."""

MAX_STEP = 2.0
"""Longest step (Euclidean, in the nuisances' units: σ) one iteration may take.

Where the objective is not concave (a toy's event sums can make a shape's curvature positive)
the flipped-eigenvalue step along a nearly flat direction is thousands of σ long; the line
search then halves it a dozen times, each halving a full evaluation, and visits α where the
shapes' normalisation tables do not reach. A capped step ascends all the same; near the
maximum the steps are short and the cap never acts.
"""


def newton_maximise(
    objective: Objective,
    start: FloatArray,
    free: Sequence[int],
    *,
    tolerance: float = TOLERANCE,
    max_iterations: int = 50,
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Maximise ``objective`` over the ``free`` columns of α for P points at once.

    Parameters
    ----------
    objective : callable
        α (P, k) → value (P,), gradient (P, k), Hessian (P, k, k).
    start : (P, k)
        Starting α (fixed columns keep their values).
    free : sequence of int
        The columns to maximise over.

    Returns
    -------
    alpha : (P, k)
    value : (P,)
    converged : (P,)
        Newton decrement below ``tolerance`` (points with a non-finite value count as done).
    """
    alpha = np.array(start, dtype=np.float64)
    value, grad, hess = objective(alpha)
    idx = np.asarray(list(free), dtype=np.int64)
    done = ~np.isfinite(value)
    if idx.size == 0:
        return alpha, value, np.ones(value.shape, dtype=bool)
    for _ in range(max_iterations):
        step, decrement = _ascent_step(grad, hess, idx)
        done |= ~(decrement > tolerance)
        if done.all():
            break
        step, slope = capped(step, grad[:, idx])
        t = np.where(done, 0.0, 1.0)
        for _ in range(60):
            trial = alpha.copy()
            trial[:, idx] += t[:, None] * step
            t_value, t_grad, t_hess = objective(trial)
            ok = (t == 0) | (np.isfinite(t_value) & (t_value >= value + 1e-4 * t * slope))
            if ok.all():
                break
            t = np.where(ok, t, 0.5 * t)
        else:
            bad = ~ok
            done |= bad
            t = np.where(bad, 0.0, t)
            trial = alpha.copy()
            trial[:, idx] += t[:, None] * step
            t_value, t_grad, t_hess = objective(trial)
        alpha, value, grad, hess = trial, t_value, t_grad, t_hess
    else:
        done |= ~(_ascent_step(grad, hess, idx)[1] > tolerance)
    return alpha, value, done


def capped(step: FloatArray, grad: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The steps (P, k) shortened to at most :data:`MAX_STEP`, and their slopes g·step (P,)."""
    length = np.sqrt(np.einsum("pi,pi->p", step, step))
    out = step * np.minimum(1.0, MAX_STEP / np.maximum(length, 1e-300))[:, None]
    return out, np.einsum("pi,pi->p", grad, out)


def _ascent_step(
    grad: FloatArray, hess: FloatArray, idx: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Newton step in the free columns with −H made positive definite, and g·step (P,).

    The eigenvalues of −H are replaced by their absolute values, floored at 1e-9 of the
    largest, so the step ascends wherever the gradient is not zero.
    """
    g = grad[:, idx]
    if idx.size == 1:  # one free nuisance: no eigen-decomposition
        curve = np.abs(hess[:, idx[0], idx[0]])
        step = g / np.maximum(curve, 1e-9 * np.maximum(1.0, curve))[:, None]
        return step, np.einsum("pi,pi->p", g, step)
    minus = -hess[:, idx[:, None], idx[None, :]]
    # Where −H is positive definite (well above the floor) the step is −H⁻¹g: a batched
    # Cholesky, several times cheaper than the eigen-decomposition the other points need.
    factor, ok = cholesky_rows(minus, 1e-9)
    step = np.empty_like(g)
    step[ok] = cholesky_solve(factor[ok], g[ok])
    if not ok.all():
        eig, vec = np.linalg.eigh(minus[~ok])
        floor = 1e-9 * np.maximum(1.0, np.abs(eig).max(axis=1, keepdims=True))
        eig = np.maximum(np.abs(eig), floor)
        step[~ok] = np.einsum("pij,pj->pi", vec, np.einsum("pji,pj->pi", vec, g[~ok]) / eig)
    return step, np.einsum("pi,pi->p", g, step)


def cholesky_rows(matrices: FloatArray, floor: float) -> tuple[FloatArray, BoolArray]:
    """Cholesky factors L (P, k, k) of P symmetric matrices, and which are positive definite.

    Vectorised over P (a loop over the k columns only). A matrix counts as positive definite
    when every pivot exceeds ``floor`` × max(1, its largest diagonal element) — a bound on
    its smallest eigenvalue relative to its largest, as the eigenvalue floor of
    ``_ascent_step``; the factor of the others is meaningless.
    """
    p, k, _ = matrices.shape
    factor = np.zeros_like(matrices)
    scale = floor * np.maximum(1.0, np.abs(np.diagonal(matrices, axis1=1, axis2=2)).max(axis=1))
    ok = np.ones(p, dtype=bool)
    for j in range(k):
        pivot = matrices[:, j, j] - np.einsum("pi,pi->p", factor[:, j, :j], factor[:, j, :j])
        ok &= pivot > scale
        root = np.sqrt(np.where(pivot > scale, pivot, 1.0))
        factor[:, j, j] = root
        rest = matrices[:, j + 1 :, j] - np.einsum(
            "pri,pi->pr", factor[:, j + 1 :, :j], factor[:, j, :j]
        )
        factor[:, j + 1 :, j] = rest / root[:, None]
    return factor, ok


def cholesky_solve(factor: FloatArray, rhs: FloatArray) -> FloatArray:
    """The solutions x (P, k) of L Lᵀ x = b for Cholesky factors L (P, k, k) and b (P, k)."""
    k = rhs.shape[1]
    y = np.empty_like(rhs)
    for i in range(k):
        y[:, i] = (rhs[:, i] - np.einsum("pj,pj->p", factor[:, i, :i], y[:, :i])) / factor[:, i, i]
    x = np.empty_like(rhs)
    for i in reversed(range(k)):
        below = factor[:, i + 1 :, i]
        x[:, i] = (y[:, i] - np.einsum("pj,pj->p", below, x[:, i + 1 :])) / factor[:, i, i]
    return x
