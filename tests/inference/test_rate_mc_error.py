"""The rate's MC error (issue 25 item 2): rate_mc_error against a direct computation."""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.errors import InputError
from madsbi.inference.rate import rate_mc_error


def _direct(v: np.ndarray, r: np.ndarray) -> tuple[float, float, float]:
    t = [float(a * b) for a, b in zip(v, r, strict=True)]
    total, norm = sum(t), float(sum(v))
    rho = total / norm
    sigma = np.sqrt(sum(x * x for x in t)) / total
    ratio = np.sqrt(sum((x - rho * w) ** 2 for x, w in zip(t, v, strict=True))) / norm / rho
    return sigma, ratio, total**2 / sum(x * x for x in t)


def test_against_a_direct_computation() -> None:
    rng = np.random.default_rng(7)
    v = rng.exponential(1e-3, 500)
    ratios = rng.uniform(0.2, 3.0, (4, 500))
    out = rate_mc_error(v, ratios)
    assert set(out) == {"sigma_relative", "ratio_relative", "n_eff"}
    for g in range(4):
        sigma, ratio, n_eff = _direct(v, ratios[g])
        assert out["sigma_relative"][g] == pytest.approx(sigma, rel=1e-12)
        assert out["ratio_relative"][g] == pytest.approx(ratio, rel=1e-12)
        assert out["n_eff"][g] == pytest.approx(n_eff, rel=1e-12)
    one = rate_mc_error(v, ratios[2])
    assert one["n_eff"].shape == ()
    assert float(one["ratio_relative"]) == pytest.approx(out["ratio_relative"][2], rel=1e-14)


def test_limits() -> None:
    v = np.full(400, 0.01)
    # Equal weights at θ0: σ̂'s error is 1/sqrt(n), ρ̂ = 1 exactly (no error).
    at_theta0 = rate_mc_error(v, np.ones(400))
    assert float(at_theta0["sigma_relative"]) == pytest.approx(1 / 20)
    assert float(at_theta0["n_eff"]) == pytest.approx(400)
    assert float(at_theta0["ratio_relative"]) == pytest.approx(0.0, abs=1e-12)


def test_refusals() -> None:
    with pytest.raises(InputError, match="ratios"):
        rate_mc_error(np.ones(3), np.ones((2, 4)))
    with pytest.raises(InputError, match="> 0"):
        rate_mc_error(np.ones(3), -np.ones(3))
