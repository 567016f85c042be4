"""Z+jets (Z/γ* → ℓℓ + jet), the fake-lepton background of W±Z, registered as ``"zjets"``.

MadGraph: ``generate p p > l+ l- j`` in the SM without reweighting (θ-independent:
``madsbi produce`` with ``[production] reweighting = false``, a store whose coefficients are
the event weight at every θ). The third lepton of the W±Z selection is a jet reconstructed as
a lepton: simulate with a detector card that has a ``[fakes]`` table (``atlas_like_v2_fakes``),
which adds the fake entries as event weights (:func:`madsbi.simulate.detector.plan_fakes`).

No reco selection of its own: its events pass the W±Z selection once this module is imported
(by :mod:`madsbi.processes`). Its events must have two charged leptons and no neutrino.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from madsbi.processes.background import check_leptons
from madsbi.processes.base import Process, register_process

#: A generate/add process statement of a charged-lepton pair (l, e, mu, or a Z decaying so)
#: with one jet or more (inclusive Drell-Yan, ``p p > e+ e-``, is another sample).
_ZJETS = re.compile(
    r"(?:^|;)\s*(?:generate|add process) p p > "
    r"(?:(?:l\+ l-|e\+ e-|mu\+ mu-)(?: j)+|z(?: j)+ ?, ?z > (?:l\+ l-|e\+ e-|mu\+ mu-))"
    r"(?=\s*(?:$|;|@|/|\$|qcd|qed|np))"
)


def accepts_zjets(process: str) -> bool:
    """Whether a MadGraph process definition generates ℓℓ + jets (``generate p p > l+ l- j``)."""
    return _ZJETS.search(" ".join(process.lower().split())) is not None


def check_parton_events(parton: Mapping[str, Any], where: str, first_row: int = 0) -> None:
    """Every event must have two charged leptons (e, μ, τ) and no neutrino (Z → ℓℓ).

    Raises
    ------
    InputError
        Naming the store and the first event without them.
    """
    check_leptons(parton, where, first_row, charged=2, neutrinos=0, what="Z+jets (Z → ℓℓ)")


#: Z+jets (registered as ``"zjets"``).
PROCESS = register_process(
    Process(
        name="zjets",
        description="Z+jets, Z → ℓℓ (fake-lepton background)",
        accepts=accepts_zjets,
        check_events=check_parton_events,
    )
)
