"""ZZ → 4ℓ, a background of W±Z → 3ℓν (one lepton lost), registered as ``"zz_4l"``.

MadGraph: ``generate p p > z z, z > l+ l-, z > l+ l- NP<=1`` with SMEFTsim and
``reweight=madsbi``: per-event coefficients exactly as the signal's, over the coefficients
that enter ZZ (cHWB shifts the Z and photon couplings to fermions, cHq3 the Z couplings to
quarks; cW does not enter, every cW vertex has a W). ``madsbi store embed`` places such a
store in the W±Z parameter space (cHWB, cW, cHq3), with every cW term exactly 0.

The process has no reco selection of its own: its events pass the W±Z selection
(``madsbi simulate reco --selection wz``, the default) once this module is imported, which
:mod:`madsbi.processes` does. Its events must have four charged leptons and no neutrino.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from madsbi.processes.background import check_leptons
from madsbi.processes.base import Process, register_process

#: A MadGraph generate/add process statement of Z-pair production.
_ZZ = re.compile(r"(?:^|;)\s*(?:generate|add process) p p > z z(?=\s*(?:$|;|,|@|/|\$|qcd|qed|np))")


def accepts_zz(process: str) -> bool:
    """Whether a MadGraph process definition generates Z pairs (``generate p p > z z …``)."""
    return _ZZ.search(" ".join(process.lower().split())) is not None


def check_parton_events(parton: Mapping[str, Any], where: str, first_row: int = 0) -> None:
    """Every event must have four charged leptons (e, μ, τ) and no neutrino (ZZ → 4ℓ).

    Raises
    ------
    InputError
        Naming the store and the first event without them.
    """
    check_leptons(parton, where, first_row, charged=4, neutrinos=0, what="ZZ → 4ℓ")


#: ZZ → 4ℓ (registered as ``"zz_4l"``).
PROCESS = register_process(
    Process(
        name="zz_4l",
        description="ZZ → 4ℓ (background)",
        accepts=accepts_zz,
        check_events=check_parton_events,
    )
)
