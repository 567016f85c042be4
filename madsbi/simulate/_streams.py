"""Counter-based random numbers: every draw is a pure function of (seed, stream, counter).

A copy's seed (:func:`madsbi.simulate.smearing.copy_seeds`) fixes all of its random numbers,
so an event gives the same reco event whatever the chunking, job split or number of workers.
Uniforms come from splitmix64 of the seed mixed with the stream id and the counter (the
index of the object within its event); Gaussians from Box–Muller on two such uniforms.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from madsbi._validate import FloatArray
from madsbi.simulate._smearing_reference import splitmix64

U64 = npt.NDArray[np.uint64]

#: Largest seed Pythia's ``Rndm::init`` accepts (Marsaglia–Zaman generator).
PYTHIA_SEED_MAX = 900_000_000

# Stream ids: one per kind of random decision, so adding draws of one kind never shifts another.
PYTHIA = 1
LEPTON_EFFICIENCY = 2
LEPTON_RESOLUTION = 3
JET_RESOLUTION = 4
MET_RESOLUTION = 5


def _mix(seed: U64, stream: int, counter: npt.NDArray[np.int64]) -> U64:
    key = splitmix64(seed ^ splitmix64(np.full(seed.shape, stream, dtype=np.uint64)))
    return splitmix64(key ^ counter.astype(np.uint64))


def uniform(seed: U64, stream: int, counter: npt.NDArray[np.int64]) -> FloatArray:
    """Uniform numbers in (0, 1), one per element of ``seed``/``counter`` (broadcast)."""
    seed_b, counter_b = np.broadcast_arrays(np.asarray(seed, np.uint64), np.asarray(counter))
    bits = _mix(np.ascontiguousarray(seed_b), stream, np.ascontiguousarray(counter_b))
    result: FloatArray = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    return result


def normal(seed: U64, stream: int, counter: npt.NDArray[np.int64]) -> FloatArray:
    """Standard normal numbers (Box–Muller on the counters 2k and 2k + 1)."""
    c = np.asarray(counter, dtype=np.int64)
    u1 = uniform(seed, stream, 2 * c)
    u2 = uniform(seed, stream, 2 * c + 1)
    result: FloatArray = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return result


def pythia_seeds(seed: U64) -> npt.NDArray[np.int64]:
    """Seeds in Pythia's range 1 .. 900,000,000 for ``Rndm::init``, one per copy."""
    bits = _mix(np.asarray(seed, np.uint64), PYTHIA, np.zeros(np.shape(seed), np.int64))
    result: npt.NDArray[np.int64] = (bits % np.uint64(PYTHIA_SEED_MAX)).astype(np.int64) + 1
    return result
