"""Binned (histogram) and rate-only likelihoods, and the K-factor on the expected count."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import poisson

from madsbi.errors import InputError, ShapeError
from madsbi.inference.binned import (
    MT_WZ_EDGES_GEV,
    BinnedModel,
    bin_index,
    binned_scan,
    n_bins,
    poisson_log_likelihood,
    rate_only_scan,
)
from madsbi.inference.likelihood import RateModel, expected_events
from madsbi.theory.polynomial import polynomial_features

from helpers.likelihood import quadratic_events


def grid2d(per_axis: int = 11) -> np.ndarray:
    axis = np.linspace(-0.5, 0.5, per_axis)
    return np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)


def test_bin_index_by_hand() -> None:
    edges = [200.0, 400.0, 1000.0]
    x = [100.0, 200.0, 399.9, 400.0, 999.0, 1000.0, 5000.0]
    # (−∞, 200) [200, 400) [400, 1000) [1000, ∞)
    np.testing.assert_array_equal(bin_index(x, edges), [0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(bin_index(x, edges, underflow=False), [-1, 0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(
        bin_index(x, edges, underflow=False, overflow=False), [-1, 0, 0, 1, 1, -1, -1]
    )
    np.testing.assert_array_equal(bin_index(x, edges, overflow=False), [0, 1, 1, 2, 2, -1, -1])
    np.testing.assert_array_equal(bin_index(x, []), np.zeros(7))
    assert n_bins(edges) == 4
    assert n_bins(edges, underflow=False, overflow=False) == 2
    assert n_bins(MT_WZ_EDGES_GEV, underflow=False) == 7  # the paper's seven bins
    assert n_bins([]) == 1


def test_per_bin_quadratics_by_hand() -> None:
    rng = np.random.default_rng(1)
    c = quadratic_events(rng, 300, 2)
    mt = rng.uniform(0.0, 3000.0, 300)
    w = rng.uniform(0.5, 1.5, 300)
    model = BinnedModel.from_events(mt, c, edges=MT_WZ_EDGES_GEV, weights=w, underflow=False)
    assert model.n_bins == 7
    index = bin_index(mt, MT_WZ_EDGES_GEV, underflow=False)
    for b in range(7):
        expected = sum(w[e] * c[e] for e in range(300) if index[e] == b)
        np.testing.assert_allclose(model.coefficients[b], expected, rtol=1e-12)
    # σ_b(θ) at a few points by explicit loops over the events.
    thetas = np.array([[0.0, 0.0], [0.3, -0.2], [-1.0, 2.0]])
    phi = polynomial_features(thetas, np.zeros(2))
    sigma = model.cross_sections(phi)
    for g in range(3):
        for b in range(7):
            direct = sum(w[e] * float(c[e] @ phi[g]) for e in range(300) if index[e] == b)
            assert sigma[g, b] == pytest.approx(direct, rel=1e-12)
    # Rate only: one bin with every event.
    total = BinnedModel.rate_only(c, w)
    assert total.n_bins == 1
    np.testing.assert_allclose(total.coefficients[0], (w[:, None] * c).sum(0), rtol=1e-12)
    np.testing.assert_allclose(total.counts(mt, w), [w.sum()])
    # Counts of observed events: a histogram.
    np.testing.assert_array_equal(
        model.counts(mt), [np.sum(index == b) for b in range(model.n_bins)]
    )


def test_poisson_log_likelihood_by_hand() -> None:
    nu = np.array([[2.0, 0.5, 3.0], [1.0, 4.0, 0.0], [1.0, -0.1, 2.0], [1.0, 0.0, 2.0]])
    n = np.array([3.0, 0.0, 1.0])
    ll = poisson_log_likelihood(nu, n)
    by_hand = [
        3 * math.log(2.0) - 2.0 - 0.5 + math.log(3.0) - 3.0,
        3 * math.log(1.0) - 1.0 - 4.0 - math.inf,  # ν = 0 with n = 1: impossible
        -math.inf,  # negative ν
        3 * math.log(1.0) - 1.0 - 0.0 + math.log(2.0) - 2.0,  # ν = 0 with n = 0 is fine
    ]
    np.testing.assert_allclose(ll, by_hand, rtol=1e-14)
    # Against scipy's Poisson (which keeps −log n!, a constant).
    pts = np.array([[2.0, 0.5, 3.0], [0.7, 1.3, 0.2]])
    ref = poisson.logpmf(n, pts).sum(1)
    np.testing.assert_allclose(
        poisson_log_likelihood(pts, n) - ref, np.full(2, sum(math.lgamma(k + 1) for k in n))
    )


def test_asimov_q_vanishes_at_the_truth_and_is_nonnegative() -> None:
    rng = np.random.default_rng(2)
    c = quadratic_events(rng, 2000, 2)
    mt = rng.gamma(2.0, 300.0, 2000)
    grid = grid2d()
    phi = polynomial_features(grid, np.zeros(2))
    model = BinnedModel.from_events(mt, c, edges=MT_WZ_EDGES_GEV, weights=np.full(2000, 0.05))
    i0 = int(np.argmin(np.abs(grid).sum(1)))
    scan = binned_scan(model, phi, luminosity=300.0, asimov_features=phi[i0])
    assert scan.best_index == i0
    assert scan.q[i0] == 0.0
    assert np.all(scan.q >= 0.0)
    assert scan.q.max() > 1.0  # the histogram constrains θ
    # Asimov data at another grid point: the minimum moves there.
    ia = 37
    moved = binned_scan(model, phi, luminosity=300.0, asimov_features=phi[ia])
    assert moved.best_index == ia
    assert moved.q[ia] == 0.0
    # The rate-only model constrains less than the histogram everywhere.
    rate = binned_scan(
        BinnedModel.rate_only(c, np.full(2000, 0.05)),
        phi,
        luminosity=300.0,
        asimov_features=phi[i0],
    )
    assert rate.q[i0] == 0.0
    assert np.all(rate.q >= 0.0)
    assert np.all(rate.q <= scan.q + 1e-9)


def test_observed_counts_by_hand() -> None:
    rng = np.random.default_rng(3)
    c = quadratic_events(rng, 500, 2)
    mt = rng.gamma(2.0, 300.0, 500)
    model = BinnedModel.from_events(mt, c, edges=[300.0, 800.0], weights=np.full(500, 0.01))
    phi = polynomial_features(grid2d(5), np.zeros(2))
    observed = np.array([4.0, 1.0, 0.0])
    scan = binned_scan(
        model, phi, luminosity=100.0, observed=observed, rate_factor=1.5, mc_uncertainty=False
    )
    nu = 1.5 * 100.0 * phi @ model.coefficients.T
    ll = np.array([sum(poisson.logpmf(observed[b], nu[g, b]) for b in range(3)) for g in range(25)])
    np.testing.assert_allclose(scan.q, -2.0 * (ll - ll.max()), rtol=1e-10, atol=1e-12)
    assert scan.best_index == int(np.argmax(ll))
    np.testing.assert_array_equal(scan.observed, observed)


def test_rate_factor_scales_the_expected_count() -> None:
    assert expected_events(300.0, 0.25) == pytest.approx(75.0)
    assert expected_events(300.0, 0.25, rate_factor=1.8) == pytest.approx(135.0)
    np.testing.assert_allclose(expected_events(2.0, [1.0, 3.0], 1.5), [3.0, 9.0])
    rng = np.random.default_rng(4)
    c = quadratic_events(rng, 400, 2)
    mt = rng.gamma(2.0, 300.0, 400)
    model = BinnedModel.from_events(mt, c, edges=MT_WZ_EDGES_GEV)
    phi = polynomial_features(grid2d(7), np.zeros(2))
    with_k = binned_scan(model, phi, luminosity=10.0, asimov_features=phi[24], rate_factor=2.0)
    doubled = binned_scan(model, phi, luminosity=20.0, asimov_features=phi[24])
    np.testing.assert_allclose(with_k.q, doubled.q, rtol=1e-12)
    with pytest.raises(InputError, match="rate_factor: expected a finite value > 0"):
        expected_events(300.0, 0.25, rate_factor=0.0)
    with pytest.raises(InputError, match="luminosity: expected >= 0"):
        expected_events(-1.0, 0.25)


def test_rate_only_scan_equals_the_one_bin_model() -> None:
    rng = np.random.default_rng(5)
    c = quadratic_events(rng, 600, 2)
    sigma0 = 0.4  # σ(θ0) of the sample; each event carries σ0/N
    weights = np.full(600, sigma0 / 600)
    phi = polynomial_features(grid2d(9), np.zeros(2))
    lumi, k = 3000.0, 1.2
    nu0 = float(expected_events(lumi, sigma0, k))
    a = rate_only_scan(RateModel.from_event_coefficients(c), phi, expected_events0=nu0)
    b = binned_scan(
        BinnedModel.rate_only(c, weights),
        phi,
        luminosity=lumi,
        asimov_features=phi[40],
        rate_factor=k,
        mc_uncertainty=False,
    )
    assert a.best_index == b.best_index == 40
    np.testing.assert_allclose(a.q, b.q, rtol=1e-9, atol=1e-9)
    # Observed count: n log ν − ν by hand.
    obs = rate_only_scan(
        RateModel.from_event_coefficients(c), phi, expected_events0=nu0, observed=1500
    )
    nu = nu0 * (phi @ c.mean(0))
    ll = 1500 * np.log(nu) - nu
    np.testing.assert_allclose(obs.q, -2.0 * (ll - ll.max()), rtol=1e-9, atol=1e-9)


def test_binned_errors() -> None:
    c = np.ones((3, 3))
    with pytest.raises(InputError, match="edges: expected strictly increasing"):
        bin_index([1.0], [2.0, 1.0])
    with pytest.raises(InputError, match="observable: non-finite"):
        bin_index([np.nan], [1.0])
    with pytest.raises(ShapeError, match="observable: expected 3 values"):
        BinnedModel.from_events([1.0, 2.0], c, edges=[1.5])
    with pytest.raises(ShapeError, match="weights"):
        BinnedModel.from_events([1.0, 2.0, 3.0], c, edges=[1.5], weights=[1.0])
    model = BinnedModel.from_events([1.0, 2.0, 3.0], c, edges=[1.5])
    phi = polynomial_features(np.linspace(-1, 1, 5)[:, None], [0.0])
    with pytest.raises(InputError, match="exactly one of observed and asimov_features"):
        binned_scan(model, phi, luminosity=1.0)
    with pytest.raises(InputError, match="exactly one of observed and asimov_features"):
        binned_scan(model, phi, luminosity=1.0, observed=[1.0, 2.0], asimov_features=phi[0])
    with pytest.raises(ShapeError, match="observed"):
        binned_scan(model, phi, luminosity=1.0, observed=[1.0])
    with pytest.raises(InputError, match="observed: expected counts >= 0"):
        binned_scan(model, phi, luminosity=1.0, observed=[1.0, -2.0])
    with pytest.raises(InputError, match="rate: expected one member"):
        rate_only_scan(RateModel.build(np.ones((2, 3))), phi, expected_events0=1.0)


def test_a_data_event_in_an_empty_model_bin_gives_a_finite_q() -> None:
    # Model events only below 800 GeV; one observed event in the overflow bin [1000, ∞).
    rng = np.random.default_rng(6)
    c = quadratic_events(rng, 400, 2)
    mt = rng.uniform(200.0, 800.0, 400)
    model = BinnedModel.from_events(mt, c, edges=MT_WZ_EDGES_GEV, weights=np.full(400, 0.01))
    empty = int(bin_index([1200.0], MT_WZ_EDGES_GEV)[0])  # [1000, 1500)
    assert model.coefficients[empty].tolist() == [0.0] * c.shape[1]
    phi = polynomial_features(grid2d(7), np.zeros(2))
    observed = model.counts(np.concatenate([mt[:30], [1200.0]]))
    assert observed[empty] == 1.0
    plain = poisson_log_likelihood(model.expected(phi, 10.0), observed)
    assert np.isneginf(plain).all()  # without the MC error: −∞ everywhere
    with pytest.raises(InputError, match="no grid point"):
        binned_scan(model, phi, luminosity=10.0, observed=observed, mc_uncertainty=False)
    scan = binned_scan(model, phi, luminosity=10.0, observed=observed)
    assert np.isfinite(scan.log_likelihood).all()
    assert np.isfinite(scan.q).all()
    assert scan.q.max() > 0.0


def test_with_a_huge_mc_sample_the_mc_error_vanishes() -> None:
    rng = np.random.default_rng(7)
    observed = np.array([40.0, 25.0, 12.0, 3.0])
    phi = polynomial_features(grid2d(9), np.zeros(2))
    differences = []
    for n_mc in (1_000, 100_000):
        c = quadratic_events(rng, n_mc, 2)
        mt = rng.gamma(2.0, 300.0, n_mc)
        model = BinnedModel.from_events(
            mt, c, edges=[300.0, 600.0, 1200.0], weights=np.full(n_mc, 1.0 / n_mc)
        )
        plain = binned_scan(model, phi, luminosity=80.0, observed=observed, mc_uncertainty=False)
        mc = binned_scan(model, phi, luminosity=80.0, observed=observed)
        # Profiling a per-bin nuisance can only raise log L; q is flattened, never steepened much.
        assert (mc.log_likelihood >= plain.log_likelihood - 1e-9).all()
        differences.append(float(np.max(np.abs(mc.q - plain.q))))
    assert differences[1] < 0.05 * differences[0]
    assert differences[1] < 0.02


def test_mc_error_by_hand_one_bin() -> None:
    # One bin, two events: ν = L Σ w C·Φ, σ² = L² Σ (w C·Φ)², m = ν²/σ², β̂ = (n + m)/(ν + m).
    c = np.array([[1.0, 0.5, 0.1], [1.0, -0.2, 0.3]])
    w = np.array([0.3, 0.7])
    model = BinnedModel.rate_only(c, w)
    phi = polynomial_features(np.array([[-0.5], [0.0], [0.7]]), [0.0])
    lumi, n = 20.0, 9.0
    scan = binned_scan(model, phi, luminosity=lumi, observed=[n])
    for g in range(3):
        per_event = lumi * w * (c @ phi[g])
        nu, var = per_event.sum(), (per_event**2).sum()
        m = nu**2 / var
        beta = (n + m) / (nu + m)
        expected = n * math.log(beta * nu) - beta * nu + m * math.log(beta) - m * (beta - 1.0)
        assert scan.log_likelihood[g] == pytest.approx(expected, rel=1e-12)
    bare = BinnedModel(model.coefficients, model.edges)  # no per-bin squares
    with pytest.raises(InputError, match="from_events"):
        binned_scan(bare, phi, luminosity=lumi, observed=[n])
