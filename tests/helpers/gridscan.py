"""Random inputs for the grid-scan tests (CPU and CUDA)."""

from __future__ import annotations

import numpy as np


def random_scan(
    rng: np.random.Generator, m: int, n: int, k: int, g: int, *, spread: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients with c_0 = 1 and features with φ_0 = 1 whose products stay in
    [1 − spread, 1 + spread]: every log argument is well conditioned and positive."""
    coef = rng.uniform(-1.0, 1.0, size=(m, n, k)) / max(1, k - 1)
    coef[..., 0] = 1.0
    feat = rng.uniform(-spread, spread, size=(g, k))
    feat[:, 0] = 1.0
    weights = rng.uniform(0.2, 2.0, size=n)
    weights[rng.random(n) < 0.1] *= -1.0  # signed weights, as from NLO generators
    return coef, feat, weights
