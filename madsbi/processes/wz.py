"""W±Z → ℓℓℓν at reconstruction level: selection (paper eq. 47–48) and observables.

Selection, per simulated copy, as cut flags (all must hold):

- ``shower``: Pythia succeeded;
- ``three_leptons``: exactly three leptons with p_T > 15 GeV, |η| < 2.5 (eq. 47);
- ``jet_veto``: no jet with p_T > 20 GeV, |η| < 2.5 (eq. 47);
- ``z_window``: a same-flavour opposite-sign pair exists; the one with m_ℓℓ closest to m_Z
  is the Z candidate and 81.2 < m_ℓℓ < 101.2 GeV (eq. 48); the third lepton is the W's;
- ``mt_w``: m_T^W > 30 GeV; ``met``: E_T^miss > 45 GeV; ``pt_lw``: p_T^ℓW > 20 GeV (eq. 48).

Observables (:data:`OBSERVABLES`, zero where undefined, e.g. without three leptons): the
three lepton four-momenta (Z leptons by falling p_T, then the W lepton; by falling p_T when
there is no Z candidate) with charge and flavour (11 or 13), the E_T^miss vector and size,
the sum of lepton charges, the number of jets, m_Z^ℓℓ, p_T^Z, p_T^ℓW,
m_T^W = sqrt(2 p_T^ℓW E_T^miss (1 − cos Δφ)) and
m_T^WZ = sqrt((Σ_ℓ p_T^ℓ + E_T^miss)² − |Σ_ℓ p_T^ℓ⃗ + E_T^miss⃗|²).

W⁺Z and W⁻Z are one process (:data:`PROCESS`, registered as ``"wz"``): the selection is the
same for both charges, and the charge enters as an observable (``sum_charge`` at reco level,
``charge`` at parton level), declared categorical with the lepton charges and flavours and
the jet count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from madsbi._validate import FloatArray
from madsbi.errors import InputError
from madsbi.events.particles import Particles, eta, invariant_mass, pt
from madsbi.processes import wz_parton
from madsbi.processes.base import (
    Process,
    RecoObjects,
    RecoSelection,
    SelectionResult,
    Token,
    register_process,
)

Z_MASS = 91.1876
LEPTON_PT_MIN, LEPTON_ETA_MAX = 15.0, 2.5
JET_PT_MIN, JET_ETA_MAX = 20.0, 2.5
Z_WINDOW = (81.2, 101.2)
MT_W_MIN, MET_MIN, PT_LW_MIN = 30.0, 45.0, 20.0
MET_ID = 12  # PDG id of the E_T^miss token

CUTS = ("shower", "three_leptons", "jet_veto", "z_window", "mt_w", "met", "pt_lw")

_LEPTON_COLUMNS = ("e", "px", "py", "pz", "charge", "flavour")
OBSERVABLES = (
    *(f"l{k}_{c}" for k in (1, 2, 3) for c in _LEPTON_COLUMNS),
    "met_x",
    "met_y",
    "met",
    "sum_charge",
    "n_jets",
    "m_ll_z",
    "pt_z",
    "pt_lw",
    "mt_w",
    "mt_wz",
)

#: Observables with a few discrete values (the data checks compare them with the training's).
CATEGORICAL = (
    *(f"l{k}_{c}" for k in (1, 2, 3) for c in ("charge", "flavour")),
    "sum_charge",
    "n_jets",
)

#: The L-GATr tokens: three leptons (charge, flavour as scalars) and E_T^miss (no p_z).
TOKENS = (
    *(
        Token((f"l{k}_e", f"l{k}_px", f"l{k}_py", f"l{k}_pz"), (f"l{k}_charge", f"l{k}_flavour"))
        for k in (1, 2, 3)
    ),
    Token(("met", "met_x", "met_y", "")),
)

#: The three SFOS pairings of three leptons (i, j) and the remaining one.
_PAIRS = ((0, 1, 2), (0, 2, 1), (1, 2, 0))

#: Observables, cut flags and tokens (three leptons and E_T^miss as (|E_T^miss|, x, y, 0)).
WZSelection = SelectionResult


def lepton_charge(pdg_id: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """Charge of charged leptons from their PDG id (e⁻ = 11 has charge −1)."""
    result: npt.NDArray[np.int32] = -np.sign(pdg_id).astype(np.int32)
    return result


def transverse_mass(p_lep: FloatArray, met: FloatArray) -> FloatArray:
    """m_T = sqrt(2 p_T^ℓ E_T^miss (1 − cos Δφ)) for (N, 4) leptons and (N, 2) E_T^miss."""
    pt_l = pt(p_lep)
    met_abs = np.hypot(met[:, 0], met[:, 1])
    dot = p_lep[:, 1] * met[:, 0] + p_lep[:, 2] * met[:, 1]
    result: FloatArray = np.sqrt(np.maximum(2.0 * (pt_l * met_abs - dot), 0.0))
    return result


def transverse_mass_wz(leptons: FloatArray, met: FloatArray) -> FloatArray:
    """m_T^WZ of (N, 3, 4) leptons and (N, 2) E_T^miss."""
    et = pt(leptons).sum(axis=1) + np.hypot(met[:, 0], met[:, 1])
    px = leptons[:, :, 1].sum(axis=1) + met[:, 0]
    py = leptons[:, :, 2].sum(axis=1) + met[:, 1]
    result: FloatArray = np.sqrt(np.maximum(et**2 - px**2 - py**2, 0.0))
    return result


def select_wz(
    leptons: Particles, jets: Particles, met: FloatArray, shower_ok: npt.NDArray[np.bool_]
) -> WZSelection:
    """Apply eq. 47–48 and compute the observables (see the module docstring).

    Parameters
    ----------
    leptons : Particles
        Reconstructed isolated leptons (signed PDG ids 11/13).
    jets : Particles
        Reconstructed jets.
    met : ndarray, shape (N, 2)
        E_T^miss vector.
    shower_ok : ndarray of bool, shape (N,)
    """
    n = leptons.n_events
    p_l = leptons.momentum
    good: npt.NDArray[np.bool_] = (pt(p_l) > LEPTON_PT_MIN) & (np.abs(eta(p_l)) < LEPTON_ETA_MAX)
    selected = leptons.select(good)
    p_j = jets.momentum
    jet_ok = (pt(p_j) > JET_PT_MIN) & (np.abs(eta(p_j)) < JET_ETA_MAX)
    n_jets = np.bincount(jets.event[jet_ok], minlength=n)
    three = selected.counts == 3
    # (N, 3, 4) leptons and ids, sorted by falling p_T; zero for events without three.
    lep = np.zeros((n, 3, 4))
    ids = np.zeros((n, 3), dtype=np.int32)
    rows = np.flatnonzero(three)
    if rows.size:
        start = selected.offsets[rows]
        index = start[:, None] + np.arange(3)[None, :]
        lep[rows] = selected.momentum[index]
        ids[rows] = selected.pdg_id[index]
        order = np.argsort(-pt(lep[rows]), axis=1, kind="stable")
        lep[rows] = np.take_along_axis(lep[rows], order[:, :, None], axis=1)
        ids[rows] = np.take_along_axis(ids[rows], order, axis=1)
    # Z candidate: the SFOS pair closest to m_Z.
    best = np.full(n, -1)
    best_dm = np.full(n, np.inf)
    masses = np.zeros((n, 3))
    for k, (i, j, _) in enumerate(_PAIRS):
        sfos = (ids[:, i] == -ids[:, j]) & (ids[:, i] != 0)
        masses[:, k] = invariant_mass(lep[:, i] + lep[:, j])
        dm = np.where(sfos & three, np.abs(masses[:, k] - Z_MASS), np.inf)
        better = dm < best_dm
        best[better], best_dm[better] = k, dm[better]
    has_z = best >= 0
    perm = np.array([*_PAIRS, (0, 1, 2)])  # best = -1 (no Z candidate) picks the last row
    ordered = np.take_along_axis(lep, perm[best][:, :, None], axis=1)
    ordered_ids = np.take_along_axis(ids, perm[best], axis=1)
    # The pairs keep the p_T order, so the Z leptons come by falling p_T.
    m_ll = np.where(has_z, masses[np.arange(n), np.maximum(best, 0)], 0.0)
    z = ordered[:, 0] + ordered[:, 1]
    w_lep = ordered[:, 2]
    met_abs = np.hypot(met[:, 0], met[:, 1])
    mt_w = np.where(three, transverse_mass(w_lep, met), 0.0)
    charges = lepton_charge(ordered_ids) * (ordered_ids != 0)
    x = np.zeros((n, len(OBSERVABLES)))
    for k in range(3):
        x[:, 6 * k : 6 * k + 4] = ordered[:, k]
        x[:, 6 * k + 4] = charges[:, k]
        x[:, 6 * k + 5] = np.abs(ordered_ids[:, k])
    tail = {
        "met_x": met[:, 0],
        "met_y": met[:, 1],
        "met": met_abs,
        "sum_charge": charges.sum(axis=1),
        "n_jets": n_jets,
        "m_ll_z": m_ll,
        "pt_z": np.where(has_z, pt(z), 0.0),
        "pt_lw": np.where(three, pt(w_lep), 0.0),
        "mt_w": mt_w,
        "mt_wz": np.where(three, transverse_mass_wz(ordered, met), 0.0),
    }
    for name, value in tail.items():
        x[:, OBSERVABLES.index(name)] = value
    cuts = np.stack(
        [
            shower_ok,
            three,
            n_jets == 0,
            has_z & (m_ll > Z_WINDOW[0]) & (m_ll < Z_WINDOW[1]),
            mt_w > MT_W_MIN,
            met_abs > MET_MIN,
            tail["pt_lw"] > PT_LW_MIN,
        ],
        axis=1,
    )
    tokens = np.zeros((n, 4, 4))
    tokens[:, :3] = ordered
    tokens[:, 3] = np.stack([met_abs, met[:, 0], met[:, 1], np.zeros(n)], axis=1)
    token_ids = np.zeros((n, 4), dtype=np.int32)
    token_ids[:, :3] = ordered_ids
    token_ids[:, 3] = MET_ID
    return WZSelection(x, cuts, tokens, token_ids)


def accepts_wz(process: str) -> bool:
    """Whether a MadGraph process definition generates W±Z (``generate p p > w+ z …``)."""
    text = " ".join(process.lower().split())
    return ("w+ z" in text or "w- z" in text or "w z" in text) and "generate" in text


def check_process(process: str, where: str) -> None:
    """Refuse a store whose MadGraph process is not W±Z (empty process text passes).

    Raises
    ------
    InputError
        Naming the store and its process.
    """
    PROCESS.check_process(process, where)


def check_parton_events(parton: Mapping[str, Any], where: str, first_row: int = 0) -> None:
    """Every event must have three charged leptons (e, μ, τ) and a neutrino in its final state.

    Raises
    ------
    InputError
        Naming the store and the first event without them.
    """
    pdg = np.abs(np.asarray(parton["pdg_id"]))
    final = np.asarray(parton["status"]) == 1
    n_leptons = (final & np.isin(pdg, (11, 13, 15))).sum(axis=1)
    n_neutrinos = (final & np.isin(pdg, (12, 14, 16))).sum(axis=1)
    bad = (n_leptons != 3) | (n_neutrinos != 1)
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(
            f"{where}: event {first_row + row} has {n_leptons[row]} charged leptons and "
            f"{n_neutrinos[row]} neutrinos in its final state; the reco simulation needs "
            "W±Z → 3ℓν parton events (decays in the process definition)"
        )


def _select(objects: RecoObjects) -> SelectionResult:
    return select_wz(objects.leptons, objects.jets, objects.met, objects.shower_ok)


#: W±Z → 3ℓν, both charges (registered as ``"wz"``).
PROCESS = register_process(
    Process(
        name="wz",
        description="W±Z → 3ℓν",
        accepts=accepts_wz,
        selection=RecoSelection(OBSERVABLES, CUTS, _select, CATEGORICAL, TOKENS),
        parton_observables=wz_parton.OBSERVABLES,
        parton_fields=wz_parton.PARTON_FIELDS,
        parton_categorical=("charge",),
        check_events=check_parton_events,
    )
)
