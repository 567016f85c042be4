"""Parametrised ATLAS-like detector response.

Lepton efficiency, resolution and isolation, jet energy resolution, missing E_T. The
numbers live in a TOML card (``cards/atlas_like.toml``, from Delphes' ATLAS card; the card
documents where madsbi departs from Delphes), read and checked by
:mod:`madsbi.simulate.detector_card`.

Jets faking leptons (the card's optional ``[fakes]`` table, :class:`FakeEntries`) are applied
as event weights: one extra entry per jet and flavour that may fake, see :func:`plan_fakes`.

Vectorised over all objects of a chunk; every random number is counter-based on the copy's
seed, the kind of decision and the object's index within its event
(``madsbi.simulate._streams``), so the response of an event does not depend on the events
simulated with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from madsbi._validate import FloatArray, IntArray
from madsbi.events.particles import Particles, delta_r, eta, phi, pt
from madsbi.processes import RecoObjects
from madsbi.simulate import _streams
from madsbi.simulate.detector_card import (
    CARDS,
    DetectorCard,
    DetectorCardError,
    FakeRates,
    LeptonResponse,
    load_card,
)

U64 = npt.NDArray[np.uint64]

__all__ = [
    "CARDS",
    "DetectorCard",
    "DetectorCardError",
    "FakeEntries",
    "FakeRates",
    "LeptonResponse",
    "RecoLeptons",
    "SoftTerm",
    "escaping_muons",
    "load_card",
    "met_from",
    "missing_et",
    "plan_fakes",
    "reconstruct_leptons",
    "scale_momenta",
    "smear_jets",
    "soft_term",
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
    truth : ndarray, shape (L, 4)
        The leptons' generator four-momenta.
    sigma : ndarray, shape (L,)
        Their relative p_T resolution.
    draw : ndarray, shape (L,)
        The standard normal numbers that smeared them (p_T × (1 + sigma·draw)), kept so
        that a detector variation re-smears with the same numbers
        (:mod:`madsbi.simulate.variations`).
    escaped : ndarray of int64
        Indices in the input :class:`Particles` of the muons that escape the detector (the
        card's ``escaping_muons``, :func:`escaping_muons`): they make E_T^miss, so they are
        neither clustered into jets nor counted in the soft term. Empty for ``"none"``.
    """

    leptons: Particles
    source: IntArray
    truth: FloatArray
    sigma: FloatArray
    draw: FloatArray
    escaped: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass(frozen=True, eq=False)
class SoftTerm:
    """The unclustered (soft) part of E_T^miss of N copies, before and after smearing.

    Attributes
    ----------
    vector : ndarray, shape (N, 2)
        Generator-level vector sum of the unclustered visible particles (GeV).
    sigma : ndarray, shape (N,)
        Resolution of each component, k·sqrt(ΣE_T^unclustered) (GeV).
    draw : ndarray, shape (N, 2)
        The standard normal numbers of the smearing.
    """

    vector: FloatArray
    sigma: FloatArray
    draw: FloatArray

    def smeared(self, scale: float = 1.0, resolution: float = 1.0) -> FloatArray:
        """The measured soft term (N, 2): vector·scale + sigma·resolution·draw."""
        result: FloatArray = self.vector * scale + (self.sigma * resolution)[:, None] * self.draw
        return result


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
    draw = _streams.normal(seeds[event], _streams.LEPTON_RESOLUTION, local)
    scale = 1.0 + sigma * draw
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
    counts = np.bincount(event[keep], minlength=visible.n_events)
    smeared = scale_momenta(p[keep], scale[keep])
    leptons = Particles.from_counts(counts, visible.pdg_id[candidate[keep]], smeared)
    escaped = candidate[escaping_muons(card, ~is_e, found, pt0, abs_eta, seeds[event], local)]
    return RecoLeptons(leptons, candidate[keep], p[keep], sigma[keep], draw[keep], escaped)


def escaping_muons(
    card: DetectorCard,
    is_muon: npt.NDArray[np.bool_],
    found: npt.NDArray[np.bool_],
    pt_: FloatArray,
    abs_eta: FloatArray,
    seeds: U64,
    local: IntArray,
) -> npt.NDArray[np.bool_]:
    """Which lepton candidates are muons that escape (the card's ``escaping_muons``).

    ``"none"``: no candidate. ``"unreconstructed"``: every muon not ``found`` (lost to the
    efficiency tracking × identification, outside its table, or smeared to p_T <= 0).
    ``"untracked"``: muons without a track, u >= tracking efficiency with the same uniform u
    that decided ``found`` (u < tracking × identification), so an untracked muon is never
    found. A found muon that fails isolation is measured and never escapes.

    Parameters
    ----------
    card : DetectorCard
    is_muon, found : ndarray of bool, shape (C,)
        Per candidate: a muon; passed the efficiency and the smearing.
    pt_, abs_eta : ndarray, shape (C,)
        Generator p_T and |η|.
    seeds : ndarray of uint64, shape (C,)
        The seed of each candidate's copy.
    local : ndarray of int64, shape (C,)
        The candidate's index within its event (the counter of its efficiency draw).
    """
    mode = card.escaping_muons
    if mode == "none":
        return np.zeros(is_muon.shape, dtype=bool)
    if mode == "unreconstructed":
        result: npt.NDArray[np.bool_] = is_muon & ~found
        return result
    tracked = _streams.uniform(seeds, _streams.LEPTON_EFFICIENCY, local) < card.muon.tracking_of(
        pt_, abs_eta
    )
    untracked: npt.NDArray[np.bool_] = is_muon & ~tracked
    return untracked


def scale_momenta(p: FloatArray, scale: FloatArray) -> FloatArray:
    """Four-momenta (n, 4) with their 3-momenta scaled (negative scales: 0), masses kept."""
    mass2 = np.maximum(p[:, 0] ** 2 - (p[:, 1:] ** 2).sum(1), 0.0)
    p3 = p[:, 1:] * np.maximum(scale, 0.0)[:, None]
    result: FloatArray = np.concatenate([np.sqrt(mass2 + (p3**2).sum(1))[:, None], p3], axis=1)
    return result


def smear_jets(jets: Particles, seeds: U64, card: DetectorCard) -> Particles:
    """Jets with their energy smeared by the card's resolution (four-momentum scaled)."""
    p = jets.momentum
    sigma = card.jet_resolution(p[:, 0], np.abs(eta(p)))
    g = _streams.normal(seeds[jets.event], _streams.JET_RESOLUTION, jets.local_index)
    scale = np.maximum(1.0 + sigma / np.maximum(p[:, 0], 1e-12) * g, 0.0)
    return Particles(jets.offsets, jets.pdg_id, p * scale[:, None])


def _per_event(objects: Particles, values: FloatArray, n: int) -> FloatArray:
    out: FloatArray = np.zeros((n, values.shape[1]) if values.ndim > 1 else n)
    np.add.at(out, objects.event, values)
    return out


def soft_term(
    jets_truth: Particles, hadronic: Particles, seeds: U64, card: DetectorCard
) -> SoftTerm:
    """The unclustered part of E_T^miss and its smearing (see :func:`missing_et`)."""
    n = hadronic.n_events
    inside = np.abs(eta(hadronic.momentum)) < card.met_eta_max
    had = hadronic.select(inside)
    had_sum = _per_event(had, hadronic.momentum[inside][:, 1:3], n)
    had_et = _per_event(had, pt(hadronic.momentum[inside]), n)
    jet_sum = _per_event(jets_truth, jets_truth.momentum[:, 1:3], n)
    jet_et = _per_event(jets_truth, pt(jets_truth.momentum), n)
    sum_et = np.maximum(had_et - jet_et, 0.0)
    counter = np.zeros(n, dtype=np.int64)
    draw = np.stack(
        [_streams.normal(seeds, _streams.MET_RESOLUTION, counter + k) for k in (0, 1)], axis=1
    )
    sigma = card.met_unclustered_k * np.sqrt(sum_et)
    if card.met_unclustered_noise > 0:
        sigma = np.hypot(sigma, card.met_unclustered_noise)
    return SoftTerm(had_sum - jet_sum, sigma, draw)


def met_from(leptons: Particles, jets_reco: Particles, unclustered: FloatArray) -> FloatArray:
    """E_T^miss vector (N, 2) = −Σ(leptons + jets) − the measured unclustered term (N, 2)."""
    n = leptons.n_events
    visible = _per_event(leptons, leptons.momentum[:, 1:3], n) + _per_event(
        jets_reco, jets_reco.momentum[:, 1:3], n
    )
    result: FloatArray = -(visible + unclustered)
    return result


def missing_et(
    leptons: Particles,
    jets_truth: Particles,
    jets_reco: Particles,
    hadronic: Particles,
    seeds: U64,
    card: DetectorCard,
) -> FloatArray:
    """E_T^miss vector (N, 2): −Σ(leptons + jets) − unclustered, the latter smeared.

    ``hadronic`` are the visible particles without the selected leptons (and without the
    escaping muons, :attr:`RecoLeptons.escaped`); the unclustered part is their sum within
    |η| < eta_max minus the generator-level jets (E-scheme jets are the sums of their
    constituents), and ΣE_T^unclustered its scalar analogue; each component is smeared by
    k·sqrt(ΣE_T^unclustered), with the card's ``unclustered_noise`` added in quadrature
    (:func:`soft_term`).
    """
    soft = soft_term(jets_truth, hadronic, seeds, card)
    return met_from(leptons, jets_reco, soft.smeared())


#: Counter-based stream of the fake lepton's charge (after those of :mod:`._streams`).
FAKE_CHARGE = 6


@dataclass(frozen=True, eq=False)
class FakeEntries:
    """The fake-lepton entries of N copies: one per (jet, flavour) with a non-zero probability.

    Attributes
    ----------
    copy : ndarray of int64, shape (F,)
        The copy each entry comes from.
    jet : ndarray of int64, shape (F,)
        The faking jet's index in the copies' jets (:class:`Particles` row).
    pdg_id : ndarray of int32, shape (F,)
        The fake lepton's signed PDG id (flavour of the entry, charge drawn per jet).
    probability : ndarray, shape (F,)
        The jet's probability to fake that flavour (the entry's weight factor).
    fraction : float
        The fake's share of the jet's three-momentum.
    n_copies : int
        N.
    """

    copy: IntArray
    jet: IntArray
    pdg_id: npt.NDArray[np.int32]
    probability: FloatArray
    fraction: float
    n_copies: int

    def keep_probability(self) -> FloatArray:
        """The nominal entries' factor (N,): 1 − Σ of the copy's fake probabilities (>= 0)."""
        total = np.bincount(self.copy, weights=self.probability, minlength=self.n_copies)
        result: FloatArray = np.maximum(1.0 - total, 0.0)
        return result

    def objects(self, nominal: RecoObjects) -> RecoObjects:
        """The F fake entries' objects, from the copies' objects (nominal or varied).

        Entry f holds its copy's leptons plus the fake (``fraction`` × the jet's
        three-momentum, massless), its copy's jets without the faking one, and its copy's
        E_T^miss (the jet's remainder counts as unclustered energy, so the measured
        visible sum is unchanged).
        """
        lep_rows, lep_entry = _gather(nominal.leptons, self.copy)
        jet_rows, jet_entry = _gather(nominal.jets, self.copy)
        keep = jet_rows != self.jet[jet_entry]
        jet_rows, jet_entry = jet_rows[keep], jet_entry[keep]
        p3 = nominal.jets.momentum[self.jet, 1:] * self.fraction
        fake = np.concatenate([np.linalg.norm(p3, axis=1)[:, None], p3], axis=1)
        n = self.copy.size
        entry = np.concatenate([lep_entry, np.arange(n, dtype=np.int64)])
        order = np.argsort(entry, kind="stable")
        ids = np.concatenate([nominal.leptons.pdg_id[lep_rows], self.pdg_id])[order]
        momenta = np.concatenate([nominal.leptons.momentum[lep_rows], fake])[order]
        leptons = Particles.from_counts(np.bincount(entry, minlength=n), ids, momenta)
        jets = Particles.from_counts(
            np.bincount(jet_entry, minlength=n),
            nominal.jets.pdg_id[jet_rows],
            nominal.jets.momentum[jet_rows],
        )
        return RecoObjects(leptons, jets, nominal.met[self.copy], nominal.shower_ok[self.copy])


def _gather(objects: Particles, rows: IntArray) -> tuple[IntArray, IntArray]:
    """Object rows of the events ``rows`` (in that order) and the position in ``rows`` of each."""
    counts = objects.counts[rows]
    entry = np.repeat(np.arange(rows.size, dtype=np.int64), counts)
    within = np.arange(entry.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return objects.offsets[rows][entry] + within, entry


def plan_fakes(jets: Particles, seeds: U64, card: DetectorCard) -> FakeEntries | None:
    """The fake entries of N copies from their nominal reconstructed jets (None: no ``[fakes]``).

    Every jet with a non-zero probability p_e (p_μ) in the card's table gives an electron
    (muon) entry of weight factor p; its charge is a counter-based coin flip per jet
    (stream ``FAKE_CHARGE``). The copy's nominal entry keeps 1 − Σ p
    (:meth:`FakeEntries.keep_probability`): at most one jet fakes per entry, a documented
    approximation (two fakes in one event are of order p², 10⁻⁵).

    The rates are a pheno-level model, not a measurement (:class:`FakeRates`).
    """
    rates = card.fakes
    if rates is None:
        return None
    p = jets.momentum
    prob = rates.probabilities(pt(p), np.abs(eta(p)))  # (M, 2)
    coin = _streams.uniform(seeds[jets.event], FAKE_CHARGE, jets.local_index) < 0.5
    sign = np.where(coin, 1, -1).astype(np.int32)  # +11 is e⁻, −11 is e⁺
    jet, flavour = np.nonzero(prob > 0)
    pdg = np.array([card.electron.pdg, card.muon.pdg], dtype=np.int32)[flavour] * sign[jet]
    return FakeEntries(
        copy=jets.event[jet],
        jet=jet.astype(np.int64),
        pdg_id=pdg.astype(np.int32),
        probability=prob[jet, flavour],
        fraction=rates.momentum_fraction,
        n_copies=jets.n_events,
    )
