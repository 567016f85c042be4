"""Process-specific physics behind one interface (:mod:`madsbi.processes.base`).

A process (W±Z → 3ℓν: :mod:`madsbi.processes.wz`, registered as ``"wz"``) names its MadGraph
definitions, its parton observables and its reco selection; the reco chain and the analysis
find it by name with :func:`get_process`. Importing this package registers the built-in ones:
``wz`` and the backgrounds ``zz_4l`` (:mod:`madsbi.processes.zz`) and ``zjets``
(:mod:`madsbi.processes.zjets`), which pass the W±Z selection.
"""

from __future__ import annotations

from madsbi.processes import wz, zjets, zz  # noqa: F401  (importing registers them)
from madsbi.processes.base import (
    Process,
    RecoObjects,
    RecoSelection,
    SelectionResult,
    Token,
    find_process,
    get_process,
    register_process,
    registered_processes,
    unregister_process,
)

#: The process (and reco selection) used when a config names none.
DEFAULT_PROCESS = wz.PROCESS.name

__all__ = [
    "DEFAULT_PROCESS",
    "Process",
    "RecoObjects",
    "RecoSelection",
    "SelectionResult",
    "Token",
    "find_process",
    "get_process",
    "register_process",
    "registered_processes",
    "unregister_process",
]
