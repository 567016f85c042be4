"""Paired detector variations (issue 27 item 3) on fixed inputs, without Pythia.

The same events and the same random numbers: a variation changes only the objects it names
(and E_T^miss, recomputed from them), by exactly its factor 1 + α·δ.
"""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.errors import InputError
from madsbi.events.particles import Particles, pt
from madsbi.events.schema import VARIATION_NAMES
from madsbi.simulate.detector import load_card
from madsbi.simulate.detector_card import CARDS
from madsbi.simulate.reco import RecoConfig
from madsbi.simulate.smearing import copy_seeds
from madsbi.simulate.variations import (
    check_shifts,
    detect,
    parse_shifts,
    parse_variations,
    stored_rows,
)

N = 300


def _momentum(pt_: float, eta_: float, phi_: float) -> list[float]:
    px, py, pz = pt_ * np.cos(phi_), pt_ * np.sin(phi_), pt_ * np.sinh(eta_)
    return [float(np.sqrt(px**2 + py**2 + pz**2)), px, py, pz]


@pytest.fixture(scope="module")
def response():
    """Events with an electron, a muon, a positron far apart, a 60 GeV jet and soft hadrons."""
    rng = np.random.default_rng(3)
    ids, momenta = [], []
    for _ in range(N):
        phi0 = rng.uniform(-np.pi, np.pi)
        event = [
            (11, _momentum(rng.uniform(25, 80), rng.uniform(-2, 2), phi0)),
            (-13, _momentum(rng.uniform(25, 80), rng.uniform(-2, 2), phi0 + 2.1)),
            (-11, _momentum(rng.uniform(25, 80), rng.uniform(-2, 2), phi0 - 2.1)),
        ]
        # a jet: three collinear pions, and soft unclustered ones
        eta_j, phi_j = rng.uniform(-2, 2), phi0 + np.pi
        event += [(211, _momentum(20.0, eta_j + d, phi_j - d)) for d in (-0.05, 0.0, 0.05)]
        event += [(211, _momentum(2.0, rng.uniform(-4, 4), rng.uniform(-3, 3))) for _ in range(5)]
        for pdg, p in event:
            ids.append(pdg)
            momenta.append(p)
    final = Particles.from_counts(
        np.full(N, 11), np.array(ids, np.int32), np.array(momenta, np.float64)
    )
    seeds = copy_seeds(17, np.arange(N), np.zeros(N, np.int64))
    return detect(final, np.ones(N, bool), seeds, load_card())


def _same(a: Particles, b: Particles) -> None:
    np.testing.assert_array_equal(a.offsets, b.offsets)
    np.testing.assert_array_equal(a.pdg_id, b.pdg_id)
    np.testing.assert_array_equal(a.momentum, b.momentum)


def _sum_xy(objects: Particles, mask: np.ndarray) -> np.ndarray:
    out = np.zeros((objects.n_events, 2))
    np.add.at(out, objects.event[mask], objects.momentum[mask][:, 1:3])
    return out


def test_no_shift_is_the_nominal_bit_for_bit(response):
    card = load_card()
    nominal = response.objects(card)
    zero = response.objects(card, dict.fromkeys(VARIATION_NAMES, 0.0))
    _same(nominal.leptons, zero.leptons)
    _same(nominal.jets, zero.jets)
    np.testing.assert_array_equal(nominal.met, zero.met)
    # the events have leptons and jets to vary
    assert nominal.leptons.pdg_id.size > N
    assert nominal.jets.pdg_id.size > N // 2


@pytest.mark.parametrize(("name", "flavour"), [("lep_scale_e", 11), ("lep_scale_mu", 13)])
@pytest.mark.parametrize("alpha", [1.0, -1.0, 2.5])
def test_lepton_scale_changes_only_that_flavour_and_met(response, name, flavour, alpha):
    card = load_card()
    delta = card.variations[name]
    nominal = response.objects(card)
    varied = response.objects(card, {name: alpha})
    _same(nominal.jets, varied.jets)
    lep0, lep1 = nominal.leptons, varied.leptons
    np.testing.assert_array_equal(lep0.offsets, lep1.offsets)
    np.testing.assert_array_equal(lep0.pdg_id, lep1.pdg_id)
    mine = np.abs(lep0.pdg_id) == flavour
    assert mine.any()
    assert (~mine).any()
    np.testing.assert_array_equal(lep1.momentum[~mine], lep0.momentum[~mine])
    np.testing.assert_allclose(
        lep1.momentum[mine], lep0.momentum[mine] * (1 + alpha * delta), rtol=1e-15, atol=0
    )
    # E_T^miss balances the change of the varied leptons exactly
    shift = alpha * delta * _sum_xy(lep0, mine)
    np.testing.assert_allclose(varied.met, nominal.met - shift, rtol=0, atol=1e-9)


def test_jet_scale_changes_only_the_jets_and_met(response):
    card = load_card()
    delta = card.variations["jet_scale"]
    nominal, up = response.objects(card), response.objects(card, {"jet_scale": 1.0})
    _same(nominal.leptons, up.leptons)
    np.testing.assert_allclose(up.jets.momentum, nominal.jets.momentum * (1 + delta), rtol=1e-15)
    shift = delta * _sum_xy(nominal.jets, np.ones(nominal.jets.pdg_id.size, bool))
    np.testing.assert_allclose(up.met, nominal.met - shift, rtol=0, atol=1e-9)


def test_lepton_resolution_rescales_the_same_fluctuations(response):
    card = load_card()
    delta = card.variations["lep_res"]
    truth = response.leptons.truth
    nominal = response.objects(card)
    _same(nominal.jets, response.objects(card, {"lep_res": -1.0}).jets)
    for alpha in (1.0, -1.0):
        varied = response.objects(card, {"lep_res": alpha})
        r0 = pt(nominal.leptons.momentum) / pt(truth) - 1
        r1 = pt(varied.leptons.momentum) / pt(truth) - 1
        np.testing.assert_allclose(r1, (1 + alpha * delta) * r0, rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(varied.leptons.pdg_id, nominal.leptons.pdg_id)
    up = response.objects(card, {"lep_res": 1.0})
    assert np.std(pt(up.leptons.momentum) / pt(truth)) > np.std(
        pt(nominal.leptons.momentum) / pt(truth)
    )


def test_soft_term_variations_change_only_met(response):
    card = load_card()
    nominal = response.objects(card)
    soft = response.soft
    for name in ("met_scale", "met_soft"):
        delta = card.variations[name]
        up = response.objects(card, {name: 1.0})
        _same(nominal.leptons, up.leptons)
        _same(nominal.jets, up.jets)
        change = soft.vector if name == "met_scale" else soft.sigma[:, None] * soft.draw
        np.testing.assert_allclose(up.met, nominal.met - delta * change, rtol=0, atol=1e-9)
        assert not np.array_equal(up.met, nominal.met)


def test_variation_names_are_checked():
    card = load_card()
    assert parse_variations("all", card) == VARIATION_NAMES
    assert parse_variations("lep_res, jet_scale", card) == ("lep_res", "jet_scale")
    known = ", ".join(VARIATION_NAMES)
    with pytest.raises(
        InputError, match=rf"unknown detector variation 'lep_scale'; known: {known}"
    ):
        parse_variations("lep_res,lep_scale", card)
    with pytest.raises(InputError, match="given twice"):
        parse_variations("lep_res,lep_res", card)
    with pytest.raises(InputError, match="expected names or 'all'"):
        parse_variations(" , ", card)
    with pytest.raises(InputError, match=r"unknown detector variation 'pdf'"):
        RecoConfig(variations=("pdf",))
    with pytest.raises(InputError, match="give one or the other"):
        RecoConfig(variations=("lep_res",), shifts=(("jet_scale", 1.0),))


def test_shifts_are_checked():
    card = load_card()
    assert parse_shifts(["lep_scale_e=1", "jet_scale=-0.5"]) == (
        ("lep_scale_e", 1.0),
        ("jet_scale", -0.5),
    )
    for bad in ("lep_scale_e", "lep_scale_e=x", "=1", "lep_res=nan"):
        with pytest.raises(InputError, match="NAME=SIGMAS"):
            parse_shifts([bad])
    with pytest.raises(InputError, match=r"unknown detector variation 'lep_scal'"):
        check_shifts([("lep_scal", 1.0)], card)
    # 1 + α·δ must stay positive: α = -10 with δ = 0.1 leaves no resolution
    with pytest.raises(InputError, match=r"lep_res=-10.0.*1 \+ α·δ > 0.*δ = 0.1"):
        check_shifts([("lep_res", -10.0)], card)
    assert check_shifts([("lep_res", -9.0)], card) == {"lep_res": -9.0}


def _card_text(old: str, new: str) -> str:
    text = (CARDS / "atlas_like.toml").read_text()
    assert old in text
    return text.replace(old, new, 1)


def test_card_variation_entries_are_checked(tmp_path):
    cases = [
        ("lep_res = 0.10", "lep_res = -0.10", r"\[variations\]\.lep_res: expected .*> 0.*-0\.1"),
        ("lep_res = 0.10", "lep_res = 1.5", r"\[variations\]\.lep_res: expected .*< 1.*1\.5"),
        (
            "jet_scale = 0.03",
            "jet_scal = 0.03",
            r"unknown key 'jet_scal'.*did you mean 'jet_scale'",
        ),
        ("met_soft = 0.10", 'met_soft = "10%"', r"\[variations\]\.met_soft: expected numbers"),
    ]
    for k, (old, new, message) in enumerate(cases):
        path = tmp_path / f"card{k}.toml"
        path.write_text(_card_text(old, new))
        with pytest.raises(InputError, match=message) as caught:
            load_card(path)
        assert str(path) in str(caught.value)
    # a card without a size for a variation refuses it by name
    path = tmp_path / "partial.toml"
    path.write_text(_card_text("jet_scale = 0.03\n", ""))
    card = load_card(path)
    assert "jet_scale" not in card.variations
    assert "jet_scale" not in parse_variations("all", card)
    with pytest.raises(InputError, match=rf"{path} gives no size for 'jet_scale'"):
        parse_variations("jet_scale", card)
    with pytest.raises(InputError, match="gives no size for 'jet_scale'"):
        RecoConfig(card=str(path), shifts=(("jet_scale", 1.0),))


def test_stored_rows_keep_events_any_variation_selects():
    nominal = np.array([True, False, False, False])
    up = np.array([False, True, False, False])
    down = np.array([True, False, False, True])
    np.testing.assert_array_equal(stored_rows(nominal, [up, down]), [True, True, False, True])
    np.testing.assert_array_equal(stored_rows(nominal, []), nominal)


def test_simulate_run_config_takes_variations(tmp_path):
    from madsbi.errors import ConfigError
    from madsbi.simulate.reco_config import RecoSimConfig

    path = tmp_path / "sim.toml"
    head = '[sample]\nstore = "wz_leptonic"\n\n[reco]\nshower = "fast"\n'
    path.write_text(head + 'variations = ["all"]\n')
    assert RecoSimConfig.from_toml(path).reco.variations == VARIATION_NAMES
    path.write_text(head + 'variations = ["lep_res", "jet_scale"]\n')
    assert RecoSimConfig.from_toml(path).reco.variations == ("lep_res", "jet_scale")
    path.write_text(head + 'variations = ["lep_ress"]\n')
    with pytest.raises(ConfigError, match=r"\[reco\] variations: .*'lep_ress'; known: lep_scale_e"):
        RecoSimConfig.from_toml(path)
