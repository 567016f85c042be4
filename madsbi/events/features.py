"""Re-export of the W±Z parton observables, which live in :mod:`madsbi.processes.wz_parton`.

The event store is process-agnostic; process-specific observables belong to a process
module. This module keeps ``from madsbi.events.features import ...`` working.
"""

from __future__ import annotations

from madsbi.processes.wz_parton import (
    INCOMING,
    OBSERVABLES,
    PARTON_FIELDS,
    TEV2,
    W_ID,
    Z_ID,
    parton_features,
)

__all__ = ["INCOMING", "OBSERVABLES", "PARTON_FIELDS", "TEV2", "W_ID", "Z_ID", "parton_features"]
