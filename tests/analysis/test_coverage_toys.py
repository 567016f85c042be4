"""Coverage toys of a likelihood model (madsbi.analysis.coverage_toys, madsbi.analysis.coverage):
the stacked dense form against the NumPy mixture, the per-toy profile (certified top-K, hill
climb) against the plain full-grid profile, the global observables, and coverage on a model
where it is known."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import madsbi.analysis.coverage_toys as toys_module
import madsbi.inference.profile as profile_module
from madsbi.analysis.coverage import (
    CoverageOptions,
    FitData,
    Pool,
    Process,
    coverage_grid,
    draw_centres,
    draw_counts,
    model_coverage,
    summarise,
)
from madsbi.analysis.coverage_toys import (
    ToyModifier,
    profiled_q,
    reference_q,
    stacked_form,
    toy_model,
)
from madsbi.errors import InputError
from madsbi.inference.dense import toy_log_likelihoods
from madsbi.inference.model import Component, LikelihoodModel
from madsbi.inference.modifiers import EventShape, Normalisation
from madsbi.inference.modifiers.shape import ALL_COMPONENTS
from madsbi.inference.profile import is_separable
from madsbi.inference.rate import RateModel
from madsbi.theory.polynomial import polynomial_features

THETA0 = np.zeros(2)


def _phi(grid: np.ndarray) -> np.ndarray:
    return polynomial_features(grid, THETA0)


def _coefficients(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    """C_e (N, 6) of a 2-parameter quadratic ratio, positive on [-1, 1]^2."""
    c = np.empty((n, 6))
    c[:, 0] = 1.0
    c[:, 1:3] = scale * rng.normal(size=(n, 2))
    c[:, 3:] = 0.2 * scale * rng.uniform(0, 1, size=(n, 3))
    return c


def _component(
    name: str, c: np.ndarray, nu: float, poisson: np.ndarray | None = None, shares=None
) -> Component:
    rate = RateModel(c.mean(0, keepdims=True))
    exact = None if poisson is None else RateModel(poisson[None, :])
    return Component(name, c[None], _phi, rate, nu, exact, True, shares)


def _mixture(n: int = 300, seed: int = 0) -> LikelihoodModel:
    """Signal + a θ-dependent background, each with its own exact Poisson rate (no collapse)."""
    rng = np.random.default_rng(seed)
    cs, cb = _coefficients(rng, n, 0.3), _coefficients(rng, n, 0.2)
    share = rng.uniform(0.6, 0.95, n)
    exact_s = cs.mean(0) + np.r_[0, 0.05, -0.03, 0.01, 0, 0.02]
    exact_b = cb.mean(0) + np.r_[0, -0.04, 0.02, 0, 0.01, 0]
    return LikelihoodModel(
        (
            _component("signal", cs, 200.0, exact_s, share),
            _component("bkg", cb, 40.0, exact_b, 1 - share),
        ),
        np.ones(n),
    )


def _pool(model: LikelihoodModel, shares: list[float]) -> Pool:
    """One process per component over the pool's events (equal probabilities)."""
    n = model.n_events
    cut = [0, *np.cumsum([round(s * n) for s in shares]).tolist()]
    cut[-1] = n
    processes = tuple(
        Process(c.name, cut[i], np.full(cut[i + 1] - cut[i], 1 / (cut[i + 1] - cut[i])), nu)
        for i, (c, nu) in enumerate(
            zip(model.components, [c.expected_events0 for c in model.components], strict=True)
        )
    )
    data = FitData(np.zeros((n, 1)), np.ones(n), None, THETA0, (), 1.0, 1.0, "counts", {})
    return Pool(data, processes, "synthetic")


def _grid(points: int = 9, half: float = 0.6) -> tuple[np.ndarray, int, tuple[int, ...]]:
    return coverage_grid([(-half, half), (-half, half)], points, THETA0)


def _shape(name: str, n: int, rng: np.random.Generator, size: float) -> EventShape:
    sample = 3000
    return EventShape(
        name, "signal", size * rng.normal(size=n), -size * rng.normal(size=n) * 0.8,
        1.03, 0.96, size * rng.normal(size=sample), -size * rng.normal(size=sample) * 0.8,
    )  # fmt: skip


def test_the_stacked_form_is_the_mixture_likelihood_of_every_toy() -> None:
    model = _mixture()
    thetas, _, _ = _grid(7)
    counts = draw_counts(_pool(model, [0.8, 0.2]), 5, seed=1)
    form = stacked_form(model, thetas)
    dense = toy_log_likelihoods(
        counts, form.coefficients, form.features, form.rate,
        expected_events0=form.expected_events0,
    )  # fmt: skip
    for t in range(counts.shape[0]):
        plain = toy_model(model, counts[t]).log_likelihood(thetas)[0]
        np.testing.assert_allclose(dense[t], plain, rtol=0, atol=1e-9 * np.abs(plain).max())
    # the same toys through q, reference against the dense stat-only coverage
    grid, index, shape = _grid(7)
    dense_q = model_coverage(model, counts, grid, index, shape, None)["stat_only"]["q_true"]
    np.testing.assert_allclose(dense_q, reference_q(model, counts, grid, index), atol=1e-9)


def test_a_toy_model_is_the_pool_model_weighted_by_the_counts() -> None:
    rng = np.random.default_rng(2)
    model = replace(_mixture(seed=2), modifiers=(_shape("s", 300, rng, 0.05),))
    counts = draw_counts(_pool(model, [0.8, 0.2]), 1, seed=3)[0]
    thetas, _, _ = _grid(5)
    centre = 0.4
    toy = toy_model(model, counts, np.array([centre]))
    whole = replace(
        model,
        weights=counts.astype(float),
        modifiers=(ToyModifier(model.modifiers[0], None, centre, model.n_events),),
    )
    for alpha in (0.0, 0.7, -1.6):
        np.testing.assert_allclose(
            toy.log_likelihood(thetas, {"s": alpha}),
            whole.log_likelihood(thetas, {"s": alpha}),
            rtol=1e-12,
        )


def test_the_global_observables_centre_the_constraints() -> None:
    base = Normalisation("lumi", 0.05)
    shifted = ToyModifier(base, None, 0.8, 10)
    alpha = np.linspace(-2, 2, 9)
    value, first, second = shifted.constraint_terms(alpha)
    np.testing.assert_allclose(value, -0.5 * (alpha - 0.8) ** 2)
    np.testing.assert_allclose(first, -(alpha - 0.8))
    np.testing.assert_allclose(second, -1.0)
    assert shifted.log_constraint(0.8) == 0.0
    # drawn from N(0, 1), one stream per nuisance, reproducible
    a = draw_centres(5, 4000, ["lumi", "xsec"])
    assert a.shape == (4000, 2)
    assert abs(a.mean()) < 0.05
    assert abs(a.std() - 1) < 0.03
    assert abs(np.corrcoef(a.T)[0, 1]) < 0.05
    np.testing.assert_array_equal(draw_centres(5, 10, ["xsec"])[:, 0], a[:10, 1])


def _separable_model(seed: int = 4) -> LikelihoodModel:
    rng = np.random.default_rng(seed)
    c = _coefficients(rng, 400, 0.3)
    exact = c.mean(0) + np.r_[0, 0.03, -0.02, 0.01, 0, 0.01]
    signal = _component("signal", c, 250.0, exact)
    modifiers = (Normalisation("lumi", 0.05), _shape("shape", 400, rng, 0.08))
    return LikelihoodModel((signal,), np.ones(400), None, modifiers)


@pytest.mark.parametrize("top_k", [1, 5])
def test_the_certified_top_k_profile_is_the_full_grid_profile(top_k: int) -> None:
    model = _separable_model()
    assert is_separable(model)
    thetas, index, shape = _grid(9)
    counts = draw_counts(_pool(model, [1.0]), 12, seed=5)
    centres = draw_centres(6, 12, ["lumi", "shape"])
    fast = profiled_q(model, thetas, index, counts, centres, shape=shape, top_k=top_k)
    assert fast.certified.all()
    np.testing.assert_allclose(
        fast.q_profiled, reference_q(model, counts, thetas, index, centres), atol=1e-8
    )
    stat = reference_q(replace(model, modifiers=()), counts, thetas, index)
    np.testing.assert_allclose(fast.q_stat_only, stat, atol=1e-8)
    # the centres are used: other global observables give other q
    other = reference_q(model, counts, thetas, index, np.zeros_like(centres))
    assert np.abs(other - fast.q_profiled).max() > 1e-3


def test_a_loose_bound_grows_the_candidates_until_certified(monkeypatch) -> None:
    monkeypatch.setattr(toys_module, "GAIN_NODES", 2)  # one chord over the whole range of ν
    model = _separable_model(7)
    thetas, index, shape = _grid(9, half=0.9)
    counts = draw_counts(_pool(model, [1.0]), 8, seed=8)
    centres = draw_centres(9, 8, ["lumi", "shape"])
    fast = profiled_q(model, thetas, index, counts, centres, shape=shape, top_k=1)
    assert fast.certified.all()
    assert fast.profiled_points > 2 * 8  # some toys needed more than one round
    np.testing.assert_allclose(
        fast.q_profiled, reference_q(model, counts, thetas, index, centres), atol=1e-8
    )


def test_a_mixture_with_a_shape_on_one_component_climbs_to_the_full_profile() -> None:
    rng = np.random.default_rng(10)
    model = replace(_mixture(seed=10), modifiers=(_shape("shape", 300, rng, 0.1),))
    assert not is_separable(model)
    thetas, index, shape = _grid(7)
    counts = draw_counts(_pool(model, [0.8, 0.2]), 6, seed=11)
    centres = draw_centres(12, 6, ["shape"])
    fast = profiled_q(model, thetas, index, counts, centres, shape=shape, top_k=3)
    assert not fast.certified.any()
    np.testing.assert_allclose(
        fast.q_profiled, reference_q(model, counts, thetas, index, centres), atol=1e-8
    )


def _known_model(n: int = 20000, b: float = 0.3) -> LikelihoodModel:
    """dσ(x|θ)/dσ(x|0) = 1 + θ (x − 1/2 + b), x ~ U(0, 1) at θ = 0: ρ(θ) = 1 + bθ."""
    x = np.random.default_rng(13).uniform(0, 1, n)
    c = np.stack([np.ones(n), x - 0.5 + b], axis=1)

    def phi(grid: np.ndarray) -> np.ndarray:
        return np.stack([np.ones(grid.shape[0]), grid[:, 0]], axis=1)

    exact = RateModel(np.array([[1.0, b]]))
    signal = Component("signal", c[None], phi, exact, 400.0)
    return LikelihoodModel((signal,), np.ones(n))


def test_coverage_of_a_model_where_it_is_known() -> None:
    model = _known_model()
    thetas, index, shape = coverage_grid([(-0.6, 0.6)], 241, np.zeros(1))
    counts = draw_counts(_pool(model, [1.0]), 400, seed=14)
    stat = model_coverage(model, counts, thetas, index, shape, None)["stat_only"]
    centres = draw_centres(15, 400, ["lumi"])
    with_lumi = replace(model, modifiers=(Normalisation("lumi", 0.05),))
    both = model_coverage(with_lumi, counts, thetas, index, shape, centres)
    for result in (stat, both["stat_only"], both["profiled"]):
        for level in (68, 95):
            c, error = result[f"c_{level}"], result[f"c_{level}_error"]
            assert abs(c - level / 100) < 3 * error, (level, c, error)
    np.testing.assert_allclose(both["stat_only"]["q_true"], stat["q_true"], atol=1e-9)
    assert both["profiled"]["certified_toys"] == 400


def test_draws_per_process_are_independent_streams() -> None:
    model = _mixture()
    on = _pool(model, [0.8, 0.2])
    off = Pool(on.data, (on.processes[0], replace(on.processes[1], expected_events=0.0)), "")
    a, b = draw_counts(on, 50, 3), draw_counts(off, 50, 3)
    np.testing.assert_array_equal(a[:, :240], b[:, :240])
    assert not b[:, 240:].any()
    assert a[:, 240:].any()
    assert abs(a[:, :240].sum(1).mean() - 200) < 3 * np.sqrt(200 / 50)
    assert abs(a[:, 240:].sum(1).mean() - 40) < 3 * np.sqrt(40 / 50)


def test_grid_options_and_summaries_are_checked() -> None:
    grid, index, shape = coverage_grid([(-1, 1), (-2, 2)], 5, np.zeros(2))
    assert grid.shape == (25, 2)
    assert shape == (5, 5)
    np.testing.assert_array_equal(grid[index], [0, 0])
    with pytest.raises(InputError, match="not a point"):
        coverage_grid([(-1, 2)], 5, np.zeros(1))
    for bad in ({"n_toys": 0}, {"grid_points": 4}, {"luminosity": -1.0}, {"top_k": 0}):
        with pytest.raises(InputError):
            CoverageOptions(**bad)
    q = np.r_[np.zeros(60), np.full(40, 100.0)]  # 60 % of the toys inside every region
    s = summarise(q, 1)
    assert s["c_68"] == pytest.approx(0.6)
    assert s["n_toys"] == 100
    assert s["c_68_error"] == pytest.approx(np.sqrt(0.6 * 0.4 / 100))
    assert s["c_68_deviation_sigmas"] == pytest.approx(-0.08 / np.sqrt(0.0024))
    assert s["c_68_met"]  # −1.6σ: within 2σ
    assert not s["c_95_met"]  # −7.1σ
    assert summarise(np.zeros(10), 3)["c_95_met"]  # above γ: conservative, met
    with pytest.raises(InputError, match="centres"):
        profiled_q(_separable_model(), grid, index, np.ones((2, 400), int), np.zeros((2, 1)))


def test_the_separable_objective_at_nu_of_theta_is_the_profile() -> None:
    from madsbi.inference.newton import newton_maximise
    from madsbi.inference.profile import (
        profile_log_likelihood,
        separable_objective,
        total_expected_events,
    )

    model = _separable_model(16)
    thetas, _, _ = _grid(5)
    nu = total_expected_events(model, thetas)[0]
    rate = model.components[0].poisson_rate
    assert rate is not None
    np.testing.assert_allclose(nu, 250.0 * rate.ratio(_phi(thetas))[0], rtol=1e-14)
    k = len(model.modifiers)
    _, gain, _ = newton_maximise(separable_objective(model, nu), np.zeros((nu.size, k)), range(k))
    profile = profile_log_likelihood(model, thetas).log_likelihood[0]
    np.testing.assert_allclose(model.log_likelihood(thetas)[0] + gain, profile, atol=1e-9)
    shaped = replace(_mixture(), modifiers=(_shape("s", 300, np.random.default_rng(0), 0.1),))
    with pytest.raises(InputError, match="do not split"):
        separable_objective(shaped, nu)


def test_a_mixture_with_a_shape_on_all_components_is_certified(monkeypatch) -> None:
    """A shape alike on every component keeps the toys separable: the per-toy gain includes
    its event sums, and q is the plain full-grid profile of the general mixture form."""
    rng = np.random.default_rng(13)
    shape = replace(_shape("shape", 300, rng, 0.1), component=ALL_COMPONENTS)
    model = replace(_mixture(seed=13), modifiers=(Normalisation("lumi", 0.05), shape))
    assert is_separable(model)
    thetas, index, grid_shape = _grid(7)
    counts = draw_counts(_pool(model, [0.8, 0.2]), 5, seed=14)
    centres = draw_centres(15, 5, ["lumi", "shape"])
    fast = profiled_q(model, thetas, index, counts, centres, shape=grid_shape, top_k=3)
    assert fast.certified.all()
    separable = reference_q(model, counts, thetas, index, centres)
    monkeypatch.setattr(profile_module, "is_separable", lambda m: False)
    general = reference_q(model, counts, thetas, index, centres)
    np.testing.assert_allclose(separable, general, atol=1e-8)
    np.testing.assert_allclose(fast.q_profiled, general, atol=1e-8)
    stat = reference_q(replace(model, modifiers=()), counts, thetas, index)
    assert np.abs(stat - fast.q_profiled).max() > 1e-3
