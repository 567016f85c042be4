"""Flat, vectorised particle lists of many events (pure NumPy kinematics of reco objects).

Every per-object array has one entry per object of all events, in event order; ``offsets``
(N + 1,) says that event e owns entries ``offsets[e] .. offsets[e+1]``. Momenta are
(E, px, py, pz) in GeV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from madsbi._validate import FloatArray, IntArray
from madsbi.errors import ShapeError

#: Neutrino PDG ids (invisible to the detector).
NEUTRINOS = (12, 14, 16)


@dataclass(frozen=True, eq=False)
class Particles:
    """Objects of N events: PDG ids, four-momenta and the per-event offsets.

    Attributes
    ----------
    offsets : ndarray of int64, shape (N + 1,)
    pdg_id : ndarray of int32, shape (M,)
    momentum : ndarray of float64, shape (M, 4)
    """

    offsets: IntArray
    pdg_id: npt.NDArray[np.int32]
    momentum: FloatArray

    def __post_init__(self) -> None:
        m = self.pdg_id.shape[0]
        if self.momentum.shape != (m, 4) or self.offsets[-1] != m or self.offsets[0] != 0:
            raise ShapeError(
                f"particles: offsets end {int(self.offsets[-1])}, pdg_id {self.pdg_id.shape}, "
                f"momentum {self.momentum.shape} do not match"
            )

    @property
    def n_events(self) -> int:
        """Number of events N."""
        return int(self.offsets.shape[0] - 1)

    @property
    def counts(self) -> IntArray:
        """Objects per event."""
        return np.diff(self.offsets)

    @property
    def event(self) -> IntArray:
        """Event index of every object."""
        return np.repeat(np.arange(self.n_events, dtype=np.int64), self.counts)

    @property
    def local_index(self) -> IntArray:
        """Index of every object within its event."""
        return np.arange(self.pdg_id.shape[0], dtype=np.int64) - self.offsets[self.event]

    def select(self, mask: npt.NDArray[np.bool_]) -> Particles:
        """The objects where ``mask`` (M,) is true, events kept (possibly empty)."""
        counts = np.bincount(self.event[mask], minlength=self.n_events)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return Particles(offsets, self.pdg_id[mask], self.momentum[mask])

    @classmethod
    def from_counts(
        cls, counts: IntArray, pdg_id: npt.NDArray[np.int32], momentum: FloatArray
    ) -> Particles:
        """Build from the number of objects per event."""
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(offsets, np.asarray(pdg_id, np.int32), np.asarray(momentum, np.float64))


def pt(p: FloatArray) -> FloatArray:
    """Transverse momentum of (…, 4) momenta."""
    result: FloatArray = np.hypot(p[..., 1], p[..., 2])
    return result


def eta(p: FloatArray) -> FloatArray:
    """Pseudorapidity; ±1e9-safe (a particle along the beam gets |η| = 20)."""
    transverse = pt(p)
    result: FloatArray = np.arcsinh(
        np.divide(p[..., 3], transverse, out=np.sign(p[..., 3]) * 4.85e8, where=transverse > 0)
    )
    return result


def phi(p: FloatArray) -> FloatArray:
    """Azimuthal angle in (−π, π]."""
    result: FloatArray = np.arctan2(p[..., 2], p[..., 1])
    return result


def delta_r(eta1: FloatArray, phi1: FloatArray, eta2: FloatArray, phi2: FloatArray) -> FloatArray:
    """ΔR = sqrt(Δη² + Δφ²) with Δφ wrapped into (−π, π]."""
    dphi = np.mod(phi1 - phi2 + np.pi, 2 * np.pi) - np.pi
    result: FloatArray = np.hypot(eta1 - eta2, dphi)
    return result


def invariant_mass(p: FloatArray) -> FloatArray:
    """sqrt(max(E² − p², 0)) of (…, 4) momenta."""
    m2 = p[..., 0] ** 2 - (p[..., 1:] ** 2).sum(-1)
    result: FloatArray = np.sqrt(np.maximum(m2, 0.0))
    return result


def is_invisible(pdg_id: npt.NDArray[np.int32]) -> npt.NDArray[np.bool_]:
    """Neutrinos."""
    result: npt.NDArray[np.bool_] = np.isin(np.abs(pdg_id), NEUTRINOS)
    return result
