"""Jets faking leptons (the detector card's ``[fakes]`` table), applied as event weights."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from madsbi.data import sample_path
from madsbi.events import open_store, schema
from madsbi.events.convert import ConvertSettings, convert_lhe
from madsbi.events.particles import Particles, eta, pt
from madsbi.processes import Process, RecoObjects, register_process, unregister_process, wz
from madsbi.simulate.detector import plan_fakes
from madsbi.simulate.detector_card import CARDS, DetectorCardError, load_card
from madsbi.simulate.reco import RecoConfig, simulate_reco

DATA = Path(__file__).parents[1] / "data"
FAKES = "atlas_like_fakes"


def _card_with(tmp_path: Path, fakes: str) -> Path:
    text = (CARDS / "atlas_like.toml").read_text() + "\n[fakes]\n" + fakes
    path = tmp_path / "card.toml"
    path.write_text(text)
    return path


GOOD = (
    "eta_edges = [0.0, 2.5]\npt_edges = [20.0, 50.0, 1e9]\n"
    "electron = [[0.01, 0.002]]\nmuon = [[0.005, 0.001]]\nmomentum_fraction = 0.5\n"
)


def test_shipped_cards() -> None:
    assert load_card("atlas_like").fakes is None  # off by default
    rates = load_card(FAKES).fakes
    assert rates is not None
    assert 0 < rates.momentum_fraction <= 1
    # pheno-level size: 1e-3 .. 1e-2 per jet at 20-50 GeV, falling with p_T
    low = rates.pt_edges[:-1] < 50
    both = rates.electron + rates.muon
    assert ((both[:, low] >= 1e-3) & (both[:, low] <= 2e-2)).all()
    assert (np.diff(rates.electron, axis=1) < 0).all()
    assert (np.diff(rates.muon, axis=1) < 0).all()
    assert "NOT A MEASUREMENT" in (CARDS / f"{FAKES}.toml").read_text()


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (("electron = [[0.01, 0.002]]", "electron = [[1.5, 0.002]]"), "electron"),
        (("electron = [[0.01, 0.002]]", "electron = [[0.01]]"), "shape"),
        (("electron = [[0.01, 0.002]]", "electron = [[0.7, 0.002]]\nmuon_x = 1"), "muon_x"),
        (("muon = [[0.005, 0.001]]", "muon = [[0.5, 0.001]]\n"), None),
        (("momentum_fraction = 0.5", "momentum_fraction = 0.0"), "momentum_fraction"),
        (("momentum_fraction = 0.5\n", ""), "momentum_fraction"),
    ],
)
def test_bad_fakes_tables_are_refused(
    tmp_path: Path, edit: tuple[str, str], words: str | None
) -> None:
    text = GOOD.replace(*edit)
    if words is None:  # electron 0.01 + muon 0.5 is fine; make the sum exceed 1
        text = text.replace("electron = [[0.01", "electron = [[0.6")
        words = "exceeds 1"
    with pytest.raises(DetectorCardError, match=words) as info:
        load_card(_card_with(tmp_path, text))
    assert "[fakes]" in str(info.value)


def _objects() -> RecoObjects:
    """Three copies: two leptons + two jets, one lepton + no jet, no lepton + one jet."""
    lep = np.array([[50, 30, 0, 40], [40, -30, 10, 0], [20, 10, 10, 0]], dtype=float)
    jets = np.array(
        [[60, 25, 0, 30], [300, 100, 50, 250], [45, 0, 35, 20]], dtype=float
    )  # p_T 25 (|η| ~ 1.0), 112 (|η| ~ 1.5), 35 (|η| ~ 0.55)
    leptons = Particles.from_counts(np.array([2, 1, 0]), np.array([11, -11, 13]), lep)
    jet_p = Particles.from_counts(np.array([2, 0, 1]), np.zeros(3, np.int32), jets)
    met = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    return RecoObjects(leptons, jet_p, met, np.array([True, True, False]))


def test_fake_entries_weights_are_the_tabulated_probabilities() -> None:
    card = load_card(FAKES)
    rates = card.fakes
    assert rates is not None
    objects = _objects()
    seeds = np.array([11, 12, 13], dtype=np.uint64)
    fakes = plan_fakes(objects.jets, seeds, card)
    assert fakes is not None
    p = objects.jets.momentum
    expected = rates.probabilities(pt(p), np.abs(eta(p)))
    assert fakes.copy.tolist() == [0, 0, 0, 0, 2, 2]
    assert fakes.jet.tolist() == [0, 0, 1, 1, 2, 2]
    assert np.abs(fakes.pdg_id).tolist() == [11, 13, 11, 13, 11, 13]
    np.testing.assert_array_equal(fakes.probability, expected[fakes.jet, [0, 1, 0, 1, 0, 1]])
    # the bins by hand: jet 0 p_T 25 barrel, jet 1 p_T 112 endcap, jet 2 p_T 35 barrel
    np.testing.assert_array_equal(
        fakes.probability,
        [
            rates.electron[0, 0],
            rates.muon[0, 0],
            rates.electron[1, 3],
            rates.muon[1, 3],
            rates.electron[0, 1],
            rates.muon[0, 1],
        ],
    )
    keep = fakes.keep_probability()
    np.testing.assert_allclose(keep, [1 - expected[:2].sum(), 1.0, 1 - expected[2].sum()])
    faked = fakes.objects(objects)
    assert faked.leptons.counts.tolist() == [3, 3, 3, 3, 1, 1]
    assert faked.jets.counts.tolist() == [1, 1, 1, 1, 0, 0]
    # entries 0, 1 fake jet 0 and keep jet 1; entries 2, 3 the other way round
    np.testing.assert_array_equal(faked.jets.momentum, p[[1, 1, 0, 0]])
    # entry 2's fake is 0.7 × jet 1's three-momentum, massless
    fake = faked.leptons.momentum[faked.leptons.offsets[2] + 2]
    np.testing.assert_allclose(fake[1:], 0.7 * p[1, 1:])
    np.testing.assert_allclose(fake[0], np.linalg.norm(fake[1:]))
    np.testing.assert_array_equal(faked.met, objects.met[fakes.copy])
    np.testing.assert_array_equal(faked.shower_ok, [True] * 4 + [False] * 2)
    # counter-based charge: the same seeds give the same signs, one per jet
    again = plan_fakes(objects.jets, seeds, card)
    assert again is not None
    assert again.pdg_id.tolist() == fakes.pdg_id.tolist()
    assert np.sign(fakes.pdg_id[0]) == np.sign(fakes.pdg_id[1])
    assert plan_fakes(objects.jets, seeds, load_card("atlas_like")) is None


def test_signal_card_output_is_the_nominal_rows_of_the_fakes_card(tmp_path: Path) -> None:
    src = sample_path("wz_leptonic")
    plain = simulate_reco(
        src, tmp_path / "a.h5", RecoConfig(seed=3, smear=False, shower="fast"), stop=30
    )
    fake = simulate_reco(
        src, tmp_path / "b.h5", RecoConfig(seed=3, smear=False, shower="fast", card=FAKES), stop=30
    )
    with open_store(plain.path) as a, open_store(fake.path) as b:
        ra, rb = a.read(schema.RECO), b.read(schema.RECO)
        n = ra.n_events
        assert n == 30
        assert rb.n_events > n
        for name in ("x", "cuts", "momentum", "pdg_id", "parent", "copy_index"):
            np.testing.assert_array_equal(rb[name][:n], ra[name], name)
        assert (rb["weight"][:n] <= ra["weight"]).all()
        assert (rb["weight"][:n] > 0.9 * ra["weight"]).all()
        np.testing.assert_array_equal(a.read()["coefficients"], b.read()["coefficients"])


@pytest.fixture
def zjets(tmp_path: Path) -> Iterator[Path]:
    """A θ-independent Drell-Yan store (p p > e+ e-) and a process that describes it."""
    store = tmp_path / "dy.h5"
    convert_lhe(DATA / "dy_1k.lhe.gz", store, ConvertSettings(reweighting=False), max_events=300)
    dy = Process(
        name="dy_test",
        description="Drell-Yan (test)",
        accepts=lambda text: "p p > e+ e-" in text,
        selection=wz.PROCESS.selection,
    )
    register_process(dy)
    yield store
    unregister_process("dy_test")


def test_zjets_gets_weighted_three_lepton_entries(tmp_path: Path, zjets: Any) -> None:
    config = RecoConfig(seed=8, smear=False, shower="fast", card=FAKES)
    report = simulate_reco(zjets, tmp_path / "z.h5", config, chunk_size=100)
    rates = load_card(FAKES).fakes
    assert rates is not None
    table = np.concatenate([rates.electron.ravel(), rates.muon.ravel()])
    with open_store(report.path) as store:
        reco = store.read(schema.RECO)
        parent_w = store.read(schema.PARTON, ["weight"])["weight"]
    assert report.n_copies == 300
    three = reco["cuts"][:, wz.CUTS.index("three_leptons")].astype(bool)
    ratio = reco["weight"] / parent_w[reco["parent"]]
    # nominal rows keep 1 − Σp (> 0.9), fake rows carry p (< 0.02)
    fake = ratio < 0.5
    assert (ratio[~fake] > 0.9).all()
    assert fake.sum() > 20
    # every fake row's weight factor is exactly a tabulated probability
    nearest = table[np.argmin(np.abs(ratio[fake, None] - table), axis=1)]
    np.testing.assert_allclose(ratio[fake], nearest, rtol=1e-12)
    # the Drell-Yan copies have two leptons; a jet faking a lepton makes the third
    assert three[fake].sum() > 5
    assert three[~fake].sum() <= 2
    n_lep = (reco["pdg_id"][:, :3] != 0).sum(axis=1)
    assert (n_lep[three] == 3).all()
