"""Small real MadGraph samples shipped with madsbi, converted to event stores.

==============  ======================================================================
name            sample (MadGraph 3.5.7, LO, see README.md beside this file)
==============  ======================================================================
wz_parton       SMEFT p p > w+ z, 20k events, θ = (cHWB, cW, cHq3), 10 basis + 1 held-out
wz_leptonic     the same with leptonic decays, 20k events
drell_yan       SM p p > e+ e-, 50k events, no parameters (K = 1)
wmz_parton      p p > w- z at the SM, 20k events, the same θ and points as wz_parton
wpz_parton_bsm  p p > w+ z generated at (cHWB, cW, cHq3) = (1, 0.1, 0.1), 20k, θ0 = SM
wmz_parton_bsm  p p > w- z generated at (1, 0.1, 0.1), 20k events, θ0 = SM
wmz_leptonic    p p > w- z with leptonic decays at the SM, 20k events
==============  ======================================================================

The last four are excerpts of the paper-scale productions of ``examples/wz/README.md``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from madsbi.errors import InputError

SAMPLES = (
    "wz_parton",
    "wz_leptonic",
    "drell_yan",
    "wmz_parton",
    "wpz_parton_bsm",
    "wmz_parton_bsm",
    "wmz_leptonic",
)


def sample_path(name: str) -> Path:
    """Path of a shipped sample's event store.

    Raises
    ------
    InputError
        If ``name`` is not one of :data:`SAMPLES`.
    """
    if name not in SAMPLES:
        raise InputError(f"unknown shipped sample {name!r}; available: {list(SAMPLES)}")
    return Path(str(resources.files(__package__).joinpath(f"{name}.h5")))
