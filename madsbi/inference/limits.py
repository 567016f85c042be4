"""Test statistic, χ² p-values, best fit, intervals and expected limits (App. A, eqs. 50–52)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from madsbi._validate import FloatArray, as_float_array, as_grid
from madsbi.errors import InputError


def chi2_cdf(q: Any, dof: int) -> FloatArray:
    """F_χ²(q|k) for integer k ≥ 1, exact by the recursion of the regularised gamma function.

    P(a+1, x) = P(a, x) − x^a e^{−x}/Γ(a+1), from P(½, x) = erf(√x) or P(1, x) = 1 − e^{−x}.
    """
    if dof < 1:
        raise InputError(f"dof: expected >= 1, got {dof}")
    x = np.maximum(np.asarray(q, dtype=np.float64), 0.0) / 2.0
    erf = np.vectorize(math.erf, otypes=[np.float64])
    a, p = (0.5, erf(np.sqrt(x))) if dof % 2 else (1.0, -np.expm1(-x))
    while a < dof / 2:
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.exp(a * np.log(x) - x - math.lgamma(a + 1.0))
        p = p - np.where(x > 0, term, 0.0)
        a += 1.0
    result: FloatArray = np.clip(p, 0.0, 1.0)
    return result


def p_value(q: Any, dof: int) -> FloatArray:
    """P = 1 − F_χ²(q|k) (eq. 52)."""
    result: FloatArray = 1.0 - chi2_cdf(q, dof)
    return result


def chi2_quantile(gamma: float, dof: int) -> float:
    """The q below which a fraction γ of the χ²_k distribution lies (bisection to 1e-12)."""
    if not 0.0 < gamma < 1.0:
        raise InputError(f"gamma: expected a confidence level in (0, 1), got {gamma}")
    lo, hi = 0.0, 1.0
    while float(chi2_cdf(hi, dof)) < gamma:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if float(chi2_cdf(mid, dof)) < gamma:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def best_fit(thetas: Any, log_likelihood: Any) -> tuple[FloatArray, float]:
    """θ̂ and the maximum of log r_full over a grid (eq. 51).

    On a 1D grid the maximum is refined by the parabola through the best point and its
    neighbours; in more dimensions the grid maximum is returned.

    Parameters
    ----------
    thetas : (G, n) or (G,)
    log_likelihood : (G,)
    """
    grid = as_grid(thetas)
    ll = as_float_array(log_likelihood, "log_likelihood", (grid.shape[0],))
    i = int(np.argmax(ll))
    theta_hat, best = grid[i].copy(), float(ll[i])
    if grid.shape[1] == 1 and 0 < i < grid.shape[0] - 1:
        x0, x1, x2 = grid[i - 1 : i + 2, 0]
        y0, y1, y2 = ll[i - 1 : i + 2]
        # Nearly coincident points (e.g. θ_true appended next to an equal grid point) make the
        # parabola through them meaningless: keep the grid maximum then.
        if min(x1 - x0, x2 - x1) <= 1e-6 * (x2 - x0):
            return theta_hat, best
        denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
        a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
        b = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / denom
        if a < 0:
            vertex = -b / (2 * a)
            if x0 <= vertex <= x2:
                c = y1 - a * x1**2 - b * x1
                theta_hat[0] = vertex
                best = max(best, float(a * vertex**2 + b * vertex + c))
    return theta_hat, best


def q_statistic(log_likelihood: Any, maximum: float | None = None) -> FloatArray:
    """Q(θ) = −2 (log r_full(θ) − log r_full(θ̂)) (eq. 50); θ̂ from the grid unless given."""
    ll = as_float_array(log_likelihood, "log_likelihood")
    top = float(np.max(ll)) if maximum is None else float(maximum)
    result: FloatArray = np.maximum(-2.0 * (ll - top), 0.0)
    return result


def intervals_1d(grid: Any, q: Any, level: float, dof: int = 1) -> list[tuple[float, float]]:
    """The γ-confidence region {θ : q(θ) ≤ F⁻¹_χ²(γ|k)} on a 1D grid as a list of intervals.

    Ends are found by linear interpolation of q between grid points; a region that reaches
    the edge of the grid is cut there (the returned end equals the grid end). Disjoint
    regions (e.g. a likelihood symmetric in θ → −θ) give several intervals.
    """
    x = as_float_array(grid, "grid", (None,))
    qq = as_float_array(q, "q", (x.shape[0],))
    threshold = chi2_quantile(level, dof)
    inside = qq <= threshold
    result: list[tuple[float, float]] = []
    i, n = 0, x.shape[0]
    while i < n:
        if not inside[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and inside[j + 1]:
            j += 1
        lo = x[i] if i == 0 else _crossing(x[i - 1], x[i], qq[i - 1], qq[i], threshold)
        hi = x[j] if j == n - 1 else _crossing(x[j], x[j + 1], qq[j], qq[j + 1], threshold)
        result.append((float(lo), float(hi)))
        i = j + 1
    return result


def _crossing(x0: float, x1: float, q0: float, q1: float, level: float) -> float:
    if q1 == q0:
        return 0.5 * (x0 + x1)
    return float(x0 + (level - q0) * (x1 - x0) / (q1 - q0))


def confidence_region(q: Any, level: float, dof: int) -> npt.NDArray[np.bool_]:
    """Mask of the grid points inside the γ region, q ≤ F⁻¹_χ²(γ|k), for any grid shape.

    For a 2D grid reshaped to (G1, G2), the boundary of the mask is the contour drawn in
    Figs. 8–9 and 11 (``matplotlib.contour`` at the level ``chi2_quantile(γ, 2)``).
    """
    qq = np.asarray(q, dtype=np.float64)
    result: npt.NDArray[np.bool_] = qq <= chi2_quantile(level, dof)
    return result


def asimov_weights(n_events: int, expected_events: float) -> FloatArray:
    """Weights L σ(θ0)/N that turn N events simulated at θ0 into the expected data set."""
    if n_events < 1 or not expected_events > 0:
        raise InputError(
            f"asimov_weights: expected n_events >= 1 and expected_events > 0, got "
            f"{n_events}, {expected_events}"
        )
    return np.full(n_events, expected_events / n_events)
