"""The parametrised detector against its card, with fixed inputs and large samples."""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.errors import ConfigError, MissingFileError
from madsbi.events.particles import Particles, eta, pt
from madsbi.simulate import _streams
from madsbi.simulate.detector import load_card, missing_et, reconstruct_leptons, smear_jets
from madsbi.simulate.smearing import copy_seeds


def _one_per_event(pdg: int, momentum: list[float], n: int) -> Particles:
    return Particles.from_counts(
        np.ones(n, np.int64), np.full(n, pdg, np.int32), np.tile(momentum, (n, 1))
    )


def _momentum(pt_: float, eta_: float, phi_: float = 0.3, mass: float = 0.0) -> list[float]:
    px, py, pz = pt_ * np.cos(phi_), pt_ * np.sin(phi_), pt_ * np.sinh(eta_)
    return [float(np.sqrt(px**2 + py**2 + pz**2 + mass**2)), px, py, pz]


def _seeds(n: int, run: int = 11) -> np.ndarray:
    return copy_seeds(run, np.arange(n), np.zeros(n, np.int64))


def test_shipped_card_names_its_source():
    card = load_card()
    assert "delphes_card_ATLAS.tcl" in card.source
    assert card.jet_radius == pytest.approx(0.4)


def test_card_errors_name_the_problem(tmp_path):
    with pytest.raises(MissingFileError, match="no_such_card"):
        load_card("no_such_card")
    bad = tmp_path / "bad.toml"
    bad.write_text("[electron]\n[muon]\n[jets]\n[missing_et]\n")
    with pytest.raises(ConfigError, match=r"bad.toml\[jets\].*resolution_eta_edges"):
        load_card(bad)


@pytest.mark.parametrize(
    ("pdg", "pt_", "eta_"), [(13, 50.0, 0.3), (11, 40.0, 1.0), (13, 80.0, 2.0)]
)
def test_lepton_efficiency_and_resolution_match_the_card(pdg, pt_, eta_):
    card = load_card()
    n = 20_000
    response = card.electron if pdg == 11 else card.muon
    p = _momentum(pt_, eta_)
    reco = reconstruct_leptons(_one_per_event(pdg, p, n), _seeds(n), card)
    found = reco.leptons.pdg_id.size / n
    eff = float(response.efficiency_of(np.array([pt_]), np.array([eta_]))[0])
    assert eff > 0.5
    assert abs(found - eff) < 4 * np.sqrt(eff * (1 - eff) / n)
    ratio = pt(reco.leptons.momentum) / pt_
    sigma = float(response.resolution_of(np.array([pt_]), np.array([eta_]))[0])
    assert abs(ratio.mean() - 1.0) < 4 * sigma / np.sqrt(ratio.size)
    assert abs(ratio.std() / sigma - 1.0) < 4 / np.sqrt(2 * ratio.size)
    # direction kept
    np.testing.assert_allclose(eta(reco.leptons.momentum), eta_, atol=1e-9)


def test_isolation_rejects_a_lepton_with_activity_nearby():
    card = load_card()
    n = 400
    lepton = _momentum(50.0, 0.0, 0.0)
    near = _momentum(10.0, 0.1, 0.1)  # ΔR ≈ 0.14, p_T ratio 0.2: > 0.12 (e), < 0.25 (μ)
    far = _momentum(10.0, 2.0, 2.5)
    for pdg, other in ((11, near), (13, near), (11, far)):
        events = Particles.from_counts(
            np.full(n, 2),
            np.tile(np.array([pdg, 211], np.int32), n),
            np.tile([lepton, other], (n, 1)),
        )
        found = reconstruct_leptons(events, _seeds(n), card).leptons.pdg_id.size / n
        response = card.electron if pdg == 11 else card.muon
        eff = float(response.efficiency_of(np.array([50.0]), np.array([0.0]))[0])
        isolated = other is far or pdg == 13
        expected = eff if isolated else 0.0
        assert abs(found - expected) < 4 * np.sqrt(eff * (1 - eff) / n) + 1e-12


def test_jet_energy_resolution_matches_the_card():
    card = load_card()
    n = 20_000
    energy = 100.0
    p = _momentum(energy / np.cosh(0.5), 0.5, mass=0.0)
    jets = smear_jets(_one_per_event(90, p, n), _seeds(n), card)
    sigma = float(card.jet_resolution(np.array([energy]), np.array([0.5]))[0])
    smeared = jets.momentum[:, 0]
    assert abs(smeared.mean() - energy) < 4 * sigma / np.sqrt(n)
    assert abs(smeared.std() / sigma - 1.0) < 4 / np.sqrt(2 * n)


def test_missing_et_is_minus_the_visible_sum_without_unclustered_energy():
    card = load_card()
    leptons = Particles.from_counts(
        np.array([2]),
        np.array([11, -13], np.int32),
        np.array([_momentum(40, 0.1, 0.2), _momentum(30, -1, 2.0)]),
    )
    empty = Particles(np.zeros(2, np.int64), np.zeros(0, np.int32), np.zeros((0, 4)))
    met = missing_et(leptons, empty, empty, empty, _seeds(1), card)
    np.testing.assert_allclose(met[0], -leptons.momentum[:, 1:3].sum(axis=0), rtol=1e-12)


def test_missing_et_resolution_of_unclustered_energy():
    card = load_card()
    n = 5000
    empty = Particles(np.zeros(n + 1, np.int64), np.zeros(0, np.int32), np.zeros((0, 4)))
    # two back-to-back 50 GeV particles per event: zero vector sum, ΣE_T = 100 GeV
    hadrons = Particles.from_counts(
        np.full(n, 2),
        np.full(2 * n, 211, np.int32),
        np.tile([_momentum(50, 0.0, 0.0), _momentum(50, 0.0, np.pi)], (n, 1)),
    )
    met = missing_et(empty, empty, empty, hadrons, _seeds(n), card)
    sigma = card.met_unclustered_k * np.sqrt(100.0)
    assert abs(met.std(axis=0) / sigma - 1.0).max() < 4 / np.sqrt(2 * n)


def test_counter_based_streams_are_uniform_and_normal():
    seeds = _seeds(50_000)
    u = _streams.uniform(seeds, 7, np.zeros(seeds.size, np.int64))
    assert u.min() > 0
    assert u.max() < 1
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / u.size)
    g = _streams.normal(seeds, 7, np.zeros(seeds.size, np.int64))
    assert abs(g.mean()) < 4 / np.sqrt(g.size)
    assert abs(g.std() - 1) < 4 / np.sqrt(2 * g.size)
    s = _streams.pythia_seeds(seeds)
    assert s.min() >= 1
    assert s.max() <= _streams.PYTHIA_SEED_MAX
    # same seed and counter, same number; another stream, another number
    assert np.array_equal(u, _streams.uniform(seeds, 7, np.zeros(seeds.size, np.int64)))
    assert not np.array_equal(u, _streams.uniform(seeds, 8, np.zeros(seeds.size, np.int64)))
