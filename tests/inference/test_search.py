"""The fit's maximiser on likelihoods whose maximum is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.inference.search import maximise

LO = np.array([-4.0, -0.4, -0.4])
HI = -LO


def _valley(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random quadratic log-likelihood with a narrow valley mostly along cHWB (as cHWB–cW)."""
    rng = np.random.default_rng(seed)
    star = rng.uniform(0.8 * LO, 0.8 * HI)
    d = np.array([1.0, rng.uniform(-0.3, 0.3), rng.uniform(-0.1, 0.1)])
    q, _ = np.linalg.qr(np.column_stack([d, rng.normal(size=3), rng.normal(size=3)]))
    eigen = [10 ** rng.uniform(-1, 2), 10 ** rng.uniform(5, 7), 10 ** rng.uniform(3, 5)]
    return star, q @ np.diag(eigen) @ q.T


@pytest.mark.parametrize("seed", range(12))
def test_narrow_valleys_reach_the_maximum(seed: int) -> None:
    # The zoomed grid alone stopped short on most of these (log-likelihood deficits up to 9,
    # i.e. q off by up to 18); the Nelder–Mead polish follows the valley.
    star, h = _valley(seed)

    def ll(t: np.ndarray) -> np.ndarray:
        d = t - star
        out: np.ndarray = -0.5 * np.einsum("gi,ij,gj->g", d, h, d)
        return out

    theta, top = maximise(ll, LO, HI)
    assert top >= -1e-6
    assert top == pytest.approx(float(ll(theta[None])[0]), abs=1e-12)


def test_maximum_on_the_box_edge_and_candidates() -> None:
    star = np.array([5.0, 0.1, -0.1])  # outside the box: the maximum is on cHWB = 4

    def ll(t: np.ndarray) -> np.ndarray:
        out: np.ndarray = -np.sum(((t - star) / np.array([1.0, 0.01, 0.01])) ** 2, axis=1)
        return out

    theta, top = maximise(ll, LO, HI)
    np.testing.assert_allclose(theta, [4.0, 0.1, -0.1], atol=1e-6)
    assert top == pytest.approx(-1.0, abs=1e-9)


def test_a_candidate_better_than_the_grid_is_never_lost() -> None:
    # Two separated maxima; the grid finds the broad one, a candidate sits on the sharp,
    # higher one between grid points: the result is at least ll(candidate).
    sharp = np.array([0.123, 0.0371, -0.0219])

    def ll(t: np.ndarray) -> np.ndarray:
        broad = -0.01 * np.sum((t - np.array([-3.0, 0.3, 0.3])) ** 2, axis=1)
        peak = 5.0 * np.exp(-np.sum(((t - sharp) / 1e-4) ** 2, axis=1))
        out: np.ndarray = np.maximum(broad, peak - 4.0)
        return out

    _, without = maximise(ll, LO, HI)
    theta, top = maximise(ll, LO, HI, candidates=[sharp + 2e-5])
    assert top >= float(ll((sharp + 2e-5)[None])[0])
    assert top > without
    np.testing.assert_allclose(theta, sharp, atol=1e-4)
