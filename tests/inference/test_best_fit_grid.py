"""best_fit must not refine across nearly coincident grid points (regression test)."""

from __future__ import annotations

import numpy as np

from madsbi.inference.limits import best_fit


def test_refinement_skips_nearly_coincident_points() -> None:
    # θ_true appended to a grid that already holds it up to rounding: two points 1e-16 apart.
    grid = np.union1d(np.linspace(-1.5, 1.5, 241), [0.6])
    assert np.diff(grid).min() < 1e-12
    ll = -((grid - 0.6) ** 2) * 50.0
    ll[np.argmin(np.abs(grid - 0.6))] += 1e-9  # rounding-level noise at the duplicate
    theta_hat, top = best_fit(grid, ll)
    assert abs(theta_hat[0] - 0.6) < 1e-9
    assert top <= ll.max() + 1e-6
