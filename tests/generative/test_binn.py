"""BINN training (eq. 16), predictive densities (eq. 32), marginals (Sec. 3.5), bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from madsbi.errors import ConfigError, InputError, MadSBIError
from madsbi.generative.binn import (
    BINNTraining,
    build_inn,
    load_model,
    save_model,
    train_inn,
    validate_events,
)
from madsbi.generative.densities import (
    generate_events,
    marginal_histograms,
    predictive_density,
)
from madsbi.generative.inn import INNConfig
from madsbi.generative.toys import toy
from madsbi.nn.bayesian import BayesianLinear, kl_divergence

torch.set_num_threads(1)
SMALL = INNConfig(n_blocks=2, hidden=8, n_layers=1)


def _kicker(n: int, seed: int) -> np.ndarray:
    return toy("kicker").sample(n, np.random.default_rng(seed))


def test_kl_term_is_scaled_to_the_data_set_size() -> None:
    # One update with a negligible learning rate: the logged KL/N is KL of the initial
    # posterior divided by the number of training events.
    settings = BINNTraining(n_updates=1, learning_rate=1e-12, final_learning_rate=1e-12)
    for n in (500, 5000):
        x = _kicker(n, seed=n)
        model = build_inn(x, SMALL, seed=0)
        kl0 = float(kl_divergence(model).detach())
        history = train_inn(model, x, settings)
        assert history.n_train == n
        assert math.isclose(history.kl_per_event[0], kl0 / n, rel_tol=1e-5)


def test_training_lowers_the_loss_and_learns_the_ramp() -> None:
    x = _kicker(20_000, seed=1)
    model = build_inn(x, INNConfig(n_blocks=4, hidden=16, n_layers=2), seed=0)
    history = train_inn(model, x, BINNTraining(n_updates=400, batch_size=256, seed=0))
    assert history.nll[-1] < history.nll[0] - 0.2
    line = np.stack([np.linspace(0.3, 0.9, 7), np.full(7, 0.5)], 1)
    pred = predictive_density(model, line, n_draws=10, seed=0)
    truth = toy("kicker").density(line)
    # Coarse: 400 updates of a small network already follow 3x² to ~25 %.
    assert np.all(np.abs(pred.mean / truth - 1) < 0.25)
    assert np.all(pred.std > 0)


def test_training_is_reproducible_with_seeds() -> None:
    x = _kicker(2000, seed=2)
    states = []
    for seed in (3, 3, 4):
        model = build_inn(x, SMALL, seed=seed)
        train_inn(model, x, BINNTraining(n_updates=15, batch_size=128, seed=seed))
        states.append(torch.cat([p.detach().ravel() for p in model.parameters()]))
    assert torch.equal(states[0], states[1])
    assert not torch.equal(states[0], states[2])


def test_predictive_density_draws_are_seeded_and_modes_restored() -> None:
    x = _kicker(2000, seed=3)
    model = build_inn(x, SMALL, seed=0)
    train_inn(model, x, BINNTraining(n_updates=20, batch_size=128))
    points = x[:50]
    a = predictive_density(model, points, n_draws=5, seed=7)
    b = predictive_density(model, points, n_draws=5, seed=7)
    c = predictive_density(model, points, n_draws=5, seed=8)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert not np.array_equal(a.draws, c.draws)
    assert a.draws.shape == (5, 50)
    np.testing.assert_allclose(a.mean, a.draws.mean(0))
    np.testing.assert_allclose(a.std, a.draws.std(0, ddof=1))
    assert all(m.mode == "local" for m in model.modules() if isinstance(m, BayesianLinear))


def test_plain_inn_ml_training_has_no_uncertainty() -> None:
    x = _kicker(2000, seed=4)
    model = build_inn(x, INNConfig(n_blocks=2, hidden=8, n_layers=1, bayesian=False), seed=0)
    history = train_inn(model, x, BINNTraining(n_updates=20, batch_size=128))
    assert history.kl_per_event == [0.0] * len(history.kl_per_event)
    pred = predictive_density(model, x[:10], n_draws=5)
    assert pred.draws.shape == (1, 10)
    np.testing.assert_array_equal(pred.std, np.zeros(10))


def test_marginal_histograms_both_procedures() -> None:
    x = _kicker(3000, seed=5)
    model = build_inn(x, SMALL, seed=0)
    train_inn(model, x, BINNTraining(n_updates=30, batch_size=256))
    bins = {"x": np.linspace(-0.5, 1.5, 41), "y": np.linspace(-0.5, 1.5, 21)}

    def obs(events: np.ndarray) -> dict[str, np.ndarray]:
        return {"x": events[:, 0], "y": events[:, 1]}

    for fixed in (False, True):
        hists = marginal_histograms(model, obs, bins, n_draws=4, n_samples=5000, fixed_latent=fixed)
        for name, hist in hists.items():
            assert hist.draws.shape == (4, len(bins[name]) - 1)
            mass = (hist.draws * np.diff(hist.edges)).sum(1)
            assert np.all(mass <= 1 + 1e-12)
            assert np.all(mass > 0.9)  # nearly all events fall into the wide range
            assert np.all(hist.std >= 0)
    with pytest.raises(InputError, match="no observable 'z'"):
        marginal_histograms(model, obs, {"z": [0.0, 1.0]}, n_draws=2, n_samples=100)


def test_generated_events_carry_relative_uncertainty() -> None:
    x = _kicker(2000, seed=6)
    model = build_inn(x, SMALL, seed=0)
    train_inn(model, x, BINNTraining(n_updates=20, batch_size=128))
    gen = generate_events(model, 101, n_draws=4, seed=1)
    assert gen.x.shape == (101, 2)
    assert np.all(gen.density > 0)
    np.testing.assert_allclose(gen.sigma_over_p, gen.sigma / gen.density)
    again = predictive_density(model, gen.x, n_draws=4, seed=3)
    np.testing.assert_allclose(gen.density, again.mean)


def test_non_finite_training_data_is_refused_by_name() -> None:
    x = _kicker(100, seed=7)
    x[17, 1] = np.nan
    model = build_inn(_kicker(100, seed=8), SMALL, seed=0)
    with pytest.raises(InputError, match=r"my events: non-finite value nan at index \(17, 1\)"):
        train_inn(model, x, BINNTraining(n_updates=1), name="my events")


def test_data_outside_the_support_is_refused() -> None:
    x = _kicker(100, seed=9)
    x[3, 0] = 1.5
    with pytest.raises(
        InputError, match=r"event 3 has coordinate 0 = 1\.5 outside .*\[0\.0, 1\.0\]"
    ):
        validate_events(x, "kicker events", 2, toy("kicker").support)
    with pytest.raises(MadSBIError, match="expected shape"):
        validate_events(np.zeros((10, 3)), "events", 2)
    with pytest.raises(ValueError, match="at least 2 events"):
        validate_events(np.zeros((1, 2)), "events", 2)


def test_training_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="n_updates"):
        BINNTraining(n_updates=0)
    with pytest.raises(ConfigError, match="device"):
        train_inn(
            build_inn(_kicker(100, 1), SMALL, 0), _kicker(100, 1), BINNTraining(device="nonsense")
        )


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    x = _kicker(500, seed=10)
    model = build_inn(x, SMALL, seed=0)
    history = train_inn(model, x, BINNTraining(n_updates=5, batch_size=64))
    path = tmp_path / "m.pt"
    save_model(model, path, {"a": 1}, history)
    assert load_model(path, {"a": 2}) is None
    loaded = load_model(path, {"a": 1})
    assert loaded is not None
    a = predictive_density(model, x[:20], n_draws=3, seed=0)
    b = predictive_density(loaded[0], x[:20], n_draws=3, seed=0)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert loaded[1].nll == history.nll
