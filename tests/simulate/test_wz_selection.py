"""W±Z reco selection (eq. 47–48) and observables on hand-built events with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from madsbi.errors import InputError
from madsbi.events.particles import Particles
from madsbi.processes import wz


def _p(pt_: float, eta_: float, phi_: float) -> list[float]:
    px, py, pz = pt_ * np.cos(phi_), pt_ * np.sin(phi_), pt_ * np.sinh(eta_)
    return [float(np.sqrt(px**2 + py**2 + pz**2)), px, py, pz]


def _events(objects: list[list[tuple[int, list[float]]]]) -> Particles:
    counts = np.array([len(o) for o in objects])
    ids = np.array([i for o in objects for i, _ in o], np.int32)
    mom = np.array([p for o in objects for _, p in o]).reshape(-1, 4)
    return Particles.from_counts(counts, ids, mom)


# Z → e⁺e⁻ back to back in the transverse plane at η = 0:
# m² = 2 p_T1 p_T2 (cosh Δη − cos Δφ) = 2·45.6²·2, so m = 91.2 GeV.
E_MINUS = (11, _p(45.6, 0.0, 0.0))
E_PLUS = (-11, _p(45.6, 0.0, np.pi))
MU_PLUS = (-13, _p(40.0, 0.5, 1.0))
MET = np.array([[-50.0, 20.0]])


def _select(leptons, jets=None, met=MET):
    n = leptons.n_events
    jets = jets or Particles(np.zeros(n + 1, np.int64), np.zeros(0, np.int32), np.zeros((0, 4)))
    return wz.select_wz(leptons, jets, np.repeat(met, n, axis=0), np.ones(n, bool))


def _col(sel, name):
    return sel.x[:, wz.OBSERVABLES.index(name)]


def test_a_clean_wz_event_passes_with_hand_computed_observables():
    sel = _select(_events([[MU_PLUS, E_MINUS, E_PLUS]]))
    assert sel.passed.tolist() == [True]
    assert _col(sel, "m_ll_z")[0] == pytest.approx(2 * 45.6, rel=1e-12)
    # W lepton is the muon: m_T = sqrt(2 p_T E_T^miss (1 − cos Δφ))
    met_abs, met_phi = np.hypot(-50, 20), np.arctan2(20, -50)
    mt = np.sqrt(2 * 40 * met_abs * (1 - np.cos(1.0 - met_phi)))
    assert _col(sel, "mt_w")[0] == pytest.approx(mt, rel=1e-12)
    assert _col(sel, "pt_lw")[0] == pytest.approx(40.0)
    assert _col(sel, "sum_charge")[0] == 1
    assert _col(sel, "pt_z")[0] == pytest.approx(0.0, abs=1e-9)
    # m_T^WZ by hand
    px = 40 * np.cos(1.0) - 50
    py = 40 * np.sin(1.0) + 20
    et = 45.6 + 45.6 + 40 + met_abs
    assert _col(sel, "mt_wz")[0] == pytest.approx(np.sqrt(et**2 - px**2 - py**2), rel=1e-12)
    # token order: Z leptons, then the W lepton, then E_T^miss
    assert sel.token_ids[0].tolist() == [11, -11, -13, wz.MET_ID]
    assert _col(sel, "l3_flavour")[0] == 13
    assert _col(sel, "l3_charge")[0] == 1


def test_each_cut_fails_where_it_should():
    four = [MU_PLUS, E_MINUS, E_PLUS, (13, _p(30.0, 0.2, 2.0))]
    soft = [(-13, _p(12.0, 0.5, 1.0)), E_MINUS, E_PLUS]  # p_T < 15: only two leptons count
    no_sfos = [(-13, _p(40.0, 0.5, 1.0)), (-11, _p(45.6, 0.0, 0.0)), E_PLUS]
    off_z = [MU_PLUS, (11, _p(20.0, 0.0, 0.0)), (-11, _p(20.0, 0.0, np.pi))]  # m = 40
    sel = _select(_events([four, soft, no_sfos, off_z]))
    flags = {name: sel.cuts[:, k] for k, name in enumerate(wz.CUTS)}
    assert flags["three_leptons"].tolist() == [False, False, True, True]
    assert flags["z_window"].tolist() == [False, False, False, False]
    assert not sel.passed.any()
    assert _col(sel, "m_ll_z")[3] == pytest.approx(40.0)


def test_jet_veto_counts_central_hard_jets_only():
    leptons = _events([[MU_PLUS, E_MINUS, E_PLUS]] * 3)
    jets = _events(
        [[(90, _p(30.0, 1.0, 0.0))], [(90, _p(30.0, 3.0, 0.0))], [(90, _p(15.0, 0.0, 0.0))]]
    )
    sel = _select(leptons, jets)
    assert _col(sel, "n_jets").tolist() == [1, 0, 0]
    assert sel.passed.tolist() == [False, True, True]


def test_missing_et_and_w_cuts():
    leptons = _events([[MU_PLUS, E_MINUS, E_PLUS]] * 2)
    sel = _select(leptons, met=np.array([[10.0, 0.0]]))
    met_col = wz.CUTS.index("met")
    assert not sel.cuts[:, met_col].any()
    assert _col(sel, "met")[0] == pytest.approx(10.0)


def test_sfos_pair_closest_to_the_z_mass_is_chosen():
    # μ⁺μ⁻ pair at 91.2 and a μ⁺ that would give m = 60 with the μ⁻
    mu_minus = (13, _p(45.6, 0.0, 0.0))
    mu_plus_z = (-13, _p(45.6, 0.0, np.pi))
    mu_plus_w = (-13, _p(30.0, 1.2, 0.8))
    sel = _select(_events([[mu_plus_w, mu_minus, mu_plus_z]]))
    assert _col(sel, "m_ll_z")[0] == pytest.approx(91.2, rel=1e-12)
    assert _col(sel, "pt_lw")[0] == pytest.approx(30.0)


def test_process_checks_name_the_store():
    with pytest.raises(InputError, match=r"store.h5.*p p > e\+ e-"):
        wz.check_process("generate p p > e+ e-", "store.h5")
    wz.check_process("generate p p > w+ z, w+ > l+ vl, z > l+ l-", "store.h5")
    parton = {
        "pdg_id": np.array([[2, -1, 11, -11, 0, 0]]),
        "status": np.array([[-1, -1, 1, 1, 0, 0]]),
    }
    with pytest.raises(InputError, match="event 5 has 2 charged leptons"):
        wz.check_parton_events(parton, "s.h5", first_row=5)
