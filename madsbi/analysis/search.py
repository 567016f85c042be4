"""Maximising a log-likelihood over a θ box: a grid search zoomed around the best point.

No optimiser library: a grid of ``start`` points per axis over the box, then grids of
``points`` per axis around the best point so far, halving (or more) the box each step. On a
smooth likelihood with one maximum in the box this converges to ~1e-9 of the box size;
several maxima are resolved only as finely as the first grid.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from madsbi._validate import FloatArray

LogLikelihood = Callable[[FloatArray], FloatArray]
"""θ points (G, n) → log-likelihood (G,)."""


def maximise(
    ll: LogLikelihood, lo: FloatArray, hi: FloatArray, *, start: int = 15, points: int = 7
) -> tuple[FloatArray, float]:
    """Maximum of ll over the box [lo, hi] by a grid search, zoomed around the best point."""
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
    points: int = 7,
    iterations: int = 30,
) -> FloatArray:
    """Max over the other parameters of ll at each row of ``values`` (P, len(axes)): (P,)."""
    n = lo.shape[0]
    free = [i for i in range(n) if i not in axes]
    p = values.shape[0]
    if not free:
        grid = np.empty((p, n))
        grid[:, list(axes)] = values
        return ll(grid)
    centre = np.tile((lo + hi)[free] / 2, (p, 1))
    half = (hi - lo)[free] / 2
    best = np.full(p, -np.inf)
    unit = np.linspace(-1.0, 1.0, points)
    offsets = np.stack([g.ravel() for g in np.meshgrid(*[unit] * len(free), indexing="ij")], axis=1)
    for _ in range(iterations):
        trial = centre[:, None, :] + offsets[None] * half  # (P, S, f)
        trial = np.clip(trial, lo[free], hi[free])
        grid = np.empty((p, offsets.shape[0], n))
        grid[..., list(axes)] = values[:, None, :]
        grid[..., free] = trial
        scores = ll(grid.reshape(-1, n)).reshape(p, -1)
        j = np.argmax(scores, axis=1)
        top = scores[np.arange(p), j]
        better = top >= best
        best = np.where(better, top, best)
        centre = np.where(better[:, None], trial[np.arange(p), j], centre)
        half = half * 0.5
    return best
