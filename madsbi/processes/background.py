"""What the background processes share: the check of their parton events' leptons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from madsbi.errors import InputError


def check_leptons(
    parton: Mapping[str, Any],
    where: str,
    first_row: int,
    *,
    charged: int,
    neutrinos: int,
    what: str,
) -> None:
    """Every event must have ``charged`` charged leptons (e, μ, τ) and ``neutrinos`` neutrinos.

    Parameters
    ----------
    parton : mapping
        The ``/parton`` fields of N events (at least ``pdg_id`` and ``status``, (N, P)).
    where : str
        The store, for the message.
    first_row : int
        The store row of the first event.
    charged, neutrinos : int
        The numbers of final-state charged leptons and neutrinos the process has.
    what : str
        The process, for the message.

    Raises
    ------
    InputError
        Naming the store, the first event without them and its counts.
    """
    pdg = np.abs(np.asarray(parton["pdg_id"]))
    final = np.asarray(parton["status"]) == 1
    n_charged = (final & np.isin(pdg, (11, 13, 15))).sum(axis=1)
    n_neutrinos = (final & np.isin(pdg, (12, 14, 16))).sum(axis=1)
    bad = (n_charged != charged) | (n_neutrinos != neutrinos)
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(
            f"{where}: event {first_row + row} has {n_charged[row]} charged leptons and "
            f"{n_neutrinos[row]} neutrinos in its final state; {what} needs {charged} and "
            f"{neutrinos} (decays in the process definition)"
        )
