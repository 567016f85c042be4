"""Likelihood assembly: exact toy ratios, eq. 49 by hand, rates, ensembles, errors."""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.errors import InputError, ShapeError
from madsbi.inference.likelihood import RateModel, exact_event_coefficients, scan
from madsbi.simulate.toy import ToyModel
from madsbi.theory.polynomial import polynomial_features

ALPHA = 1.5
GRID = np.linspace(-2.0, 2.0, 41)
PHI = polynomial_features(GRID[:, None], [0.0])
RATE = RateModel.build([1.0, 0.0, 1.0])  # σ(θ)/σ(0) = 1 + θ²


def toy_events(rng: np.random.Generator, n: int = 2000, theta: float = 0.6) -> np.ndarray:
    model = ToyModel(ALPHA)
    return model.smear(model.sample_parton(n, theta, rng), rng)


@pytest.mark.parametrize("log1p", [True, False])
def test_exact_toy_mean_log_ratio(rng: np.random.Generator, log1p: bool) -> None:
    model = ToyModel(ALPHA)
    x = toy_events(rng)
    c = exact_event_coefficients(model.reco_coefficients(x, 0.0))
    assert c.shape == (1, 2000, 3)
    np.testing.assert_array_equal(c[..., 0], 1.0)
    result = scan(c, PHI, RATE, thetas=GRID, log1p=log1p)
    assert result.log_ratio_sum.shape == result.rate_ratio.shape == (1, 41)
    assert result.sum_weights == 2000.0
    np.testing.assert_array_equal(result.n_clamped, 0)
    np.testing.assert_allclose(result.rate_ratio[0], 1.0 + GRID**2, rtol=1e-15)
    truth = np.array([model.log_likelihood_ratio(x, t, 0.0).mean() for t in GRID])
    np.testing.assert_allclose(result.mean_log_ratio()[0], truth, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(result.thetas, GRID[:, None])


def test_weighted_mean_log_ratio(rng: np.random.Generator) -> None:
    model = ToyModel(ALPHA)
    x = toy_events(rng, 500)
    w = rng.uniform(0.1, 2.0, 500)
    c = exact_event_coefficients(model.reco_coefficients(x, 0.0))
    result = scan(c, PHI, RATE, thetas=GRID[:, None], weights=w, log1p=True)
    assert result.sum_weights == pytest.approx(w.sum(), rel=1e-15)
    truth = np.array([(w * model.log_likelihood_ratio(x, t, 0.0)).sum() / w.sum() for t in GRID])
    np.testing.assert_allclose(result.mean_log_ratio()[0], truth, rtol=0, atol=1e-10)


def test_log_full_ratio_is_eq_49(rng: np.random.Generator) -> None:
    model = ToyModel(ALPHA)
    x = toy_events(rng, 300)
    w = np.full(300, 0.5)  # an Asimov-like sample: Σ w = 150 events
    c = exact_event_coefficients(model.reco_coefficients(x, 0.0))
    result = scan(c, PHI, RATE, thetas=GRID, weights=w, log1p=True)
    nu0 = 137.0
    rho = 1.0 + GRID**2
    # log r_full = log Pois(n|ν0 ρ)/Pois(n|ν0) + Σ_e w_e log r(x_e|θ, 0)
    log_r = np.array([(w * model.log_likelihood_ratio(x, t, 0.0)).sum() for t in GRID])
    for n_obs in (None, 150.0, 162.0, 0.0):
        n = 150.0 if n_obs is None else n_obs
        poisson = n * np.log(rho) - nu0 * (rho - 1.0)
        expected = poisson + log_r
        got = result.log_full_ratio(nu0, n_obs)
        assert got.shape == (1, 41)
        np.testing.assert_allclose(got[0], expected, rtol=1e-12, atol=1e-9)
        # Written as in the docstring: S − ν0 (ρ − 1) + (n − Σw) log ρ.
        by_hand = result.log_ratio_sum[0] - nu0 * (rho - 1.0) + (n - 150.0) * np.log(rho)
        np.testing.assert_allclose(got[0], by_hand, rtol=1e-14, atol=1e-12)
    # At θ0 every term vanishes.
    assert result.log_full_ratio(nu0, 162.0)[0, 20] == pytest.approx(0.0, abs=1e-12)


def test_rate_from_event_coefficients(rng: np.random.Generator) -> None:
    c = rng.uniform(0.5, 2.0, size=(2, 50, 3))
    w = rng.uniform(0.1, 1.0, 50)
    rate = RateModel.from_event_coefficients(c, w)
    assert rate.coefficients.shape == (2, 3)
    expected = (c * w[None, :, None]).sum(1) / w.sum()
    np.testing.assert_allclose(rate.coefficients, expected, rtol=1e-14)
    np.testing.assert_allclose(
        RateModel.from_event_coefficients(c[0]).coefficients, c[0].mean(0)[None], rtol=1e-14
    )
    np.testing.assert_allclose(rate.ratio(PHI), expected @ PHI.T, rtol=1e-14)
    assert RateModel.build([1.0, 0.0, 1.0]).coefficients.shape == (1, 3)
    with pytest.raises(InputError, match=r"weights: expected shape \(50,\)"):
        RateModel.from_event_coefficients(c, w[:10])
    with pytest.raises(InputError, match="coefficients: expected"):
        RateModel.from_event_coefficients(c[0, 0])


def test_rate_from_exact_coefficients(rng: np.random.Generator) -> None:
    # Exact parton coefficients normalised to c_0 at θ0 = 0: the sample mean of R is σ(θ)/σ(0).
    model = ToyModel(ALPHA)
    z = model.sample_parton(200_000, 0.0, rng)
    rate = RateModel.from_event_coefficients(exact_event_coefficients(model.parton_coefficients(z)))
    rho = rate.ratio(PHI)[0]
    c2 = rate.coefficients[0, 2]
    error = np.std(model.parton_coefficients(z)[:, 2] / model.parton_coefficients(z)[:, 0])
    assert abs(c2 - 1.0) < 5 * error / np.sqrt(200_000)
    np.testing.assert_allclose(rho, 1.0 + c2 * GRID**2, rtol=1e-12)


def test_ensemble_input(rng: np.random.Generator) -> None:
    m, n = 4, 300
    c = np.empty((m, n, 3))
    c[..., 0] = 1.0
    c[..., 1:] = rng.uniform(0.0, 0.5, size=(m, n, 2))
    rate = RateModel.from_event_coefficients(c)
    result = scan(c, PHI, rate, thetas=GRID, log1p=True)
    assert result.log_ratio_sum.shape == result.rate_ratio.shape == (m, 41)
    assert result.mean_log_ratio().shape == (m, 41)
    assert result.log_full_ratio(100.0).shape == (m, 41)
    for member in range(m):
        single = scan(
            c[member], PHI, RateModel(rate.coefficients[member : member + 1]), thetas=GRID
        )
        np.testing.assert_allclose(
            result.log_ratio_sum[member], single.log_ratio_sum[0], rtol=1e-12
        )
        np.testing.assert_allclose(result.rate_ratio[member], single.rate_ratio[0], rtol=1e-15)
    # A shared rate (one row) broadcasts over the members.
    shared = scan(c, PHI, RATE, thetas=GRID)
    np.testing.assert_allclose(shared.rate_ratio, np.broadcast_to(1.0 + GRID**2, (m, 41)))


def test_scan_errors(rng: np.random.Generator) -> None:
    c = np.ones((2, 10, 3))
    with pytest.raises(InputError, match="thetas: expected 41 points like features, got 40"):
        scan(c, PHI, RATE, thetas=GRID[:40])
    with pytest.raises(InputError, match="rate: 3 members, the coefficients have 2"):
        scan(c, PHI, RateModel(np.ones((3, 3))), thetas=GRID)
    with pytest.raises(ShapeError, match="features"):
        scan(c, PHI[:, :2], RATE, thetas=GRID)
    with pytest.raises(ShapeError, match="weights"):
        scan(c, PHI, RATE, thetas=GRID, weights=np.ones(9))
    with pytest.raises(InputError, match="not positive"):
        scan(c, PHI, RateModel.build([1.0, 0.0, -1.0]), thetas=GRID)
    with pytest.raises(InputError, match="c_0 must be > 0"):
        exact_event_coefficients(np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]))
    # Ratios that turn negative are clamped and counted, not silently wrong.
    bad = np.zeros((1, 10, 3))
    bad[..., 0] = 1.0
    bad[0, 0, 2] = -1.0  # R = 1 − θ² ≤ 0 for |θ| ≥ 1
    result = scan(bad, PHI, RATE, thetas=GRID)
    np.testing.assert_array_equal(result.n_clamped[0], 1.0 - GRID**2 <= 0)
