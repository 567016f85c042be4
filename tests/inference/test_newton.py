"""The batched damped Newton ascent: capped steps on objectives that are not concave."""

from __future__ import annotations

import numpy as np

from madsbi.inference.newton import MAX_STEP, capped, newton_maximise


def test_flat_curvature_is_crossed_in_capped_steps() -> None:
    """−√(1 + (α − c)²) is almost flat far from c: the Newton step there is ~c³ long.

    Uncapped, the first trial from α = 0 lands at ≈ 222 for c = 6; capped, no trial passes
    the maximum by more than one step and every point still converges to its c.
    """
    centres = np.array([6.0, -3.0, 0.5])
    seen: list[np.ndarray] = []

    def objective(alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        seen.append(alpha.copy())
        d = alpha[:, 0] - centres
        r = np.sqrt(1.0 + d * d)
        return -r, (-d / r)[:, None], (-1.0 / r**3)[:, None, None]

    alpha, value, done = newton_maximise(objective, np.zeros((3, 1)), [0])
    assert done.all()
    np.testing.assert_allclose(alpha[:, 0], centres, atol=1e-6)
    np.testing.assert_allclose(value, -1.0, atol=1e-10)
    trials = np.concatenate([a[:, 0] for a in seen])
    assert np.abs(trials).max() <= 6.0 + MAX_STEP + 1e-12


def test_capped_keeps_direction_and_short_steps() -> None:
    rng = np.random.default_rng(3)
    step = rng.normal(size=(50, 4)) * rng.choice([0.1, 100.0], size=(50, 1))
    grad = rng.normal(size=(50, 4))
    out, slope = capped(step, grad)
    length = np.linalg.norm(step, axis=1)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), np.minimum(length, MAX_STEP))
    short = length <= MAX_STEP
    np.testing.assert_array_equal(out[short], step[short])
    cosine = np.einsum("pi,pi->p", out, step) / (np.linalg.norm(out, axis=1) * length)
    np.testing.assert_allclose(cosine, 1.0)
    np.testing.assert_allclose(slope, np.einsum("pi,pi->p", grad, out))
