"""Parametrised ATLAS-like detector response.

Lepton efficiency, resolution and isolation, jet energy resolution, missing E_T. The
numbers live in a TOML card (``cards/atlas_like.toml``, from Delphes' ATLAS card; the card
documents where madsbi departs from Delphes), read and checked by
:mod:`madsbi.simulate.detector_card`.

Vectorised over all objects of a chunk; every random number is counter-based on the copy's
seed, the kind of decision and the object's index within its event
(``madsbi.simulate._streams``), so the response of an event does not depend on the events
simulated with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from madsbi._validate import FloatArray, IntArray
from madsbi.events.particles import Particles, delta_r, eta, phi, pt
from madsbi.simulate import _streams
from madsbi.simulate.detector_card import (
    CARDS,
    DetectorCard,
    DetectorCardError,
    LeptonResponse,
    load_card,
)

U64 = npt.NDArray[np.uint64]

__all__ = [
    "CARDS",
    "DetectorCard",
    "DetectorCardError",
    "LeptonResponse",
    "RecoLeptons",
    "load_card",
    "missing_et",
    "reconstruct_leptons",
    "smear_jets",
]


@dataclass(frozen=True, eq=False)
class RecoLeptons:
    """Reconstructed isolated leptons and which generator particles they came from.

    Attributes
    ----------
    leptons : Particles
        Smeared four-momenta and signed PDG ids, per event.
    source : ndarray of int64
        Index of each lepton's generator particle in the input :class:`Particles`.
    """

    leptons: Particles
    source: IntArray


def _isolation_ratio(
    visible: Particles,
    candidate: IntArray,
    cand_pt: FloatArray,
    delta_r_max: FloatArray,
    pt_min: FloatArray,
) -> FloatArray:
    """Σp_T of the other visible particles (p_T > pt_min) within ΔR of each candidate / p_T."""
    event = visible.event
    counts = visible.counts[event[candidate]]
    pair_cand = np.repeat(np.arange(candidate.size), counts)
    starts = visible.offsets[event[candidate]]
    within = np.arange(pair_cand.size) - np.repeat(np.cumsum(counts) - counts, counts)
    other = np.repeat(starts, counts) + within
    p_all = visible.momentum
    pt_all, eta_all, phi_all = pt(p_all), eta(p_all), phi(p_all)
    c = candidate[pair_cand]
    dr = delta_r(eta_all[c], phi_all[c], eta_all[other], phi_all[other])
    use = (other != c) & (dr < delta_r_max[pair_cand]) & (pt_all[other] > pt_min[pair_cand])
    sums = np.bincount(pair_cand[use], weights=pt_all[other][use], minlength=candidate.size)
    result: FloatArray = sums / cand_pt
    return result


def reconstruct_leptons(visible: Particles, seeds: U64, card: DetectorCard) -> RecoLeptons:
    """Electrons and muons after efficiency, p_T smearing and isolation.

    Parameters
    ----------
    visible : Particles
        Visible final-state particles of N events (neutrinos removed).
    seeds : ndarray of uint64, shape (N,)
        The copies' counter-based seeds.
    card : DetectorCard
    """
    abs_id = np.abs(visible.pdg_id)
    candidate = np.flatnonzero((abs_id == card.electron.pdg) | (abs_id == card.muon.pdg))
    event = visible.event[candidate]
    local = visible.local_index[candidate]
    p = visible.momentum[candidate]
    pt0, abs_eta = pt(p), np.abs(eta(p))
    is_e = abs_id[candidate] == card.electron.pdg
    eff = np.where(
        is_e, card.electron.efficiency_of(pt0, abs_eta), card.muon.efficiency_of(pt0, abs_eta)
    )
    found = _streams.uniform(seeds[event], _streams.LEPTON_EFFICIENCY, local) < eff
    sigma = np.where(
        is_e, card.electron.resolution_of(pt0, abs_eta), card.muon.resolution_of(pt0, abs_eta)
    )
    scale = 1.0 + sigma * _streams.normal(seeds[event], _streams.LEPTON_RESOLUTION, local)
    found &= scale > 0
    pt1 = pt0 * np.maximum(scale, 0.0)
    iso_args = [
        np.where(is_e, getattr(card.electron, k), getattr(card.muon, k))
        for k in ("isolation_delta_r", "isolation_pt_min", "isolation_pt_ratio_max")
    ]
    keep = found.copy()
    if keep.any():
        ratio = _isolation_ratio(
            visible, candidate[keep], pt1[keep], iso_args[0][keep], iso_args[1][keep]
        )
        keep[keep] = ratio < iso_args[2][keep]
    mass2 = np.maximum(p[:, 0] ** 2 - (p[:, 1:] ** 2).sum(1), 0.0)
    p3 = p[:, 1:] * np.maximum(scale, 0.0)[:, None]
    smeared = np.concatenate([np.sqrt(mass2 + (p3**2).sum(1))[:, None], p3], axis=1)
    counts = np.bincount(event[keep], minlength=visible.n_events)
    leptons = Particles.from_counts(counts, visible.pdg_id[candidate[keep]], smeared[keep])
    return RecoLeptons(leptons, candidate[keep])


def smear_jets(jets: Particles, seeds: U64, card: DetectorCard) -> Particles:
    """Jets with their energy smeared by the card's resolution (four-momentum scaled)."""
    p = jets.momentum
    sigma = card.jet_resolution(p[:, 0], np.abs(eta(p)))
    g = _streams.normal(seeds[jets.event], _streams.JET_RESOLUTION, jets.local_index)
    scale = np.maximum(1.0 + sigma / np.maximum(p[:, 0], 1e-12) * g, 0.0)
    return Particles(jets.offsets, jets.pdg_id, p * scale[:, None])


def missing_et(
    leptons: Particles,
    jets_truth: Particles,
    jets_reco: Particles,
    hadronic: Particles,
    seeds: U64,
    card: DetectorCard,
) -> FloatArray:
    """E_T^miss vector (N, 2): −Σ(leptons + jets) − unclustered, the latter smeared.

    ``hadronic`` are the visible particles without the selected leptons; the unclustered
    part is their sum within |η| < eta_max minus the generator-level jets (E-scheme jets are
    the sums of their constituents), and ΣE_T^unclustered its scalar analogue.
    """
    n = leptons.n_events

    def per_event(objects: Particles, values: FloatArray) -> FloatArray:
        out: FloatArray = np.zeros((n, values.shape[1]) if values.ndim > 1 else n)
        np.add.at(out, objects.event, values)
        return out

    inside = np.abs(eta(hadronic.momentum)) < card.met_eta_max
    had_sum = per_event(hadronic.select(inside), hadronic.momentum[inside][:, 1:3])
    had_et = per_event(hadronic.select(inside), pt(hadronic.momentum[inside]))
    jet_sum = per_event(jets_truth, jets_truth.momentum[:, 1:3])
    jet_et = per_event(jets_truth, pt(jets_truth.momentum))
    unclustered = had_sum - jet_sum
    sum_et = np.maximum(had_et - jet_et, 0.0)
    counter = np.zeros(n, dtype=np.int64)
    sigma = card.met_unclustered_k * np.sqrt(sum_et)
    unclustered = unclustered + sigma[:, None] * np.stack(
        [_streams.normal(seeds, _streams.MET_RESOLUTION, counter + k) for k in (0, 1)], axis=1
    )
    visible = per_event(leptons, leptons.momentum[:, 1:3]) + per_event(
        jets_reco, jets_reco.momentum[:, 1:3]
    )
    result: FloatArray = -(visible + unclustered)
    return result
