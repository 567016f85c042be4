"""Empirical coverage (eq. 53): the exact toy likelihood covers, a wrong one does not."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from madsbi.errors import InputError
from madsbi.inference.coverage import CoverageResult, p_values_at_truth, run_coverage
from madsbi.inference.likelihood import RateModel, exact_event_coefficients
from madsbi.inference.limits import chi2_quantile, p_value
from madsbi.simulate.toy import ToyModel
from madsbi.theory.polynomial import polynomial_features

ALPHA = 1.5
THETA_TRUE = 0.6
EXPECTED_EVENTS = 500.0
N_TOYS = 200
GAMMAS = (0.68, 0.95)


def grid_with_truth() -> tuple[np.ndarray, int]:
    grid = np.linspace(-1.5, 1.5, 121)
    index = int(np.argmin(np.abs(grid - THETA_TRUE)))
    grid[index] = THETA_TRUE  # exactly, not 0.6000000000000001
    return grid, index


def toy_coverage(
    rng: np.random.Generator, coefficient_alpha: float, n_toys: int = N_TOYS
) -> CoverageResult:
    model = ToyModel(ALPHA)
    x = model.smear(model.sample_parton(20_000, THETA_TRUE, rng), rng)
    grid, index = grid_with_truth()
    c = exact_event_coefficients(ToyModel(coefficient_alpha).reco_coefficients(x, 0.0))[0]
    luminosity = EXPECTED_EVENTS / (1.0 + THETA_TRUE**2)
    return run_coverage(
        c,
        polynomial_features(grid[:, None], [0.0]),
        RateModel.build([1.0, 0.0, 1.0]),
        thetas=grid,
        true_index=index,
        expected_events0=luminosity,  # ν0 = L σ(0), σ(0) = 1
        expected_events_true=EXPECTED_EVENTS,
        n_toys=n_toys,
        gammas=GAMMAS,
        log1p=True,
        rng=rng,
        progress=False,
    )


def test_exact_likelihood_covers(rng: np.random.Generator) -> None:
    result = toy_coverage(rng, ALPHA)
    assert result.dof == 1
    assert result.q_true.shape == (N_TOYS,)
    assert np.all(result.q_true >= 0)
    for gamma, fraction in zip(GAMMAS, result.fractions, strict=True):
        sigma = math.sqrt(gamma * (1 - gamma) / N_TOYS)
        assert abs(fraction - gamma) < 3 * sigma, (gamma, fraction, sigma)
    np.testing.assert_array_equal(result.gammas, GAMMAS)
    # The fractions are those of q(θ_true) ≤ F⁻¹_χ²(γ|1).
    for gamma, fraction in zip(GAMMAS, result.fractions, strict=True):
        assert fraction == np.mean(result.q_true <= chi2_quantile(gamma, 1))
    np.testing.assert_allclose(p_values_at_truth(result), p_value(result.q_true, 1))


def test_wrong_likelihood_undercovers(rng: np.random.Generator) -> None:
    # The ratio of a toy with another separation: a biased θ̂, overconfident regions.
    result = toy_coverage(rng, 2.0)
    for gamma, fraction in zip(GAMMAS, result.fractions, strict=True):
        sigma = math.sqrt(gamma * (1 - gamma) / N_TOYS)
        assert fraction < gamma - 5 * sigma, (gamma, fraction)


def test_coverage_is_reproducible() -> None:
    a = toy_coverage(np.random.default_rng(5), ALPHA, n_toys=20)
    b = toy_coverage(np.random.default_rng(5), ALPHA, n_toys=20)
    np.testing.assert_array_equal(a.q_true, b.q_true)


def test_result_curve_and_dict() -> None:
    q = np.array([0.1, 0.5, 0.9, 1.5, 2.0, 3.0, 4.5, 7.0])
    result = CoverageResult(
        gammas=np.array([0.68, 0.95]),
        fractions=np.array([3 / 8, 6 / 8]),
        errors=np.sqrt(np.array([3 / 8 * 5 / 8, 0.75 * 0.25]) / 8),
        q_true=q,
        dof=1,
    )
    fractions, errors = result.curve([0.05, 0.68, 0.95, 0.999])
    thresholds = [chi2_quantile(g, 1) for g in (0.05, 0.68, 0.95, 0.999)]
    np.testing.assert_array_equal(fractions, [np.mean(q <= t) for t in thresholds])
    np.testing.assert_allclose(fractions[1:3], result.fractions)
    # Binomial errors, with f(1 − f) floored at 1/n so that 0 and 1 get an error too.
    expected = np.sqrt(np.maximum(fractions * (1 - fractions), 1 / 8) / 8)
    np.testing.assert_allclose(errors, expected)
    assert np.all(errors > 0)
    d = result.to_dict()
    assert set(d) == {
        "gammas",
        "fractions",
        "errors",
        "deviation_sigmas",
        "n_toys",
        "dof",
        "q_true",
    }
    assert d["n_toys"] == 8
    assert d["dof"] == 1
    assert d["q_true"] == q.tolist()
    np.testing.assert_allclose(
        d["deviation_sigmas"], (result.fractions - result.gammas) / result.errors
    )
    assert json.loads(json.dumps(d)) == d


def test_run_coverage_errors(rng: np.random.Generator) -> None:
    c = np.ones((10, 3))
    grid = np.linspace(-1.0, 1.0, 5)
    phi = polynomial_features(grid[:, None], [0.0])
    rate = RateModel.build([1.0, 0.0, 1.0])
    kwargs = {
        "thetas": grid,
        "expected_events0": 10.0,
        "expected_events_true": 10.0,
        "rng": rng,
        "progress": False,
    }
    with pytest.raises(InputError, match=r"true_index: expected in \[0, 5\), got 5"):
        run_coverage(c, phi, rate, true_index=5, n_toys=3, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="n_toys: expected >= 1, got 0"):
        run_coverage(c, phi, rate, true_index=2, n_toys=0, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="features"):
        run_coverage(c, phi[:, :2], rate, true_index=2, n_toys=3, **kwargs)  # type: ignore[arg-type]
