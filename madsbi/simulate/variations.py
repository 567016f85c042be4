"""Paired detector variations: the same showered events seen by a shifted detector.

Each named variation of the detector card's ``[variations]`` table (issue 27; names fixed by
:data:`~madsbi.events.schema.VARIATION_NAMES`) has a relative size δ, its ±1σ. A nuisance
shifted by α standard deviations multiplies one quantity by f = 1 + α·δ:

``lep_scale_e``, ``lep_scale_mu``
    the four-momenta of the reconstructed electrons (muons): p → f·p (energy scale);
``lep_res``
    the relative p_T resolution of both lepton flavours: σ → f·σ, re-smearing each lepton
    with its own normal number g: p_T = p_T^gen (1 + f·σ·g);
``jet_scale``
    the four-momenta of the reconstructed jets (jet energy scale; acts through the jet veto);
``met_scale``
    the unclustered (soft-term) vector sum of E_T^miss;
``met_soft``
    the soft-term resolution k·sqrt(ΣE_T) of E_T^miss.

E_T^miss is recomputed from the varied leptons, jets and soft term, so lepton and jet
variations propagate into it. Everything else is the nominal simulation's: the shower, the
efficiency and isolation decisions (taken on the nominal leptons), the jet clustering and
every random number (counter-based, ``madsbi.simulate._streams``). A variation therefore
changes only the objects it names (and E_T^miss): the events are *paired*, and their
differences are the variation's effect, free of simulation noise. Shifting by α = 0 gives
the nominal objects bit for bit.

:class:`DetectorResponse` holds the nominal detector output with what a variation needs;
:meth:`DetectorResponse.objects` gives the objects at any shifts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from madsbi._validate import BoolArray
from madsbi.errors import InputError
from madsbi.events.particles import Particles, eta, is_invisible
from madsbi.events.schema import DIRECTIONS, VARIATION_NAMES
from madsbi.processes import RecoObjects
from madsbi.simulate.detector import (
    U64,
    RecoLeptons,
    SoftTerm,
    met_from,
    reconstruct_leptons,
    scale_momenta,
    smear_jets,
    soft_term,
)
from madsbi.simulate.detector_card import DetectorCard
from madsbi.simulate.jets import cluster_jets

#: Smallest lepton p_T scale factor a widened resolution may give (a lepton the nominal
#: found is never smeared to p_T = 0 by a variation, which would make its η undefined).
MIN_LEPTON_SCALE = 1e-3
#: The direction names (``up``, ``down``) and their shifts in σ.
DIRECTION_SHIFT = dict(zip(DIRECTIONS, (1.0, -1.0), strict=True))


def _card_name(card: DetectorCard) -> str:
    return card.path or card.name


def check_names(names: Sequence[str], card: DetectorCard, what: str) -> None:
    """Refuse a variation name that is unknown or that the card gives no size.

    Raises
    ------
    InputError
        Naming the variation, the known names, and the card (when it lacks the size).
    """
    for name in names:
        if name not in VARIATION_NAMES:
            raise InputError(
                f"{what}: unknown detector variation {name!r}; known: {', '.join(VARIATION_NAMES)}"
            )
        if name not in card.variations:
            raise InputError(
                f"{what}: the detector card {_card_name(card)} gives no size for {name!r} "
                f"(its [variations] table has {sorted(card.variations)})"
            )
    duplicates = sorted({n for n in names if list(names).count(n) > 1})
    if duplicates:
        raise InputError(f"{what}: variations given twice: {duplicates}")


def parse_variations(text: str, card: DetectorCard) -> tuple[str, ...]:
    """The variations of ``--variations``: ``name1,name2`` or ``all`` (those the card sizes).

    Raises
    ------
    InputError
        For an empty list, an unknown name (listing the known ones) or one the card lacks.
    """
    if text.strip() == "all":
        return tuple(n for n in VARIATION_NAMES if n in card.variations)
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise InputError(f"--variations: expected names or 'all', got {text!r}")
    check_names(names, card, "--variations")
    return names


def parse_shifts(items: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """The ``--shift NAME=SIGMAS`` options as (name, α) pairs (checked by :func:`check_shifts`).

    Raises
    ------
    InputError
        For an item that is not ``name=number``.
    """
    shifts = []
    for item in items:
        name, sep, value = item.partition("=")
        try:
            alpha = float(value)
        except ValueError:
            alpha = math.nan
        if not sep or not name.strip() or not math.isfinite(alpha):
            raise InputError(f"--shift: expected NAME=SIGMAS (e.g. lep_scale_e=1), got {item!r}")
        shifts.append((name.strip(), alpha))
    return tuple(shifts)


def check_shifts(shifts: Sequence[tuple[str, float]], card: DetectorCard) -> dict[str, float]:
    """The shifts as a mapping, checked: known names the card sizes, 1 + α·δ > 0.

    Raises
    ------
    InputError
        For an unknown or repeated name, a non-finite α, or an α that makes a scale or a
        resolution factor ≤ 0 (naming the variation, α and δ).
    """
    names = [n for n, _ in shifts]
    check_names(names, card, "shift")
    result = {}
    for name, alpha in shifts:
        delta = card.variations[name]
        if not math.isfinite(alpha) or not 1.0 + alpha * delta > 0:
            raise InputError(
                f"shift {name}={alpha}: expected a finite α with 1 + α·δ > 0 "
                f"(δ = {delta} in {_card_name(card)})"
            )
        result[name] = float(alpha)
    return result


@dataclass(frozen=True, eq=False)
class DetectorResponse:
    """The nominal detector output of N copies and what a variation re-derives its objects from.

    Attributes
    ----------
    leptons : RecoLeptons
        Isolated leptons with their generator momenta, resolutions and normal numbers.
    jets : Particles
        Reconstructed (smeared) jets.
    soft : SoftTerm
        The unclustered part of E_T^miss with its resolution and normal numbers.
    shower_ok : ndarray of bool, shape (N,)
    """

    leptons: RecoLeptons
    jets: Particles
    soft: SoftTerm
    shower_ok: BoolArray

    def objects(self, card: DetectorCard, shifts: Mapping[str, float] | None = None) -> RecoObjects:
        """The reconstructed objects with the nuisances shifted by ``shifts`` (name → α).

        Names the card gives no size are refused (:func:`check_shifts`); no shifts (or all
        α = 0) give the nominal objects exactly.
        """
        shifts = check_shifts(tuple((shifts or {}).items()), card)

        def factor(name: str) -> float:
            return 1.0 + shifts.get(name, 0.0) * card.variations.get(name, 0.0)

        reco = self.leptons
        scale = 1.0 + reco.sigma * factor("lep_res") * reco.draw
        if factor("lep_res") != 1.0:
            scale = np.maximum(scale, MIN_LEPTON_SCALE)
        is_e = np.abs(reco.leptons.pdg_id) == card.electron.pdg
        energy_scale = np.where(is_e, factor("lep_scale_e"), factor("lep_scale_mu"))
        momenta = scale_momenta(reco.truth, scale) * energy_scale[:, None]
        leptons = Particles(reco.leptons.offsets, reco.leptons.pdg_id, momenta)
        jets = Particles(
            self.jets.offsets, self.jets.pdg_id, self.jets.momentum * factor("jet_scale")
        )
        unclustered = self.soft.smeared(factor("met_scale"), factor("met_soft"))
        return RecoObjects(leptons, jets, met_from(leptons, jets, unclustered), self.shower_ok)


def detect(
    final_state: Particles, shower_ok: BoolArray, seeds: U64, card: DetectorCard
) -> DetectorResponse:
    """The detector's response to showered copies: leptons, jets, E_T^miss ingredients.

    Parameters
    ----------
    final_state : Particles
        Pythia's final-state particles of N copies (neutrinos are removed here).
    shower_ok : ndarray of bool, shape (N,)
    seeds : ndarray of uint64, shape (N,)
        The copies' counter-based seeds.
    card : DetectorCard
    """
    visible = final_state.select(~is_invisible(final_state.pdg_id))
    leptons = reconstruct_leptons(visible, seeds, card)
    not_lepton = np.ones(visible.pdg_id.size, dtype=bool)
    not_lepton[leptons.source] = False
    not_lepton[leptons.escaped] = False  # muons that escape (the card's escaping_muons)
    hadronic = visible.select(not_lepton)
    in_acceptance = hadronic.select(np.abs(eta(hadronic.momentum)) < card.met_eta_max)
    jets_truth = cluster_jets(in_acceptance, card.jet_radius, card.jet_pt_min)
    jets = smear_jets(jets_truth, seeds, card)
    return DetectorResponse(leptons, jets, soft_term(jets_truth, hadronic, seeds, card), shower_ok)


def variation_shifts(names: Sequence[str]) -> dict[tuple[str, str], dict[str, float]]:
    """(name, direction) → the shifts of that ±1σ variation, for every name and direction."""
    return {(n, d): {n: DIRECTION_SHIFT[d]} for n in names for d in DIRECTIONS}


def passes_all(cuts: Any) -> BoolArray:
    """Rows (N,) whose cut flags (N, C) all hold."""
    result: BoolArray = np.all(np.asarray(cuts, dtype=bool), axis=1)
    return result


def stored_rows(nominal: BoolArray, varied: Sequence[BoolArray]) -> BoolArray:
    """Rows a passed-only store keeps: those passing every cut nominally or in a variation.

    Parameters
    ----------
    nominal : ndarray of bool, shape (N,)
    varied : sequence of ndarray of bool, shape (N,)
    """
    keep = np.array(nominal, dtype=bool)
    for passed in varied:
        keep |= passed
    return keep
