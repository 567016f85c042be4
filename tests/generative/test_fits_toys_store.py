"""Toy densities, the fit-like σ_pred analysis, Drell-Yan coordinates and /generated."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from madsbi.errors import ConfigError, InputError
from madsbi.events import schema
from madsbi.events.store import EventStore
from madsbi.generative import drell_yan as dy
from madsbi.generative import fits
from madsbi.generative.densities import GeneratedEvents
from madsbi.generative.store import toy_meta, write_generated_store
from madsbi.generative.toys import TOYS, toy


@pytest.mark.parametrize("name", TOYS)
def test_toy_samples_follow_their_density(name: str, rng: np.random.Generator) -> None:
    density = toy(name)
    events = density.sample(200_000, rng)
    observable = "r" if name == "ring" else "x"
    edges = np.linspace(*density.line_range, 21)
    values = density.marginal_observables(events)[observable]
    counts = np.histogram(values, bins=edges)[0]
    expected = density.marginal_truth(observable, edges)
    assert expected is not None
    expected_counts = expected * np.diff(edges) * events.shape[0]
    pull = (counts - expected_counts) / np.sqrt(expected_counts)
    assert np.max(np.abs(pull)) < 5
    assert abs(np.mean(pull**2) - 1) < 0.8
    for column, (low, high) in enumerate(density.support):
        assert np.all((events[:, column] >= low) & (events[:, column] <= high))


@pytest.mark.parametrize("name", TOYS)
def test_toy_density_is_normalised(name: str) -> None:
    density = toy(name)
    lo, hi = ((-7.5, 7.5), (0.0, 7.5)) if name == "ring" else ((0.0, 1.0), (0.0, 1.0))
    gx, gy = np.meshgrid(np.linspace(*lo, 1500), np.linspace(*hi, 1500), indexing="ij")
    p = density.density(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(gx.shape)
    integral = np.trapezoid(np.trapezoid(p, gy[0], axis=1), gx[:, 0])
    assert abs(integral - 1) < 2e-3


def test_unknown_toy() -> None:
    with pytest.raises(ConfigError, match="toy"):
        toy("banana")


@pytest.mark.parametrize(
    ("templates", "truth"),
    [
        (fits.kicker_templates(np.linspace(0.05, 0.95, 40)), [0.02, 0.005]),
        (fits.wedge_templates(np.linspace(0.1, 0.9, 40)), [0.08, 0.004]),
        (fits.ring_templates(np.linspace(2, 6, 40)), [0.04, 0.0]),
    ],
)
def test_fit_quadrature_recovers_parameters(
    templates: np.ndarray, truth: list[float], rng: np.random.Generator
) -> None:
    sigma = np.sqrt((templates**2).T @ np.square(truth))
    noisy = sigma * (1 + 0.01 * rng.standard_normal(sigma.shape))
    result = fits.fit_quadrature(noisy, templates, 0.01 * sigma)
    scale = max(truth)
    np.testing.assert_allclose(result.values, truth, atol=0.03 * scale)
    assert np.all(result.errors > 0)
    assert 0.2 < result.chi2_per_ndf < 3


def test_ring_density_fit_finds_mu(rng: np.random.Generator) -> None:
    r = np.linspace(2, 6, 50)
    p = fits.ring_line_density(r, 4.05, 0.95) * (1 + 0.01 * rng.standard_normal(50))
    result = fits.fit_ring_density(r, p, 0.01 * p)
    assert abs(result.values[0] - 4.05) < 3 * result.errors[0] + 1e-3
    assert abs(abs(result.values[1]) - 0.95) < 0.02


def test_ring_templates_are_derivatives() -> None:
    r, h = np.linspace(2.5, 5.5, 9), 1e-6
    t = fits.ring_templates(r, 4.0, 1.0)
    d_mu = (fits.ring_line_density(r, 4 + h, 1) - fits.ring_line_density(r, 4 - h, 1)) / (2 * h)
    d_w = (fits.ring_line_density(r, 4, 1 + h) - fits.ring_line_density(r, 4, 1 - h)) / (2 * h)
    np.testing.assert_allclose(t[0], d_mu, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(t[1], d_w, rtol=1e-6, atol=1e-12)
    k = fits.kicker_templates(r / 6)
    x = r / 6
    d_x0 = (3 * (x + h) ** 2 / (1 + h) ** 3 - 3 * (x - h) ** 2 / (1 - h) ** 3) / (2 * h)
    np.testing.assert_allclose(np.abs(k[0]), np.abs(d_x0), rtol=1e-5, atol=1e-8)


def test_least_squares_needs_enough_points() -> None:
    with pytest.raises(InputError, match="more than 2 points"):
        fits.least_squares(lambda p: p, np.ones(2), np.ones(2))


def test_drell_yan_coordinates_rebuild_the_event() -> None:
    x = dy.load_events(dy.shipped_sample(), max_events=3000)
    assert x.shape == (3000, 4)
    with EventStore(dy.shipped_sample()) as store:
        chunk = store.read(schema.PARTON, ["pdg_id", "status", "momentum"], 0, 3000)
    final = chunk["status"] == 1
    p = (chunk["momentum"] * final[..., None]).sum(1)  # e+ + e- four-momentum
    m_store = np.sqrt(np.maximum(p[:, 0] ** 2 - (p[:, 1:] ** 2).sum(1), 0))
    obs = dy.observables(x)
    np.testing.assert_allclose(obs["m_ee"], m_store, rtol=1e-6, atol=1e-3)
    assert abs(np.median(obs["m_ee"]) - dy.MZ) < 5


def test_drell_yan_unbalanced_events_are_refused(tmp_path: Path) -> None:
    from madsbi.events.writer import StoreWriter

    with EventStore(dy.shipped_sample()) as store:
        chunk = store.read(schema.PARTON, None, 0, 50)
        meta = store.meta
    arrays = dict(chunk.arrays)
    momentum = arrays["momentum"].copy()
    electron = (arrays["pdg_id"] == 11) & (arrays["status"] == 1)
    momentum[5][electron[5], 1] += 7.0
    arrays["momentum"] = momentum
    path = tmp_path / "bad.h5"
    with StoreWriter(path, meta) as writer:
        writer.append(schema.PARTON, arrays)
    with pytest.raises(InputError, match="event 5 has leptons unbalanced"):
        dy.load_events(path)


def test_generated_store_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    train = toy("wedge").sample(300, rng)
    x = toy("wedge").sample(120, rng)
    gen = GeneratedEvents(x, 2 * x[:, 0] + 0.1, 0.05 * np.ones(120))
    path = write_generated_store(
        tmp_path / "g.h5", toy_meta("wedge", 300, 1), gen, ["x", "y"], training=train
    )
    with EventStore(path) as store:
        assert store.n_events(schema.PARTON) == 300
        assert store.n_events(schema.GENERATED) == 120
        assert store.column_names(schema.GENERATED, "x") == ["x", "y"]
        data = store.read(schema.GENERATED)
        np.testing.assert_allclose(data["x"], x)
        np.testing.assert_allclose(data["sigma_over_p"], gen.sigma_over_p)
        np.testing.assert_allclose(store.read(schema.PARTON, ["features"])["features"], train)
        assert math.isclose(float(store.meta.basis_cross_sections[0]), 1.0)
