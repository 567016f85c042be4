"""Mixture training sets (weights by cross-section) and the four likelihood models of a mixture."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from madsbi.errors import InputError, WeightError
from madsbi.inference.mixture import collapse
from madsbi.inference.mixture_models import (
    factorised_model,
    mixture_model,
    one_hot,
    oracle_labelled_model,
    oracle_unlabelled_model,
    own_or,
    pooled_model,
)
from madsbi.inference.processes import (
    ProcessSample,
    classifier_data,
    expected_yields,
    from_reco_samples,
    labels,
    mixture_rate,
    pooled_training_set,
    reference_sample,
)
from madsbi.inference.rate import RateModel
from madsbi.studies.toy_mixture import default_toy
from madsbi.theory.polynomial import polynomial_features

THETA0 = np.zeros(1)
GRID = np.linspace(-1.5, 1.5, 31)[:, None]
TOY = default_toy()


def features(thetas: np.ndarray) -> np.ndarray:
    return polynomial_features(thetas, THETA0)


# -- training sets ------------------------------------------------------------------------
def test_process_sample_pads_a_theta_independent_column_and_scales() -> None:
    p = ProcessSample.build("fakes", [0.1, 0.2], [[2.0], [3.0]], [0.5, 0.25], n_coefficients=3)
    np.testing.assert_array_equal(p.coefficients, [[2.0, 0, 0], [3.0, 0, 0]])
    assert not p.theta_dependent
    assert p.sigma0 == 0.75
    np.testing.assert_array_equal(p.rate().coefficients, [[1.0, 0, 0]])
    assert p.scaled(2.0).sigma0 == 1.5
    assert p.scaled(0.0).sigma0 == 0.0
    with pytest.raises(InputError, match="embed"):
        ProcessSample.build("zz", [0.1], [[1.0, 0.1]], [1.0], n_coefficients=3)
    with pytest.raises(WeightError, match="c_e0"):
        ProcessSample.build("zz", [0.1], [[0.0, 0.1, 0.0]], [1.0])
    with pytest.raises(InputError, match="factor"):
        p.scaled(-1.0)


def test_reference_sample_reweights_to_theta0() -> None:
    rng = np.random.default_rng(1)
    c = np.stack([np.ones(50), rng.normal(0, 0.3, 50), rng.uniform(0, 0.2, 50)], axis=1)
    theta_gen = np.array([0.8])
    p = reference_sample(
        "s", rng.normal(size=50), c, np.ones(50), theta_gen=theta_gen, sigma_gen=2.0, theta0=THETA0
    )
    own = c @ features(theta_gen[None])[0]
    np.testing.assert_allclose(p.weights, 2.0 / 50 * c[:, 0] / own, rtol=1e-13)


def test_from_reco_samples_pools_stores_of_one_process_by_mis() -> None:
    rng = np.random.default_rng(2)

    def store(theta: float, n: int) -> SimpleNamespace:
        c = np.stack([np.ones(n), rng.normal(0, 0.3, n), rng.uniform(0.05, 0.2, n)], axis=1)
        return SimpleNamespace(
            x=rng.normal(size=(n, 2)), coefficients=c, weights=np.full(n, 1.5 / n),
            theta_gen=np.array([theta]), sigma_gen=1.5, n_parents=n,
        )  # fmt: skip

    stores = [store(0.0, 40), store(1.0, 60)]
    p = from_reco_samples("wz", stores, THETA0)
    assert p.n_events == 100
    assert p.x.shape == (100, 2)
    # the balance heuristic: v_e = c_e0 / Σ_j n_j c_e·φ(θ_j)/σ_j
    phis = features(np.array([[0.0], [1.0]]))
    c = p.coefficients
    mix = 40 * (c @ phis[0]) / 1.5 + 60 * (c @ phis[1]) / 1.5
    np.testing.assert_allclose(p.weights, c[:, 0] / mix, rtol=1e-12)
    with pytest.raises(InputError, match="no samples"):
        from_reco_samples("wz", [], THETA0)


def test_classifier_data_and_pooled_set_weight_by_cross_section() -> None:
    samples = TOY.draw([100, 300, 50], seed=3)
    _x, lab, w = classifier_data(samples)
    np.testing.assert_array_equal(np.bincount(lab), [100, 300, 50])
    np.testing.assert_allclose(np.bincount(lab, weights=w), TOY.sigma0(), rtol=1e-12)
    _, pooled_c, pooled_w = pooled_training_set(samples)
    totals = np.bincount(lab, weights=pooled_w)
    np.testing.assert_allclose(totals / totals.sum(), TOY.sigma0() / TOY.sigma0().sum())
    np.testing.assert_array_equal(pooled_c[lab == 2], np.tile([1.0, 0, 0], (50, 1)))
    np.testing.assert_allclose(expected_yields(samples, 300.0), 3e5 * TOY.sigma0(), rtol=1e-12)
    off = [samples[0], samples[1].scaled(0.0), samples[2]]
    with pytest.raises(WeightError, match="zz"):
        classifier_data(off)
    assert pooled_training_set(off)[0].shape[0] == 150  # the switched-off process is left out
    with pytest.raises(InputError, match="distinct"):
        labels([samples[0], samples[0]])


def test_pooled_weights_make_the_regression_target_the_mixture_coefficients() -> None:
    """The weighted mean of the targets per x bin is Σ_c D_c(x) E_c[t|x] (the MSE minimum)."""
    rng = np.random.default_rng(4)
    bins = 3
    samples = []
    for name, n, sigma, probs in (
        ("a", 4000, 1.0, [0.2, 0.5, 0.3]),
        ("b", 1000, 0.4, [0.6, 0.3, 0.1]),
        ("c", 2500, 0.2, [0.1, 0.1, 0.8]),
    ):
        x = rng.choice(bins, n, p=probs).astype(float)
        t = np.stack([np.ones(n), rng.normal(x, 1.0), rng.uniform(0, 1, n)], axis=1)
        if name == "c":
            t[:, 1:] = 0.0
        samples.append(ProcessSample.build(name, x, t, np.full(n, sigma / n)))
    px, pc, pw = pooled_training_set(samples)
    xb = px[:, 0]
    for b in range(bins):
        rows = xb == b
        w = pw[rows]
        learned = (w[:, None] * pc[rows]).sum(0) / w.sum()
        shares = np.array([p.weights[p.x[:, 0] == b].sum() for p in samples])
        means = np.array([p.ratios()[p.x[:, 0] == b].mean(0) for p in samples])
        np.testing.assert_allclose(learned, shares @ means / shares.sum(), rtol=1e-12)


def test_mixture_rate_weights_by_yields() -> None:
    a, b = RateModel.build([1.0, 0.2, 0.5]), RateModel.build([1.0, 0.0, 0.0])
    np.testing.assert_allclose(mixture_rate([a, b], [3.0, 1.0]).coefficients, [[1, 0.15, 0.375]])
    with pytest.raises(InputError, match="expected_events0"):
        mixture_rate([a, b], [0.0, 0.0])


# -- the likelihood models ----------------------------------------------------------------
class ExactShares:
    classes = tuple(TOY.names)

    def event_fractions(self, x: np.ndarray) -> np.ndarray:
        return TOY.shares(np.asarray(x).reshape(-1))


class ExactRatio:
    def __init__(self, index: int | None) -> None:
        self.index = index

    def event_coefficients(self, x: np.ndarray) -> np.ndarray:
        xs = np.asarray(x).reshape(-1)
        c = (
            TOY.mixture_coefficients(xs)
            if self.index is None
            else TOY.reco_coefficients(xs)[self.index]
        )
        return np.asarray(c)[None]


@pytest.fixture(scope="module")
def mixture_events() -> tuple[list[ProcessSample], np.ndarray, np.ndarray, np.ndarray]:
    test = TOY.draw([20_000, 6_000, 4_000], seed=6)
    x = np.concatenate([p.x for p in test])
    lab = labels(test)
    return test, x, lab, np.array([p.sigma0 for p in test])


def test_factorised_with_exact_parts_is_the_truth(mixture_events: tuple) -> None:
    test, x, _, yields = mixture_events
    ratios = {"signal": ExactRatio(0), "zz": ExactRatio(1), "fakes": None}
    model = factorised_model(x, ExactShares(), ratios, test, yields, features)
    c = collapse(model, GRID).components[0]
    np.testing.assert_allclose(c.coefficients[0], TOY.mixture_coefficients(x[:, 0]), rtol=1e-12)
    # ρ̂ from the test samples: the exact mixture rate within its MC error (30k events)
    exact = (yields @ TOY.rates()) / yields.sum()
    np.testing.assert_allclose(c.rate.coefficients[0], exact, rtol=0.02, atol=0.01)
    with pytest.raises(InputError, match="order"):
        factorised_model(x, ExactShares(), ratios, test[::-1], yields[::-1], features)
    # with the exact Poisson rates the model is not of the form C_e·Φ any more
    split = factorised_model(x, ExactShares(), ratios, test, yields, features, exact_poisson=True)
    assert split.components[0].poisson_rate is not None
    with pytest.raises(InputError, match="ρ_P/ρ̂"):
        collapse(split, GRID)


def test_pooled_with_the_exact_mixture_ratio_equals_the_collapsed_truth(
    mixture_events: tuple,
) -> None:
    test, x, _, yields = mixture_events
    pooled = pooled_model(x, ExactRatio(None), test, yields, features)
    truth = collapse(
        factorised_model(
            x, ExactShares(), {"signal": ExactRatio(0), "zz": ExactRatio(1)}, test, yields, features
        ),
        GRID,
    )
    assert pooled.expected_events0 == pytest.approx(yields.sum())
    np.testing.assert_allclose(
        pooled.components[0].coefficients, truth.components[0].coefficients, rtol=1e-12
    )
    # both rates are ν-weighted means of ⟨C⟩ over the samples, of different C: equal in
    # expectation (module docstring of madsbi.inference.mixture_models), here within MC error
    np.testing.assert_allclose(
        pooled.components[0].rate.coefficients, truth.components[0].rate.coefficients, atol=0.02
    )
    exact = pooled_model(x, ExactRatio(None), test, yields, features, exact_poisson=True)
    assert exact.components[0].poisson_rate is not None


def test_oracles(mixture_events: tuple) -> None:
    test, x, lab, yields = mixture_events
    own = np.concatenate([p.ratios() for p in test])
    labelled = collapse(oracle_labelled_model(lab, own, test, yields, features), GRID)
    np.testing.assert_allclose(labelled.components[0].coefficients[0], own, rtol=1e-12)
    exact_rate = (yields @ np.stack([p.rate().coefficients[0] for p in test])) / yields.sum()
    np.testing.assert_allclose(labelled.components[0].rate.coefficients[0], exact_rate)
    shares = TOY.shares(x[:, 0])
    reco = TOY.reco_coefficients(x[:, 0])
    exact = [own_or(lab, i, own, lambda rows, i=i: reco[i][rows]) for i in (0, 1)] + [None]
    unlabelled = collapse(oracle_unlabelled_model(shares, exact, test, yields, features), GRID)
    expected = shares[:, :1] * exact[0] + shares[:, 1:2] * exact[1]
    expected[:, 0] += shares[:, 2]
    np.testing.assert_allclose(unlabelled.components[0].coefficients[0], expected, rtol=1e-12)
    # the labelled oracle of the signal's events: their own ratios, the shares do not matter
    np.testing.assert_array_equal(exact[0][lab == 0], own[lab == 0])
    np.testing.assert_array_equal(exact[1][lab == 0], reco[1][lab == 0])


def test_one_hot_own_or_and_model_checks() -> None:
    np.testing.assert_array_equal(one_hot(np.array([1, 0]), 2), [[0, 1], [1, 0]])
    with pytest.raises(InputError, match="classes in"):
        one_hot(np.array([2]), 2)
    with pytest.raises(InputError, match="integer"):
        one_hot(np.array([0.5]), 2)
    with pytest.raises(InputError, match="other"):
        own_or(np.array([0, 1]), 0, np.ones((2, 3)), lambda rows: np.ones((5, 3)))
    p = ProcessSample.build("a", [0.0], [[1.0, 0, 0]], [1.0])
    with pytest.raises(InputError, match="fractions"):
        mixture_model(np.ones((1, 2)), [None], [p], [None], [1.0], features)


def _distorted(c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A learned-like estimate: (1, a t1, 1.05 a² t2) stays positive at every θ like c."""
    a = rng.uniform(0.9, 1.1, (c.shape[0], 1))
    return np.asarray(c * np.concatenate([np.ones_like(a), a, 1.05 * a**2], axis=1))


@pytest.mark.parametrize("exact_poisson", [False, True])
def test_backgrounds_off_give_the_signal_only_model(
    mixture_events: tuple, exact_poisson: bool
) -> None:
    """σ_bkg = 0: the mixture (learned-like ratios, ρ̂ ≠ ρ_P too) is the signal-only model."""
    test, x, _, _ = mixture_events
    off = [test[0], test[1].scaled(0.0), test[2].scaled(0.0)]
    yields = 50.0 * np.array([p.sigma0 for p in off])
    rng = np.random.default_rng(7)
    learned = _distorted(TOY.reco_coefficients(x[:, 0])[0], rng)
    shares = np.zeros((x.shape[0], 3))
    shares[:, 0] = 1.0
    own = _distorted(test[0].ratios(), rng)
    mixed = mixture_model(
        shares, [learned, TOY.reco_coefficients(x[:, 0])[1], None], off, [own, None, None],
        yields, features, exact_poisson=exact_poisson,
    )  # fmt: skip
    single = mixed.single(
        learned,
        features,
        RateModel.from_event_coefficients(own, test[0].weights),
        expected_events0=yields[0],
        poisson_rate=test[0].rate() if exact_poisson else None,
        log1p=True,
    )
    ll_mix, ll_sig = mixed.log_likelihood(GRID)[0], single.log_likelihood(GRID)[0]
    np.testing.assert_allclose(ll_mix, ll_sig, rtol=0, atol=1e-9)
    if not exact_poisson:
        np.testing.assert_allclose(collapse(mixed, GRID).log_likelihood(GRID)[0], ll_sig, atol=1e-9)
