"""MadGraph's compiled reweighting matrix element (``allmatrix2py``), called directly.

MadGraph's reweighting builds a standalone library (``rw_me/SubProcesses``) exposing
``initialise``, ``change_para``, ``update_all_coup`` and
``smatrixhel(pdgs, procid, p, alphas, scale2, nhel)``; ``nhel = -1`` sums over helicities.
This class evaluates it for every event at every point, setting the parameters once per point
and chunk rather than once per event, and orders and boosts the momenta as MadGraph does
(``lhe_parser.Event.get_all_momenta``, partonic centre-of-mass frame), so that its ratios
reproduce MadGraph's own reweighting.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.cards import ParamCard
from madsbi.errors import WeightError
from madsbi.events.lhe import LheChunk
from madsbi.madgraph.plan import ParamKey

#: MadGraph's map from a process tag (sorted initial pdgs, sorted final pdgs) to
#: (pdg order of the matrix element, its SubProcesses directory, helicity table).
IdToPath = Mapping[tuple[tuple[int, ...], tuple[int, ...]], Sequence[Any]]


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null (Fortran prints there)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _equivalent(a: Sequence[int], b: Sequence[int], classes: Sequence[Any]) -> bool:
    """MadGraph's ``Event.equiv_sequence``: same content per class."""
    ca: dict[Any, set[int]] = {}
    cb: dict[Any, set[int]] = {}
    for i, cls in enumerate(classes):
        ca.setdefault(cls, set()).add(a[i])
        cb.setdefault(cls, set()).add(b[i])
    return ca == cb


def orderings(
    pdg: Sequence[int],
    status: Sequence[int],
    mothers: Sequence[tuple[int, int]],
    order: tuple[Sequence[int], Sequence[int]],
) -> list[list[int]]:
    """Particle indices in the matrix element's order, one list per valid permutation.

    Identical final-state particles with different mothers (e.g. two e+ from W and Z) give
    several assignments; MadGraph averages |M|² over them (``identical_particle_in_prod_and_
    decay = average``). A process whose pdgs appear with flipped signs is matched as MadGraph's
    ``allow_reversed`` does.

    Raises
    ------
    WeightError
        If the event's particles do not match ``order``.
    """
    for sign in (1, -1):
        initial = [sign * v for v in order[0]]
        final = [sign * v for v in order[1]]
        slots: list[int | None] = [None] * (len(initial) + len(final))
        left = [list(initial), list(final)]
        ok = True
        for i, (pid, st) in enumerate(zip(pdg, status, strict=True)):
            if st not in (-1, 1):
                continue
            side = 0 if st == -1 else 1
            if pid not in left[side]:
                ok = False
                break
            ind = left[side].index(pid)
            left[side][ind] = 0
            slots[ind + (len(initial) if side else 0)] = i
        if ok and all(s is not None for s in slots):
            break
    else:
        raise WeightError(
            f"event particles {list(pdg)} do not match the matrix element order {order}"
        )
    base = [int(s) for s in slots if s is not None]
    nin = len(initial)
    # group final-state slots of identical pdg by their mothers
    by_pdg: dict[int, list[int]] = {}
    for slot in range(nin, len(base)):
        by_pdg.setdefault(pdg[base[slot]], []).append(slot)
    choices: list[list[list[tuple[int, int]]]] = []
    for slots_of in by_pdg.values():
        classes = [tuple(mothers[base[s]]) for s in slots_of]
        if len(set(classes)) == 1:
            choices.append([[(s, s) for s in slots_of]])
            continue
        perms: list[tuple[int, ...]] = []
        for perm in itertools.permutations(slots_of):
            if not any(_equivalent(perm, prev, classes) for prev in perms):
                perms.append(perm)
        choices.append([[(pos, slots_of[j]) for j, pos in enumerate(p)] for p in perms])
    result = []
    for combo in itertools.product(*choices):
        mapping = dict(pair for part in combo for pair in part)
        result.append([base[mapping.get(s, s)] if s >= nin else base[s] for s in range(len(base))])
    return result


def to_partonic_frame(p: FloatArray) -> FloatArray:
    """Boost momenta (m, 4) along z into the frame where the two incoming partons balance."""
    total = p[0] + p[1]
    if total[1] != 0 or total[2] != 0:
        return p
    beta = total[3] / total[0]
    gamma = 1.0 / np.sqrt((1.0 - beta) * (1.0 + beta))
    out = p.copy()
    out[:, 0] = gamma * (p[:, 0] - beta * p[:, 3])
    out[:, 3] = gamma * (p[:, 3] - beta * p[:, 0])
    return out


class CompiledMatrixElement:
    """|M|² from MadGraph's f2py reweighting library, helicity summed, in double precision.

    Parameters
    ----------
    module : module
        The imported ``allmatrix2py`` f2py module.
    id_to_path : mapping
        MadGraph's ``ReweightInterface.id_to_path`` for that library.
    card : ParamCard
        The run's param card (the events' generation point).
    card_path : str
        Path of the param card given to ``initialise`` (relative to the SubProcesses dir).
    """

    def __init__(self, module: Any, id_to_path: IdToPath, card: ParamCard, card_path: str) -> None:
        self.module = module
        self.id_to_path = id_to_path
        self.card = card
        self.card_path = card_path
        self._initialised = False
        self.calls = 0

    def _set_point(self, changes: Mapping[ParamKey, float]) -> None:
        if not self._initialised:
            self.module.initialise(self.card_path)
            self._initialised = True
        # every point starts again from the original card, as MadGraph does
        for entry in self.card.entries:
            value = changes.get((entry.block.upper(), entry.key[0]), entry.value)
            if len(entry.key) != 1:
                value = entry.value
            name = f"{entry.block.upper()}_{'_'.join(str(i) for i in entry.key)}"
            self.module.change_para(name, value)
        self.module.update_all_coup()

    def prepare(self, chunk: LheChunk) -> list[tuple[list[int], str, list[FloatArray]]]:
        """Per event: pdg order, SubProcesses dir and the momenta (4, m) of each ordering."""
        arr = chunk.arrays
        prepared = []
        for e in range(chunk.n_events):
            npart = int(arr["n_particles"][e])
            pdg = [int(v) for v in arr["pdg_id"][e, :npart]]
            status = [int(v) for v in arr["status"][e, :npart]]
            mothers = [tuple(int(m) for m in row) for row in arr["mothers"][e, :npart]]
            initial = tuple(sorted(p for p, s in zip(pdg, status, strict=True) if s == -1))
            final = tuple(sorted(p for p, s in zip(pdg, status, strict=True) if s == 1))
            try:
                order, pdir, _ = self.id_to_path[(initial, final)]
            except KeyError:
                raise WeightError(
                    f"event {chunk.start + e}: no compiled matrix element for {initial} > {final}"
                ) from None
            momenta = np.asarray(arr["momentum"][e, :npart], dtype=np.float64)
            moms = []
            for idx in orderings(pdg, status, mothers, order):  # type: ignore[arg-type]
                p = to_partonic_frame(momenta[idx])
                moms.append(np.asfortranarray(p.T))
            prepared.append((list(order[0]) + list(order[1]), str(pdir), moms))
        return prepared

    def evaluate(self, chunk: LheChunk, points: Sequence[Mapping[ParamKey, float]]) -> FloatArray:
        """|M|² (helicity summed) of every event at every point, shape (n_events, n_points)."""
        prepared = self.prepare(chunk)
        alphas = np.asarray(chunk.arrays["aqcd"], dtype=np.float64)
        scale2 = np.asarray(chunk.arrays["scale"], dtype=np.float64) ** 2
        out = np.empty((chunk.n_events, len(points)))
        pdirs = {pdir for _, pdir, _ in prepared}
        smatrixhel = self.module.smatrixhel
        cwd = Path.cwd()
        try:
            with quiet_stdout():
                for pdir in sorted(pdirs):
                    os.chdir(pdir)
                    rows = [e for e, item in enumerate(prepared) if item[1] == pdir]
                    for j, changes in enumerate(points):
                        self._set_point(changes)
                        for e in rows:
                            pdgs, _, moms = prepared[e]
                            a, s2 = float(alphas[e]), float(scale2[e])
                            total = 0.0
                            for p in moms:
                                total += float(smatrixhel(pdgs, -1, p, a, s2, -1))
                            out[e, j] = total / len(moms)
                        self.calls += len(rows)
        finally:
            os.chdir(cwd)
        return out
