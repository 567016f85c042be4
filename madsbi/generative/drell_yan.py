"""Drell-Yan pp → Z → e⁺e⁻ events as a four-dimensional phase space (bellagente2022 Sec. 4).

With massless leptons and transverse-momentum balance (LO, no initial-state radiation) an
event is fixed by x = (p_x,e⁻, p_y,e⁻, p_z,e⁻, p_z,e⁺) in GeV; the positron has
p_T,e⁺ = −p_T,e⁻ and both energies follow from |p|. :func:`observables` rebuilds the
kinematic distributions of Fig. 9 from these four numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import InputError
from madsbi.events import schema
from madsbi.events.store import EventStore

COORDINATES = ("px_em", "py_em", "pz_em", "pz_ep")
#: Observables of Fig. 9/10; "e" is the electron e⁻.
OBSERVABLES = ("E_e", "px_e", "pT_e", "pz_e", "E_ee", "m_ee")
LABELS = {
    "E_e": r"$E_{e}$ [GeV]",
    "px_e": r"$p_{x,e}$ [GeV]",
    "pT_e": r"$p_{T,e}$ [GeV]",
    "pz_e": r"$p_{z,e}$ [GeV]",
    "E_ee": r"$E_{ee}$ [GeV]",
    "m_ee": r"$m_{ee}$ [GeV]",
}
#: Z mass and width of the shipped sample's param card (GeV).
MZ = 91.188
WZ = 2.441404


def shipped_sample() -> Path:
    """Path of the shipped MadGraph Drell-Yan store (``madsbi/data/drell_yan.h5``)."""
    return Path(__file__).resolve().parents[1] / "data" / "drell_yan.h5"


def load_events(path: str | Path, max_events: int = 0, chunk_size: int = 100_000) -> FloatArray:
    """The 4D phase-space coordinates (n, 4) of the e⁺e⁻ events of a store.

    Raises
    ------
    InputError
        If an event lacks exactly one final-state e⁻ and one e⁺, or its leptons are not
        balanced in p_T (the 4D parametrisation would then lose information).
    """
    parts = []
    with EventStore(path) as store:
        for chunk in store.iter_chunks(
            schema.PARTON, ["pdg_id", "status", "momentum"], chunk_size=chunk_size
        ):
            pdg, status, momentum = chunk["pdg_id"], chunk["status"], chunk["momentum"]
            final = status == 1
            electron = final & (pdg == 11)
            positron = final & (pdg == -11)
            bad = (electron.sum(1) != 1) | (positron.sum(1) != 1)
            if np.any(bad):
                index = chunk.start + int(np.argmax(bad))
                raise InputError(
                    f"{path}: event {index} does not have exactly one final-state e- and e+"
                )
            rows = np.arange(chunk.n_events)
            p_em = momentum[rows, np.argmax(electron, axis=1)]
            p_ep = momentum[rows, np.argmax(positron, axis=1)]
            imbalance = np.hypot(p_em[:, 1] + p_ep[:, 1], p_em[:, 2] + p_ep[:, 2])
            tolerance = 1e-3 + 1e-6 * (p_em[:, 0] + p_ep[:, 0])
            if np.any(imbalance > tolerance):
                index = chunk.start + int(np.argmax(imbalance > tolerance))
                raise InputError(
                    f"{path}: event {index} has leptons unbalanced in p_T by "
                    f"{imbalance.max():.3g} GeV; the 4D Drell-Yan phase space needs "
                    "p_T,e- = -p_T,e+"
                )
            parts.append(np.stack([p_em[:, 1], p_em[:, 2], p_em[:, 3], p_ep[:, 3]], axis=1))
            if max_events and sum(p.shape[0] for p in parts) >= max_events:
                break
    events = np.concatenate(parts)
    return events[:max_events] if max_events else events


def observables(x: FloatArray) -> dict[str, FloatArray]:
    """Kinematic observables of events x (n, 4) = (p_x,e⁻, p_y,e⁻, p_z,e⁻, p_z,e⁺) in GeV."""
    px, py, pz_em, pz_ep = x[:, 0], x[:, 1], x[:, 2], x[:, 3]
    pt = np.hypot(px, py)
    e_em = np.hypot(pt, pz_em)
    e_ep = np.hypot(pt, pz_ep)
    energy = e_em + e_ep
    m2 = energy**2 - (pz_em + pz_ep) ** 2
    return {
        "E_e": e_em,
        "px_e": px,
        "pT_e": pt,
        "pz_e": pz_em,
        "E_ee": energy,
        "m_ee": np.sqrt(np.maximum(m2, 0.0)),
    }
