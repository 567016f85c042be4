"""Jets: FastJet anti-kT through the ``fastjet`` package's awkward-array interface."""

from __future__ import annotations

from typing import Any

import numpy as np

from madsbi.errors import OptionalDependencyError
from madsbi.events.particles import Particles, pt

#: PDG id given to jets in the reco object lists (none exists; 90 is PDG's "jet" code range).
JET_ID = 90

RECO_EXTRA = "pip install 'madsbi[reco]'"


def import_fastjet() -> Any:
    """The ``fastjet`` module, or an error naming the extra that installs it."""
    try:
        import fastjet
    except ImportError as exc:
        raise OptionalDependencyError(
            f"jet clustering needs the fastjet package ({exc}); install it with {RECO_EXTRA}"
        ) from None
    return fastjet


def import_awkward() -> Any:
    """The ``awkward`` module, or an error naming the extra that installs it."""
    try:
        import awkward
    except ImportError as exc:
        raise OptionalDependencyError(
            f"the reco simulation needs the awkward package ({exc}); install it with {RECO_EXTRA}"
        ) from None
    return awkward


def cluster_jets(particles: Particles, radius: float, pt_min: float) -> Particles:
    """Anti-kT jets (E-scheme) with p_T > ``pt_min`` of every event, sorted by falling p_T.

    Parameters
    ----------
    particles : Particles
        The clustering input (e.g. visible final state without the selected leptons).
    radius : float
        Jet radius R.
    pt_min : float
        Minimum jet p_T in GeV.
    """
    fastjet = import_fastjet()
    ak = import_awkward()
    n = particles.n_events
    if particles.pdg_id.size == 0:
        return Particles(np.zeros(n + 1, np.int64), np.zeros(0, np.int32), np.zeros((0, 4)))
    p = particles.momentum
    flat = ak.zip({"px": p[:, 1], "py": p[:, 2], "pz": p[:, 3], "E": p[:, 0]})
    events = ak.unflatten(flat, particles.counts)
    sequence = fastjet.ClusterSequence(
        events, fastjet.JetDefinition(fastjet.antikt_algorithm, radius)
    )
    jets = sequence.inclusive_jets(min_pt=pt_min)
    counts = ak.to_numpy(ak.num(jets)).astype(np.int64)
    flat_jets = ak.flatten(jets)
    momentum = np.stack(
        [ak.to_numpy(flat_jets[k]).astype(np.float64) for k in ("E", "px", "py", "pz")], axis=1
    ).reshape(-1, 4)
    result = Particles.from_counts(counts, np.full(momentum.shape[0], JET_ID, np.int32), momentum)
    order = np.lexsort((-pt(momentum), result.event))
    return Particles(result.offsets, result.pdg_id[order], momentum[order])
