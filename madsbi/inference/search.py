"""Maximising a log-likelihood over a θ box: a grid search zoomed around the best point.

No optimiser library: a grid of ``start`` points per axis over the box, then grids of
``points`` per axis around the best point so far, shrinking the box each step. The zoom can
only walk a few grid steps, so in a narrow curved valley (strongly correlated parameters:
cHWB and cW at parton level) it stops short of the maximum; a Nelder–Mead polish inside the
box, restarted until it no longer improves, then follows the valley. Extra ``candidates``
(the SM, points a user asks about) start the polish too, so the maximum is never below ll at
any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from madsbi._validate import FloatArray
from madsbi.inference.limits import chi2_quantile, q_statistic

LogLikelihood = Callable[[FloatArray], FloatArray]
"""θ points (G, n) → log-likelihood (G,)."""


def maximise(
    ll: LogLikelihood,
    lo: FloatArray,
    hi: FloatArray,
    *,
    start: int = 15,
    points: int = 7,
    candidates: Sequence[FloatArray] = (),
) -> tuple[FloatArray, float]:
    """Maximum of ll over the box [lo, hi]: zoomed grid search, then a Nelder–Mead polish.

    The polish starts from the grid's best point and from every point of ``candidates``
    (inside the box); the best result is returned.
    """
    theta, best = _zoomed_grid(ll, lo, hi, start=start, points=points)
    starts = [theta] + [np.clip(np.asarray(c, dtype=np.float64), lo, hi) for c in candidates]
    step = (hi - lo) / (start - 1)
    for x0 in starts:
        x, value = _polish(ll, x0, step, lo, hi)
        if value > best:
            theta, best = x, value
    return theta, best


def _polish(
    ll: LogLikelihood, x0: FloatArray, step: FloatArray, lo: FloatArray, hi: FloatArray
) -> tuple[FloatArray, float]:
    """Nelder–Mead from x0 (simplex edges ``step``), restarted while it still improves."""
    x, value = x0.copy(), float(ll(x0[None])[0])
    size = step.copy()
    for _ in range(20):
        x_new, v_new = _nelder_mead(ll, x, size, lo, hi)
        improved = v_new > value + 1e-10 * max(1.0, abs(value))
        if v_new >= value:
            x, value = x_new, v_new
        if not improved:
            break
        size = np.maximum(np.abs(x_new - x0), step * 1e-3)
        x0 = x
    return x, value


def _nelder_mead(
    ll: LogLikelihood,
    x0: FloatArray,
    step: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    *,
    iterations: int = 2000,
) -> tuple[FloatArray, float]:
    """Maximise ll by Nelder–Mead in the box (points clipped to it); (best θ, ll there)."""
    n = x0.shape[0]
    scale = np.where(hi > lo, hi - lo, 1.0)
    simplex = np.tile(x0, (n + 1, 1))
    for i in range(n):
        simplex[i + 1, i] += step[i] if x0[i] + step[i] <= hi[i] else -step[i]
    simplex = np.clip(simplex, lo, hi)
    values = ll(simplex)

    def f(point: FloatArray) -> tuple[FloatArray, float]:
        p = np.clip(point, lo, hi)
        return p, float(ll(p[None])[0])

    for _ in range(iterations):
        order = np.argsort(-values)
        simplex, values = simplex[order], values[order]
        spread = np.max(np.abs(simplex[1:] - simplex[0]) / scale)
        if spread < 1e-10 or values[0] - values[-1] <= 1e-12 * max(1.0, abs(values[0])):
            break
        centroid = simplex[:-1].mean(axis=0)
        reflected, vr = f(centroid + (centroid - simplex[-1]))
        if vr > values[0]:
            expanded, ve = f(centroid + 2.0 * (centroid - simplex[-1]))
            simplex[-1], values[-1] = (expanded, ve) if ve > vr else (reflected, vr)
        elif vr > values[-2]:
            simplex[-1], values[-1] = reflected, vr
        else:
            toward = reflected if vr > values[-1] else simplex[-1]
            contracted, vc = f(centroid + 0.5 * (toward - centroid))
            if vc > max(vr, values[-1]):
                simplex[-1], values[-1] = contracted, vc
            else:
                simplex[1:] = simplex[0] + 0.5 * (simplex[1:] - simplex[0])
                values[1:] = ll(simplex[1:])
    i = int(np.argmax(values))
    return simplex[i].copy(), float(values[i])


def _zoomed_grid(
    ll: LogLikelihood, lo: FloatArray, hi: FloatArray, *, start: int, points: int
) -> tuple[FloatArray, float]:
    """The best point of a grid search over the box, zoomed around the best point."""
    n = lo.shape[0]
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    best_theta, best = centre.copy(), -np.inf
    k = start
    for _ in range(60):
        axes = [
            np.linspace(max(lo[i], centre[i] - half[i]), min(hi[i], centre[i] + half[i]), k)
            for i in range(n)
        ]
        grid = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
        values = ll(grid)
        i = int(np.argmax(values))
        if values[i] >= best:
            best, best_theta = float(values[i]), grid[i].copy()
        centre = best_theta
        half = np.array([2.0 * (a[1] - a[0]) if a.shape[0] > 1 else 0.0 for a in axes])
        k = points
        if np.all(half <= 1e-9 * (hi - lo)):
            break
    return best_theta, best


def profile_max(
    ll: LogLikelihood,
    axes: tuple[int, ...],
    values: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    *,
    centre: FloatArray | None = None,
    points: int = 7,
    iterations: int = 30,
) -> FloatArray:
    """Max over the other parameters of ll at each row of ``values`` (P, len(axes)): (P,).

    The search starts at ``centre``'s other coordinates (default the box centre; pass the
    best fit), which every grid contains, so the result is never below ll there.
    """
    n = lo.shape[0]
    free = [i for i in range(n) if i not in axes]
    p = values.shape[0]
    if not free:
        grid = np.empty((p, n))
        grid[:, list(axes)] = values
        return ll(grid)
    start = (lo + hi) / 2 if centre is None else np.asarray(centre, dtype=np.float64)
    centre_free = np.tile(start[free], (p, 1))
    half = (hi - lo)[free] / 2
    best = np.full(p, -np.inf)
    unit = np.linspace(-1.0, 1.0, points)
    offsets = np.stack([g.ravel() for g in np.meshgrid(*[unit] * len(free), indexing="ij")], axis=1)
    for _ in range(iterations):
        trial = centre_free[:, None, :] + offsets[None] * half  # (P, S, f)
        trial = np.clip(trial, lo[free], hi[free])
        grid = np.empty((p, offsets.shape[0], n))
        grid[..., list(axes)] = values[:, None, :]
        grid[..., free] = trial
        scores = ll(grid.reshape(-1, n)).reshape(p, -1)
        j = np.argmax(scores, axis=1)
        top = scores[np.arange(p), j]
        better = top >= best
        best = np.where(better, top, best)
        centre_free = np.where(better[:, None], trial[np.arange(p), j], centre_free)
        half = half * 0.6
    return best


def profiled_line(
    ll: LogLikelihood,
    i: int,
    lo: FloatArray,
    hi: FloatArray,
    k: int,
    theta_hat: FloatArray,
    top: float,
    level: float,
) -> tuple[FloatArray, FloatArray]:
    """Profile q along parameter i on k points, zoomed (up to 3 times) onto the region.

    Each pass spans the points with q below twice the 1D threshold of ``level`` (one point of
    margin each side), so the interval ends are resolved to ~1/k of the region, not the box.
    """
    a, b = float(lo[i]), float(hi[i])
    threshold = 2.0 * chi2_quantile(level, 1)
    line = np.empty((k, lo.shape[0]))
    q = np.empty(k)
    for _ in range(3):
        line = np.tile(theta_hat, (k, 1))
        line[:, i] = np.linspace(a, b, k)
        values = profile_max(ll, (i,), line[:, i : i + 1], lo, hi, centre=theta_hat)
        q = q_statistic(values, max(top, float(values.max())))
        inside = np.flatnonzero(q <= threshold)
        if inside.size == 0:
            break
        j0, j1 = max(int(inside[0]) - 1, 0), min(int(inside[-1]) + 1, k - 1)
        if line[j1, i] - line[j0, i] > 0.5 * (b - a):
            break
        a, b = float(line[j0, i]), float(line[j1, i])
    return line, q


def plane_window(
    intervals: Mapping[str, list[tuple[float, float]]], lo: float, hi: float
) -> tuple[float, float]:
    """A plane's axis: the outermost 1D interval widened by 0.75 of its span each side."""
    ends = [e for found in intervals.values() for pair in found for e in pair]
    if not ends:
        return lo, hi
    a, b = min(ends), max(ends)
    margin = 0.75 * max(b - a, 1e-12 * (hi - lo))
    return max(lo, a - margin), min(hi, b + margin)
