"""The two-Gaussian toy (paper Sec. 3): densities, ratios, coefficients, sampling, stores."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from madsbi.errors import InputError, StoreExistsError
from madsbi.events import schema
from madsbi.events.store import EventStore
from madsbi.simulate.toy import ToyModel, generate_toy_store, normal_pdf

ALPHAS = (1.5, 3.0, 4.0)
#: Fine grid for quadratures: the narrow parton Gaussian has width 0.1.
GRID = np.linspace(-12.0, 17.0, 29_001)


def integrate(values: np.ndarray) -> float:
    return float(np.trapezoid(values, GRID))


def parton_cdf(model: ToyModel, z: np.ndarray, theta: float) -> np.ndarray:
    t2 = theta**2
    return (stats.norm.cdf(z) + t2 * stats.norm.cdf(z, model.alpha, 0.1)) / (1 + t2)


def reco_cdf(model: ToyModel, x: np.ndarray, theta: float) -> np.ndarray:
    t2 = theta**2
    sm = math.sqrt(1 + 0.7**2)
    bsm = math.sqrt(0.1**2 + 0.7**2)
    return (stats.norm.cdf(x, 0.0, sm) + t2 * stats.norm.cdf(x, model.alpha, bsm)) / (1 + t2)


def dsigma_reco(model: ToyModel, x: np.ndarray, theta: float) -> np.ndarray:
    """dσ(x|θ) = σ(θ) p(x|θ)."""
    return (1 + theta**2) * model.reco_density(x, theta)


# -- densities -------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", ALPHAS)
def test_densities_are_normalised(alpha: float) -> None:
    model = ToyModel(alpha)
    for theta in (0.0, 0.4, -1.0, 2.5):
        assert integrate(model.parton_density(GRID, theta)) == pytest.approx(1.0, abs=1e-9)
        assert integrate(model.reco_density(GRID, theta)) == pytest.approx(1.0, abs=1e-9)
        assert np.all(model.reco_density(GRID, theta) >= 0)


def test_reco_widths() -> None:
    model = ToyModel(3.0)
    assert model.reco_sm_width == pytest.approx(1.22, abs=5e-3)
    assert model.reco_bsm_width == pytest.approx(0.71, abs=5e-3)
    assert model.smearing == 0.7


@pytest.mark.parametrize("alpha", ALPHAS)
def test_reco_density_is_convolution(rng: np.random.Generator, alpha: float) -> None:
    model = ToyModel(alpha)
    x = np.sort(rng.uniform(-5.0, alpha + 4.0, 150))
    kernel = normal_pdf(x[:, None] - GRID[None, :], 0.0, 0.7)
    for theta in (0.0, 0.7, -1.8):
        convolved = np.trapezoid(model.parton_density(GRID, theta)[None, :] * kernel, GRID, axis=1)
        np.testing.assert_allclose(model.reco_density(x, theta), convolved, rtol=1e-7, atol=1e-12)


def test_normal_pdf_matches_scipy(rng: np.random.Generator) -> None:
    x = rng.normal(size=100) * 3
    np.testing.assert_allclose(normal_pdf(x, 0.5, 0.3), stats.norm.pdf(x, 0.5, 0.3), rtol=1e-13)


def test_cross_section() -> None:
    np.testing.assert_allclose(ToyModel.cross_section([0.0, 1.0, -2.0]), [1.0, 2.0, 5.0])


# -- likelihood ratio ------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", ALPHAS)
def test_likelihood_ratio_is_normalised(rng: np.random.Generator, alpha: float) -> None:
    model = ToyModel(alpha)
    for _ in range(4):
        theta, theta0 = rng.uniform(-2.0, 2.0, 2)
        r = model.likelihood_ratio(GRID, theta, theta0)
        assert integrate(r * model.reco_density(GRID, theta0)) == pytest.approx(1.0, abs=1e-9)
    assert np.all(model.likelihood_ratio(GRID, 0.3, 0.3) == 1.0)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_likelihood_ratio_inverse(rng: np.random.Generator, alpha: float) -> None:
    model = ToyModel(alpha)
    x = rng.uniform(-4.0, alpha + 3.0, 500)
    for _ in range(4):
        theta0, theta1 = rng.uniform(-2.0, 2.0, 2)
        forward = model.likelihood_ratio(x, theta1, theta0)
        backward = model.likelihood_ratio(x, theta0, theta1)
        np.testing.assert_allclose(forward * backward, 1.0, rtol=1e-13)
        np.testing.assert_allclose(
            model.log_likelihood_ratio(x, theta1, theta0), np.log(forward), rtol=1e-13, atol=1e-15
        )
    # The default reference is θ0 = 0.
    np.testing.assert_array_equal(model.likelihood_ratio(x, 0.8), model.likelihood_ratio(x, 0.8, 0))


def test_likelihood_ratio_analytic_form(rng: np.random.Generator) -> None:
    model = ToyModel(3.0)
    x = rng.uniform(-4.0, 6.0, 100)
    theta, theta0 = 0.9, -0.4
    m1 = stats.norm.pdf(x, 0.0, math.sqrt(1.49))
    m2 = stats.norm.pdf(x, 3.0, math.sqrt(0.5))
    expected = (1 + theta0**2) * (m1 + theta**2 * m2) / ((1 + theta**2) * (m1 + theta0**2 * m2))
    np.testing.assert_allclose(model.likelihood_ratio(x, theta, theta0), expected, rtol=1e-12)


# -- coefficients and derivatives ------------------------------------------------------------


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("theta0", [0.0, 0.6, -1.3])
def test_coefficients_reproduce_dsigma(
    rng: np.random.Generator, alpha: float, theta0: float
) -> None:
    model = ToyModel(alpha)
    z = rng.uniform(-4.0, alpha + 1.0, 300)
    cz = model.parton_coefficients(z, theta0)
    cx = model.reco_coefficients(z, theta0)
    assert cz.shape == cx.shape == (300, 3)
    for theta in rng.uniform(-2.5, 2.5, 5):
        d = theta - theta0
        phi = np.array([1.0, d, d * d])
        # Relative to Σ|c_k φ_k|: the 2 θ0 D2 Δθ term can cancel against the others.
        for c, exact in (
            (cz, (1 + theta**2) * model.parton_density(z, theta)),
            (cx, dsigma_reco(model, z, theta)),
        ):
            scale = np.abs(c) @ np.abs(phi)
            np.testing.assert_array_less(np.abs(c @ phi - exact), 1e-13 * scale + 1e-300)
            big = np.abs(exact) > 0.5 * scale
            np.testing.assert_allclose((c @ phi)[big], exact[big], rtol=1e-13)
    # c_0 is dσ at θ0 itself.
    np.testing.assert_allclose(cx[:, 0], dsigma_reco(model, z, theta0), rtol=1e-14)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("theta0", [0.0, 0.5, -1.1])
def test_reco_derivatives_are_finite_differences(
    rng: np.random.Generator, alpha: float, theta0: float
) -> None:
    model = ToyModel(alpha)
    x = rng.uniform(-4.0, alpha + 3.0, 400)

    def ratio(theta: float) -> np.ndarray:
        return dsigma_reco(model, x, theta) / dsigma_reco(model, x, theta0)

    first, second = model.reco_derivatives(x, theta0)
    h1, h2 = 1e-5, 1e-3
    fd1 = (ratio(theta0 + h1) - ratio(theta0 - h1)) / (2 * h1)
    fd2 = (ratio(theta0 + h2) - 2 * ratio(theta0) + ratio(theta0 - h2)) / h2**2
    scale = np.maximum(1.0, np.abs(ratio(theta0 + 1.0)))
    np.testing.assert_array_less(np.abs(first - fd1) / scale, 1e-8)
    np.testing.assert_array_less(np.abs(second - fd2) / scale, 1e-6)
    # R is quadratic in θ: the Taylor series with these derivatives is exact.
    d = 0.8
    np.testing.assert_allclose(ratio(theta0 + d), 1 + d * first + 0.5 * d**2 * second, rtol=1e-11)


# -- sampling --------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("theta", [0.0, 0.8, -1.5])
def test_samples_follow_densities(rng: np.random.Generator, alpha: float, theta: float) -> None:
    model = ToyModel(alpha)
    z = model.sample_parton(20_000, theta, rng)
    x = model.smear(z, rng)
    assert z.shape == x.shape == (20_000,)
    assert stats.kstest(z, lambda v: parton_cdf(model, v, theta)).pvalue > 1e-3
    assert stats.kstest(x, lambda v: reco_cdf(model, v, theta)).pvalue > 1e-3
    assert stats.kstest(x - z, stats.norm(0.0, 0.7).cdf).pvalue > 1e-3
    # The tests have power: the sample is far from the θ = 2 distribution.
    assert stats.kstest(x, lambda v: reco_cdf(model, v, 2.0)).pvalue < 1e-6


def test_sampling_is_reproducible() -> None:
    model = ToyModel(3.0)
    a = model.smear(
        model.sample_parton(100, 1.0, np.random.default_rng(5)), np.random.default_rng(6)
    )
    b = model.smear(
        model.sample_parton(100, 1.0, np.random.default_rng(5)), np.random.default_rng(6)
    )
    np.testing.assert_array_equal(a, b)


# -- bad input -------------------------------------------------------------------------------


def test_model_bad_input() -> None:
    with pytest.raises(InputError, match="alpha: expected a finite number"):
        ToyModel(math.nan)
    for smearing in (0.0, -0.7, math.inf):
        with pytest.raises(InputError, match="smearing: expected a finite width > 0"):
            ToyModel(3.0, smearing=smearing)
    model = ToyModel(3.0)
    with pytest.raises(InputError, match="theta: expected a finite number"):
        model.reco_density([0.0], math.nan)
    with pytest.raises(InputError, match="theta0: expected a finite number"):
        model.reco_coefficients([0.0], math.inf)
    with pytest.raises(InputError, match="x: non-finite"):
        model.reco_density([0.0, math.nan], 1.0)


# -- event stores ----------------------------------------------------------------------------


def read_all(path: Path) -> dict[str, np.ndarray]:
    with EventStore(path) as store:
        parton = store.read(schema.PARTON)
        reco = store.read(schema.RECO)
        out = {f"parton/{k}": np.asarray(v) for k, v in parton.arrays.items()}
        out |= {f"reco/{k}": np.asarray(v) for k, v in reco.arrays.items()}
    return out


def test_store_contents(tmp_path: Path) -> None:
    path = tmp_path / "toy.h5"
    theta, theta0 = 0.8, 0.3
    out = generate_toy_store(
        path, alpha=4.0, theta=theta, theta0=theta0, n_events=7_000, seed=11, chunk_size=3_000
    )
    assert out == path
    with EventStore(path) as store:
        assert store.groups == (schema.PARTON, schema.RECO)
        assert store.n_events(schema.PARTON) == store.n_events(schema.RECO) == 7_000
        assert set(store.fields(schema.PARTON)) == {"weight", "coefficients", "features"}
        assert set(store.fields(schema.RECO)) >= {"x", "weight", "parent", "copy_index"}
        assert store.column_names(schema.PARTON, "features") == ["z"]
        assert store.column_names(schema.RECO, "x") == ["x"]
        meta = store.meta
        assert meta.space.names == ("theta",)
        assert meta.space.theta0 == (theta0,)
        np.testing.assert_allclose(meta.basis_points, [[theta0 - 1], [theta0], [theta0 + 1]])
        assert meta.attributes["alpha"] == 4.0
        assert meta.attributes["theta_generated"] == theta
        assert meta.attributes["smearing"] == 0.7
        assert [s.seed for s in meta.shards] == [11]
        assert sum(s.n_events for s in meta.shards) == 7_000
    data = read_all(path)
    z = data["parton/features"][:, 0]
    c = data["parton/coefficients"]
    weight = data["parton/weight"]
    assert c.shape == (7_000, 3)
    assert c.dtype == np.float64
    # Mean weight is σ(θ) = 1 + θ² (every event carries it).
    assert weight.mean() == pytest.approx(1 + theta**2, rel=1e-14)
    np.testing.assert_allclose(data["reco/weight"], weight, rtol=0)
    # Each event's coefficients reproduce its weight at θ and are ∝ the analytic c(z).
    d = theta - theta0
    np.testing.assert_allclose(c @ [1.0, d, d * d], weight, rtol=1e-12)
    analytic = ToyModel(4.0).parton_coefficients(z, theta0)
    factor = weight / (analytic @ [1.0, d, d * d])
    np.testing.assert_allclose(c, analytic * factor[:, None], rtol=1e-12, atol=0)
    # Reco rows are one copy per parent, in parent order across chunks.
    np.testing.assert_array_equal(data["reco/parent"], np.arange(7_000))
    np.testing.assert_array_equal(data["reco/copy_index"], 0)
    np.testing.assert_array_equal(data["reco/smearing_weight"], 1.0)
    assert data["reco/x"].shape == (7_000, 1)
    assert stats.kstest(data["reco/x"][:, 0] - z, stats.norm(0.0, 0.7).cdf).pvalue > 1e-3


def test_store_morphs_to_other_theta(tmp_path: Path) -> None:
    path = tmp_path / "toy.h5"
    theta, theta0 = 1.0, 0.5
    n = 200_000
    generate_toy_store(path, alpha=3.0, theta=theta, theta0=theta0, n_events=n, seed=4)
    data = read_all(path)
    c = data["parton/coefficients"]
    with EventStore(path) as store:
        for other in (0.0, 0.5, -0.5, 1.5, 2.0):
            d = other - theta0
            w = c @ [1.0, d, d * d]
            error = w.std() / math.sqrt(n)
            assert abs(w.mean() - (1 + other**2)) < 5 * error, other
            # The store's σ(θ) from its basis cross-sections is the same event mean.
            assert store.cross_section([other])[0] == pytest.approx(w.mean(), rel=1e-10)
        # dσ(z|−θ) = dσ(z|θ): at θ' = −1 every event has its generated weight.
        d = -1.0 - theta0
        np.testing.assert_allclose(c @ [1.0, d, d * d], 2.0, rtol=1e-12)
        # The basis is θ0 − 1, θ0, θ0 + 1 and σ(θ_b) = mean weight there.
        sigma_b = store.meta.basis_cross_sections
        assert sigma_b is not None
        np.testing.assert_allclose(sigma_b, [np.mean(c @ [1.0, e, e * e]) for e in (-1, 0, 1)])


def test_store_is_deterministic(tmp_path: Path) -> None:
    kwargs = {"alpha": 1.5, "theta": 0.5, "n_events": 3_000, "chunk_size": 1_000}
    a = generate_toy_store(tmp_path / "a.h5", seed=9, **kwargs)
    b = generate_toy_store(tmp_path / "b.h5", seed=9, **kwargs)
    c = generate_toy_store(tmp_path / "c.h5", seed=10, **kwargs)
    da, db, dc = read_all(a), read_all(b), read_all(c)
    assert da.keys() == db.keys()
    for key in da:
        np.testing.assert_array_equal(da[key], db[key], err_msg=key)
    assert not np.array_equal(da["parton/features"], dc["parton/features"])
    assert not np.array_equal(da["reco/x"], dc["reco/x"])


def test_store_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "toy.h5"
    with pytest.raises(InputError, match="n_events: expected >= 1, got 0"):
        generate_toy_store(path, alpha=3.0, theta=1.0, n_events=0)
    with pytest.raises(InputError, match="chunk_size: expected >= 1, got 0"):
        generate_toy_store(path, alpha=3.0, theta=1.0, n_events=10, chunk_size=0)
    with pytest.raises(InputError, match="theta: expected a finite number"):
        generate_toy_store(path, alpha=3.0, theta=math.nan, n_events=10)
    with pytest.raises(InputError, match="theta0: expected a finite number"):
        generate_toy_store(path, alpha=3.0, theta=1.0, theta0=math.inf, n_events=10)
    assert not path.exists()
    generate_toy_store(path, alpha=3.0, theta=1.0, n_events=10)
    with pytest.raises(StoreExistsError):
        generate_toy_store(path, alpha=3.0, theta=1.0, n_events=10)
    generate_toy_store(path, alpha=3.0, theta=1.0, n_events=20, overwrite=True)
    with EventStore(path) as store:
        assert store.n_events() == 20


# -- counter-based smearing (fractional smearing) --------------------------------------------


@pytest.mark.parametrize("width", [0.7, 0.3])
def test_smear_with_seeds(rng: np.random.Generator, width: float) -> None:
    from madsbi.simulate._smearing_reference import copy_seeds

    model = ToyModel(3.0, smearing=width)
    n = 200_000
    z = rng.normal(size=n) * 2.0
    seeds = copy_seeds(int(rng.integers(2**62)), rng.integers(0, 10**9, n), rng.integers(0, 100, n))
    x = model.smear_with_seeds(z, seeds)
    assert x.shape == (n,)
    assert x.dtype == np.float64
    d = x - z
    # Moments of N(0, width²) with 5σ tolerances from the sample size.
    assert abs(d.mean()) < 5 * width / math.sqrt(n)
    assert abs(d.var() - width**2) < 5 * width**2 * math.sqrt(2 / n)
    assert abs(np.mean(d**4) - 3 * width**4) < 5 * width**4 * math.sqrt(96 / n)
    assert stats.kstest(d, stats.norm(0.0, width).cdf).pvalue > 1e-3
    # Neighbouring copies are uncorrelated; consecutive integer seeds too.
    assert abs(np.corrcoef(d[:-1], d[1:])[0, 1]) < 5 / math.sqrt(n)
    d_int = model.smear_with_seeds(np.zeros(n), np.arange(n, dtype=np.uint64))
    assert stats.kstest(d_int, stats.norm(0.0, width).cdf).pvalue > 1e-3
    assert abs(np.corrcoef(d_int[:-1], d_int[1:])[0, 1]) < 5 / math.sqrt(n)
    # Reproducible, and a copy's x depends only on its own seed: any split gives the same.
    np.testing.assert_array_equal(model.smear_with_seeds(z, seeds.copy()), x)
    cuts = np.sort(rng.integers(0, n, 5))
    parts = [
        model.smear_with_seeds(zp, sp)
        for zp, sp in zip(np.split(z, cuts), np.split(seeds, cuts), strict=True)
    ]
    np.testing.assert_array_equal(np.concatenate(parts), x)
    order = rng.permutation(n)
    np.testing.assert_array_equal(model.smear_with_seeds(z[order], seeds[order]), x[order])
    # Other seeds, other increments.
    other = model.smear_with_seeds(z, seeds + np.uint64(1))
    assert np.mean(other == x) < 1e-3
    with pytest.raises(InputError, match=r"seeds: expected shape \(3,\), got \(2,\)"):
        model.smear_with_seeds(np.zeros(3), np.arange(2, dtype=np.uint64))
