"""Parametrised ATLAS-like detector response.

Lepton efficiency, resolution and isolation, jet energy resolution, missing E_T. The
numbers live in a TOML card (``cards/atlas_like.toml``, from Delphes' ATLAS card; the card
documents where madsbi departs from Delphes).

Vectorised over all objects of a chunk; every random number is counter-based on the copy's
seed, the kind of decision and the object's index within its event
(``madsbi.simulate._streams``), so the response of an event does not depend on the events
simulated with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from madsbi._validate import FloatArray, IntArray
from madsbi.config import read_toml
from madsbi.errors import ConfigError, MissingFileError
from madsbi.events.particles import Particles, delta_r, eta, phi, pt
from madsbi.simulate import _streams

CARDS = Path(__file__).parent / "cards"
U64 = npt.NDArray[np.uint64]


def _floats(table: dict[str, Any], key: str, where: str) -> FloatArray:
    if key not in table:
        raise ConfigError(f"{where}: missing key {key!r}")
    try:
        value = np.asarray(table[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.{key}: expected numbers, got {table[key]!r}") from None
    if not np.all(np.isfinite(value)):
        raise ConfigError(f"{where}.{key}: expected finite numbers, got {table[key]!r}")
    return value


def _edges(table: dict[str, Any], key: str, where: str) -> FloatArray:
    edges = _floats(table, key, where)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ConfigError(f"{where}.{key}: expected increasing bin edges, got {edges.tolist()}")
    return edges


def _bin(values: FloatArray, edges: FloatArray) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """Bin index of every value and whether it lies inside [edges[0], edges[-1])."""
    inside = (values >= edges[0]) & (values < edges[-1])
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, edges.size - 2)
    return index.astype(np.int64), inside


@dataclass(frozen=True, eq=False)
class LeptonResponse:
    """Efficiency table, relative p_T resolution and isolation of one lepton flavour."""

    pdg: int
    eta_edges: FloatArray
    pt_edges: FloatArray
    efficiency: FloatArray  # tracking × identification, shape (n_eta, n_pt)
    resolution_eta_edges: FloatArray
    resolution_a: FloatArray
    resolution_b: FloatArray
    isolation_delta_r: float
    isolation_pt_min: float
    isolation_pt_ratio_max: float
    ecal_c: float = 0.0
    ecal_s: float = 0.0

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> LeptonResponse:
        """Read a ``[electron]`` or ``[muon]`` table of the card."""
        eta_edges = _edges(table, "eta_edges", where)
        pt_edges = _edges(table, "pt_edges", where)
        shape = (eta_edges.size - 1, pt_edges.size - 1)
        tracking = _floats(table, "tracking_efficiency", where)
        ident = _floats(table, "id_efficiency", where)
        for name, eff in (("tracking_efficiency", tracking), ("id_efficiency", ident)):
            if eff.shape != shape or np.any((eff < 0) | (eff > 1)):
                raise ConfigError(f"{where}.{name}: expected {shape} values in [0, 1]")
        res_edges = _edges(table, "resolution_eta_edges", where)
        a = _floats(table, "resolution_a", where)
        b = _floats(table, "resolution_b", where)
        if a.shape != (res_edges.size - 1,) or b.shape != a.shape:
            raise ConfigError(f"{where}: resolution_a/b need one value per |η| bin")
        iso = [
            float(_floats(table, f"isolation_{k}", where))
            for k in ("delta_r", "pt_min", "pt_ratio_max")
        ]
        ecal = [
            float(_floats(table, k, where)) if k in table else 0.0 for k in ("ecal_c", "ecal_s")
        ]
        return cls(
            int(table.get("pdg", 0)),
            eta_edges,
            pt_edges,
            tracking * ident,
            res_edges,
            a,
            b,
            *iso,
            *ecal,
        )

    def efficiency_of(self, pt_: FloatArray, abs_eta: FloatArray) -> FloatArray:
        """Efficiency of leptons with these p_T and |η| (0 outside the table)."""
        ie, in_eta = _bin(abs_eta, self.eta_edges)
        ip, in_pt = _bin(pt_, self.pt_edges)
        result: FloatArray = np.where(in_eta & in_pt, self.efficiency[ie, ip], 0.0)
        return result

    def resolution_of(self, pt_: FloatArray, abs_eta: FloatArray) -> FloatArray:
        """Relative p_T resolution (last bin beyond the table).

        The track's sqrt(a² + (b·p_T)²), combined with the calorimeter's
        sqrt(C² + S²/E) (E = p_T cosh η) when the card gives ``ecal_c``/``ecal_s``.
        """
        i, _ = _bin(abs_eta, self.resolution_eta_edges)
        track: FloatArray = np.hypot(self.resolution_a[i], self.resolution_b[i] * pt_)
        if self.ecal_c == 0 and self.ecal_s == 0:
            return track
        energy = np.maximum(pt_ * np.cosh(abs_eta), 1e-12)
        calo = np.sqrt(self.ecal_c**2 + self.ecal_s**2 / energy)
        result: FloatArray = track * calo / np.hypot(track, calo)
        return result


@dataclass(frozen=True, eq=False)
class DetectorCard:
    """The whole card (see ``cards/atlas_like.toml``)."""

    name: str
    source: str
    electron: LeptonResponse
    muon: LeptonResponse
    jet_radius: float
    jet_pt_min: float
    jet_eta_edges: FloatArray
    jet_c: FloatArray
    jet_s: FloatArray
    jet_n: FloatArray
    met_eta_max: float
    met_unclustered_k: float

    def jet_resolution(self, energy: FloatArray, abs_eta: FloatArray) -> FloatArray:
        """Absolute jet energy resolution σ_E = sqrt((C·E)² + S²·E + N²) in GeV."""
        i, _ = _bin(abs_eta, self.jet_eta_edges)
        e = np.maximum(energy, 0.0)
        result: FloatArray = np.sqrt(
            (self.jet_c[i] * e) ** 2 + self.jet_s[i] ** 2 * e + self.jet_n[i] ** 2
        )
        return result


def load_card(card: str | Path = "atlas_like") -> DetectorCard:
    """Read a detector card: a name of a shipped card or a path to a TOML file.

    Raises
    ------
    MissingFileError
        If the card does not exist.
    ConfigError
        For a missing or malformed entry (the message names it).
    """
    path = Path(card)
    if path.suffix != ".toml":
        path = CARDS / f"{card}.toml"
    if not path.is_file():
        shipped = sorted(p.stem for p in CARDS.glob("*.toml"))
        raise MissingFileError(f"detector card not found: {card} (shipped: {shipped})")
    data = read_toml(path)
    for key in ("electron", "muon", "jets", "missing_et"):
        if not isinstance(data.get(key), dict):
            raise ConfigError(f"{path}: missing table [{key}]")
    jets, met = data["jets"], data["missing_et"]
    jet_edges = _edges(jets, "resolution_eta_edges", f"{path}[jets]")
    terms = [_floats(jets, f"resolution_{k}", f"{path}[jets]") for k in "csn"]
    if any(t.shape != (jet_edges.size - 1,) for t in terms):
        raise ConfigError(f"{path}[jets]: resolution_c/s/n need one value per |η| bin")
    radius = float(_floats(jets, "radius", f"{path}[jets]"))
    if not 0 < radius < math.pi:
        raise ConfigError(f"{path}[jets].radius: expected 0 < R < π, got {radius}")
    return DetectorCard(
        name=str(data.get("name", path.stem)),
        source=str(data.get("source", "")),
        electron=LeptonResponse.from_table(data["electron"], f"{path}[electron]"),
        muon=LeptonResponse.from_table(data["muon"], f"{path}[muon]"),
        jet_radius=radius,
        jet_pt_min=float(_floats(jets, "pt_min", f"{path}[jets]")),
        jet_eta_edges=jet_edges,
        jet_c=terms[0],
        jet_s=terms[1],
        jet_n=terms[2],
        met_eta_max=float(_floats(met, "eta_max", f"{path}[missing_et]")),
        met_unclustered_k=float(_floats(met, "unclustered_k", f"{path}[missing_et]")),
    )


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
