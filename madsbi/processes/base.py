"""The process interface: what the reco chain and the analysis know of a physics process.

A :class:`Process` names a physics process (``"wz"``), says which MadGraph process
definitions it describes (:meth:`Process.check_process`), checks their parton events, computes
per-event parton observables (:meth:`Process.parton_features`) and may carry a reco-level
:class:`RecoSelection`: the observables and their order, the named cuts and the function from
reconstructed objects to (observables, cut flags). Which observables are categorical (a
charge, a flavour, a jet count) is declared too, so that data whose categorical values the
training never saw can be refused by name.

Processes live in a registry: :func:`register_process` adds one, :func:`get_process` finds it
by name. ``madsbi simulate reco`` applies the selection of the process named by its config's
``selection`` key to any store whose MadGraph process some registered process accepts, so a
background sample (ZZ → 4ℓ, Z+jets) passes the W±Z selection once its process is
registered. Adding a process is one module in :mod:`madsbi.processes` that builds a
:class:`Process` and registers it (W±Z: :mod:`madsbi.processes.wz`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from madsbi._validate import FloatArray
from madsbi.errors import InputError, ShapeError
from madsbi.events.particles import Particles

#: A parton observable: the ``/parton`` fields of N events → (N,) values.
PartonObservable = Callable[[Mapping[str, Any]], FloatArray]


@dataclass(frozen=True, eq=False)
class RecoObjects:
    """The reconstructed objects of N simulated copies (the detector's output).

    Attributes
    ----------
    leptons : Particles
        Isolated charged leptons (signed PDG ids 11, 13).
    jets : Particles
        Reconstructed jets.
    met : ndarray, shape (N, 2)
        The E_T^miss vector (GeV).
    shower_ok : ndarray of bool, shape (N,)
        Pythia succeeded for the copy.
    """

    leptons: Particles
    jets: Particles
    met: FloatArray
    shower_ok: npt.NDArray[np.bool_]

    @property
    def n_events(self) -> int:
        """Number of copies N."""
        return int(self.shower_ok.shape[0])


@dataclass(frozen=True, eq=False)
class SelectionResult:
    """Observables, cut flags and (optionally) token four-momenta of N copies.

    Attributes
    ----------
    x : ndarray, shape (N, D)
        Observables in the order of :attr:`RecoSelection.observables` (defined for every copy,
        e.g. zero where an object is missing).
    cuts : ndarray of bool, shape (N, C)
        One flag per cut of :attr:`RecoSelection.cuts`; a copy passes if all hold.
    tokens : ndarray, shape (N, P, 4), or None
        Four-momenta of the objects the observables were built from (``/reco/momentum``).
    token_ids : ndarray of int32, shape (N, P), or None
        Their PDG ids (``/reco/pdg_id``).
    """

    x: FloatArray
    cuts: npt.NDArray[np.bool_]
    tokens: FloatArray | None = None
    token_ids: npt.NDArray[np.int32] | None = None

    @property
    def passed(self) -> npt.NDArray[np.bool_]:
        """Copies passing every cut."""
        return np.asarray(self.cuts.all(axis=1), dtype=bool)

    def cut_flow(self, weights: FloatArray) -> FloatArray:
        """Weighted fraction of the copies passing the cuts 1 … c, for every c: (C,)."""
        cumulative = np.cumprod(self.cuts, axis=1).astype(bool)
        total = float(np.sum(weights))
        result: FloatArray = (weights[:, None] * cumulative).sum(axis=0) / total
        return result


@dataclass(frozen=True)
class Token:
    """One particle token of an L-GATr network, by observable names.

    ``momentum`` names the (E, p_x, p_y, p_z) columns (``""``: a zero component, e.g. the
    p_z of E_T^miss); ``scalars`` the token's scalar columns (charge, flavour).
    """

    momentum: tuple[str, str, str, str]
    scalars: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class RecoSelection:
    """A reco-level selection: observables, cuts and the function computing them.

    Attributes
    ----------
    observables : tuple of str
        The columns of ``/reco/x``, in order.
    cuts : tuple of str
        The columns of ``/reco/cuts``, in the order of the cut flow.
    select : callable
        :class:`RecoObjects` → :class:`SelectionResult`.
    categorical : tuple of str
        Observables that take a few discrete values (charges, flavours, counts).
    tokens : tuple of Token
        The particle tokens an L-GATr network builds from the observables (empty: none).
    """

    observables: tuple[str, ...]
    cuts: tuple[str, ...]
    select: Callable[[RecoObjects], SelectionResult]
    categorical: tuple[str, ...] = ()
    tokens: tuple[Token, ...] = ()

    def __post_init__(self) -> None:
        _check_names(self.observables, "observables", allow_empty=False)
        _check_names(self.cuts, "cuts", allow_empty=False)
        _check_subset(self.categorical, self.observables, "categorical")
        used = [n for t in self.tokens for n in (*t.momentum, *t.scalars) if n]
        _check_subset(tuple(used), self.observables, "tokens")

    def __call__(self, objects: RecoObjects) -> SelectionResult:
        """Apply the selection, checking the shapes of what it returns.

        Raises
        ------
        ShapeError
            If ``x`` is not (N, len(observables)) or ``cuts`` not (N, len(cuts)).
        """
        result = self.select(objects)
        n = objects.n_events
        expected = {"x": (n, len(self.observables)), "cuts": (n, len(self.cuts))}
        for name, shape in expected.items():
            got = np.shape(getattr(result, name))
            if got != shape:
                raise ShapeError(f"selection {name}: expected shape {shape}, got {got}")
        if (result.tokens is None) != (result.token_ids is None):
            raise ShapeError("selection tokens: give both tokens and token_ids, or neither")
        return result


@dataclass(frozen=True, eq=False)
class Process:
    """A physics process: its MadGraph definitions, parton observables and reco selection.

    Attributes
    ----------
    name : str
        Registry key (``"wz"``), as written in configs.
    description : str
        One line for messages (``"W±Z → 3ℓν"``).
    accepts : callable
        MadGraph process text (``/meta/process``, e.g. ``"generate p p > w+ z, …"``) → whether
        this process describes it.
    selection : RecoSelection or None
        The reco-level selection (None: the process has no reco selection of its own).
    parton_observables : mapping of str → callable
        Per-event parton observables by name (see :meth:`parton_features`).
    parton_fields : tuple of str
        The ``/parton`` fields the parton observables read.
    parton_categorical : tuple of str
        Parton observables that take a few discrete values (the W charge).
    check_events : callable, optional
        ``(parton fields, where, first row) → None``, raising :class:`InputError` for events
        the reco simulation cannot take (e.g. without the decay products).
    """

    name: str
    description: str
    accepts: Callable[[str], bool]
    selection: RecoSelection | None = None
    parton_observables: Mapping[str, PartonObservable] = field(default_factory=dict)
    parton_fields: tuple[str, ...] = ()
    parton_categorical: tuple[str, ...] = ()
    check_events: Callable[[Mapping[str, Any], str, int], None] | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.isidentifier():
            raise InputError(f"process name: expected an identifier, got {self.name!r}")
        _check_subset(self.parton_categorical, tuple(self.parton_observables), "parton_categorical")

    @property
    def observables(self) -> tuple[str, ...]:
        """The reco observables, in the order of ``/reco/x`` (empty without a selection)."""
        return () if self.selection is None else self.selection.observables

    @property
    def categorical(self) -> frozenset[str]:
        """Every categorical observable, parton and reco."""
        reco = () if self.selection is None else self.selection.categorical
        return frozenset((*self.parton_categorical, *reco))

    def reco_selection(self) -> RecoSelection:
        """The reco selection.

        Raises
        ------
        InputError
            If the process has none.
        """
        if self.selection is None:
            raise InputError(f"process {self.name!r} ({self.description}) has no reco selection")
        return self.selection

    def check_process(self, process: str, where: str) -> None:
        """Refuse a store whose MadGraph process this process does not describe.

        An empty process text (a store without a process definition, e.g. real data) passes:
        its events are checked one by one (:attr:`check_events`).

        Raises
        ------
        InputError
            Naming ``where`` (the store) and its process.
        """
        if " ".join(process.split()) and not self.accepts(process):
            raise InputError(
                f"{where}: the process {self.name!r} is {self.description}; this store's "
                f"process is {process!r}"
            )

    def parton_features(self, event: Mapping[str, Any], names: Sequence[str]) -> FloatArray:
        """The parton observables ``names`` of every event, (N, len(names)).

        Parameters
        ----------
        event : mapping
            At least the ``/parton`` fields of :attr:`parton_fields`.
        names : sequence of str
            Keys of :attr:`parton_observables`.

        Raises
        ------
        InputError
            For an unknown name (naming the known ones), a missing field, or events without
            the particles an observable needs.
        """
        return parton_features(self.parton_observables, self.parton_fields, event, names)


def parton_features(
    observables: Mapping[str, PartonObservable],
    fields: Sequence[str],
    event: Mapping[str, Any],
    names: Sequence[str],
) -> FloatArray:
    """The observables ``names`` of ``observables`` for every event, (N, len(names)).

    Raises
    ------
    InputError
        For an unknown name (naming the known ones) or a missing field of ``fields``.
    """
    unknown = [n for n in names if n not in observables]
    if unknown or not names:
        raise InputError(f"features: expected names from {sorted(observables)}, got {list(names)}")
    missing = [f for f in fields if f not in event]
    if missing:
        raise InputError(f"parton record: missing field(s) {missing}")
    return np.stack([observables[n](event) for n in names], axis=1)


_REGISTRY: dict[str, Process] = {}


def register_process(process: Process, *, replace: bool = False) -> Process:
    """Add ``process`` to the registry under its name and return it.

    Raises
    ------
    InputError
        If the name is taken and ``replace`` is false.
    """
    if process.name in _REGISTRY and not replace and _REGISTRY[process.name] is not process:
        raise InputError(
            f"process {process.name!r} is already registered; pass replace=True to replace it"
        )
    _REGISTRY[process.name] = process
    return process


def unregister_process(name: str) -> None:
    """Remove a process from the registry (tests, plugins that reload)."""
    _REGISTRY.pop(name, None)


def registered_processes() -> tuple[str, ...]:
    """Names of the registered processes, in registration order."""
    return tuple(_REGISTRY)


def get_process(name: str) -> Process:
    """The registered process ``name``.

    Raises
    ------
    InputError
        For an unknown name, naming the registered ones.
    """
    if name not in _REGISTRY:
        raise InputError(f"unknown process {name!r}; registered: {list(_REGISTRY)}")
    return _REGISTRY[name]


def find_process(process: str, prefer: str | None = None) -> Process | None:
    """The registered process that accepts the MadGraph process text ``process``.

    ``prefer`` (a name) is tried first; then the others in registration order. None when no
    process accepts it.
    """
    order = sorted(_REGISTRY.values(), key=lambda p: p.name != prefer)
    return next((p for p in order if p.accepts(process)), None)


def _check_names(names: tuple[str, ...], what: str, *, allow_empty: bool) -> None:
    if (not names and not allow_empty) or len(set(names)) != len(names) or not all(names):
        raise InputError(f"selection {what}: expected distinct non-empty names, got {names!r}")


def _check_subset(names: tuple[str, ...], known: tuple[str, ...], what: str) -> None:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"{what}: {unknown} are not among the observables {list(known)}")
