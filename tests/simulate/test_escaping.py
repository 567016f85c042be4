"""E_T^miss of particles that escape: the card's ``escaping_muons``, ``unclustered_noise`` and
``base`` (``atlas_like_v2``), against analytic expectations.

Each event is a probe particle of p_T = 15 GeV (below the jet threshold, so it is soft
energy unless it escapes) and a π⁺ of the same p_T opposite in φ; with the soft-term
resolution set to 0 the E_T^miss of an event is exactly the p_T of what escapes.
"""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.errors import ConfigError
from madsbi.events.particles import Particles
from madsbi.simulate.detector import load_card, reconstruct_leptons, soft_term
from madsbi.simulate.detector_card import ESCAPING_MUONS
from madsbi.simulate.smearing import copy_seeds
from madsbi.simulate.variations import detect

PT = 15.0


def _momentum(pt_: float, eta_: float, phi_: float) -> list[float]:
    px, py, pz = pt_ * np.cos(phi_), pt_ * np.sin(phi_), pt_ * np.sinh(eta_)
    return [float(np.sqrt(px**2 + py**2 + pz**2)), px, py, pz]


def _events(pdg: int, eta_: float, n: int) -> Particles:
    """n events: the probe (pdg, p_T 15 GeV, η, φ = 0.3) and a π⁺ at η = 0.2, φ = 0.3 + π."""
    rows = [_momentum(PT, eta_, 0.3), _momentum(PT, 0.2, 0.3 + np.pi)]
    return Particles.from_counts(
        np.full(n, 2, np.int64), np.tile(np.array([pdg, 211], np.int32), n), np.tile(rows, (n, 1))
    )


def _card(tmp_path, mode: str, noise: float = 0.0):
    path = tmp_path / f"{mode}.toml"
    path.write_text(
        f'name = "test_{mode}"\nbase = "atlas_like_v2"\n[missing_et]\n'
        f'escaping_muons = "{mode}"\nunclustered_k = 0.0\nunclustered_noise = {noise}\n'
    )
    return load_card(path)


def _met(particles: Particles, card, run: int = 5) -> np.ndarray:
    n = particles.n_events
    seeds = copy_seeds(run, np.arange(n), np.zeros(n, np.int64))
    response = detect(particles, np.ones(n, bool), seeds, card)
    met = response.objects(card).met
    return np.hypot(met[:, 0], met[:, 1])


@pytest.mark.parametrize("eta_", [2.6, 3.5])
def test_a_muon_outside_the_tracker_escapes_and_makes_met_of_its_pt(tmp_path, eta_):
    met = _met(_events(13, eta_, 50), _card(tmp_path, "untracked"))
    np.testing.assert_allclose(met, PT, rtol=1e-12)
    # the old behaviour: the lost muon is soft energy and balances the pion
    np.testing.assert_allclose(_met(_events(13, eta_, 50), _card(tmp_path, "none")), 0, atol=1e-9)


@pytest.mark.parametrize("mode", ESCAPING_MUONS)
@pytest.mark.parametrize("eta_", [2.6, 3.5])
def test_an_electron_outside_the_tracker_deposits_its_energy(tmp_path, mode, eta_):
    met = _met(_events(11, eta_, 50), _card(tmp_path, mode))
    np.testing.assert_allclose(met, 0.0, atol=1e-9)


@pytest.mark.parametrize("pdg", [11, 13])
def test_everything_beyond_the_calorimeter_escapes(tmp_path, pdg):
    met = _met(_events(pdg, 5.2, 20), _card(tmp_path, "untracked"))
    np.testing.assert_allclose(met, PT, rtol=1e-12)


@pytest.mark.parametrize(("mode", "lost"), [("untracked", "tracking"), ("unreconstructed", "all")])
def test_central_muons_escape_at_the_rate_of_their_inefficiency(tmp_path, mode, lost):
    card = _card(tmp_path, mode)
    n = 20_000
    particles = _events(13, 0.3, n)
    met = _met(particles, card)
    escaped = met > 1.0
    np.testing.assert_allclose(met[escaped], PT, rtol=1e-12)
    pt_, eta_ = np.array([PT]), np.array([0.3])
    tracking = float(card.muon.tracking_of(pt_, eta_)[0])
    full = float(card.muon.efficiency_of(pt_, eta_)[0])
    expected = 1 - (tracking if lost == "tracking" else full)
    assert abs(escaped.mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / n)
    # an escaping muon is never a reconstructed one (same uniform number decides both)
    seeds = copy_seeds(5, np.arange(n), np.zeros(n, np.int64))
    reco = reconstruct_leptons(particles, seeds, card)
    assert np.intersect1d(reco.escaped, reco.source).size == 0
    assert reco.escaped.size == escaped.sum()


def test_shipped_card_keeps_every_muon_visible():
    card = load_card("atlas_like")
    assert card.escaping_muons == "none"
    assert card.met_unclustered_noise == 0.0
    particles = _events(13, 3.0, 10)
    seeds = copy_seeds(1, np.arange(10), np.zeros(10, np.int64))
    assert reconstruct_leptons(particles, seeds, card).escaped.size == 0


def test_unclustered_noise_adds_in_quadrature(tmp_path):
    card = _card(tmp_path, "none", noise=8.0)
    n = 4
    hadronic = _events(211, 0.5, n)
    seeds = copy_seeds(1, np.arange(n), np.zeros(n, np.int64))
    jets = Particles.from_counts(np.zeros(n, np.int64), np.zeros(0, np.int32), np.zeros((0, 4)))
    np.testing.assert_allclose(soft_term(jets, hadronic, seeds, card).sigma, 8.0)
    k = load_card("atlas_like_v2")
    expected = np.hypot(k.met_unclustered_k * np.sqrt(2 * PT), 8.0)
    np.testing.assert_allclose(soft_term(jets, hadronic, seeds, k).sigma, expected)


def test_v2_cards_are_atlas_like_plus_their_changes():
    old, new, fakes = (load_card(n) for n in ("atlas_like", "atlas_like_v2", "atlas_like_v2_fakes"))
    assert (new.escaping_muons, new.met_unclustered_noise) == ("untracked", 8.0)
    assert new.name == "atlas_like_v2"
    assert fakes.name == "atlas_like_v2_fakes"
    for card in (new, fakes):
        np.testing.assert_array_equal(card.muon.efficiency, old.muon.efficiency)
        np.testing.assert_array_equal(card.jet_s, old.jet_s)
        assert card.met_unclustered_k == old.met_unclustered_k
        assert dict(card.variations) == dict(old.variations)
    assert new.fakes is None
    assert fakes.fakes is not None
    assert fakes.escaping_muons == "untracked"
    np.testing.assert_array_equal(
        fakes.fakes.electron, load_card("atlas_like_fakes").fakes.electron
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('base = "atlas_like"\n[missing_et]\nescaping_muons = "some"\n', "escaping_muons.*'some'"),
        ('base = "atlas_like"\n[missing_et]\nunclustered_noise = -1.0\n', "unclustered_noise"),
        ('base = "no_such_card"\n', "base.*no_such_card"),
        ("base = 3\n", "base"),
    ],
)
def test_bad_escape_settings_and_bases_are_refused(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_card(path)
