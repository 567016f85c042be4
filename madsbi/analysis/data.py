"""Data for a trained analysis: observables from an event store, checks, selections, modes.

A data store needs the ``/parton`` fields the analysis's observables are computed from (a
parton-level analysis) or a ``/reco`` group whose ``x`` columns name the observables (a
reco-level analysis, :func:`~madsbi.analysis.reco.read_reco_store`); its ``/meta`` must name
the same parameters and one of the analysis's processes (real data with an empty process
string is accepted). Its weights must be finite and ≥ 0.

Selections (``charge=1``, ``m_wz=300,1000``) keep the events whose observable equals the
value, or lies in [low, high); the same selection is applied to the rate model's events.
An analysis of several channels may record, in its fit defaults (``defaults.channels``), the
selection of each channel's process (``sum_charge=-1`` for W⁻Z at reco level): data naming
that process are fitted in its region, against its channel's rate
(:func:`channel_selections`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from madsbi._validate import FloatArray
from madsbi.cards import process_key
from madsbi.errors import (
    InputError,
    MissingFileError,
    StoreFormatError,
    StoreMismatchError,
    WeightError,
)
from madsbi.events import schema
from madsbi.processes import DEFAULT_PROCESS, get_process

if TYPE_CHECKING:
    from madsbi.events.store import EventStore

LEVELS = ("parton", "reco")


@dataclass(frozen=True)
class Selection:
    """One cut: ``name == value`` (``low`` only) or ``low <= name < high``."""

    name: str
    low: float
    high: float | None = None

    @classmethod
    def parse(cls, text: str, names: Sequence[str] | None = None) -> Selection:
        """From ``name=value`` or ``name=low,high``; ``names``: the allowed observables.

        By default the parton-level observables of the default process (W±Z).
        """
        default = get_process(DEFAULT_PROCESS).parton_observables
        allowed = sorted(default if names is None else names)
        name, sep, values = text.partition("=")
        name = name.strip()
        if not sep or name not in allowed:
            raise InputError(
                f"--select {text!r}: expected NAME=VALUE or NAME=LOW,HIGH with NAME one of "
                f"{allowed}"
            )
        try:
            numbers = [float(v) for v in values.split(",")]
        except ValueError:
            raise InputError(f"--select {text!r}: the values must be numbers") from None
        if len(numbers) == 1:
            return cls(name, numbers[0])
        if len(numbers) != 2 or not numbers[0] < numbers[1]:
            raise InputError(f"--select {text!r}: expected one value or LOW,HIGH with LOW < HIGH")
        return cls(name, numbers[0], numbers[1])

    def mask(self, values: FloatArray) -> npt.NDArray[np.bool_]:
        """Events that pass."""
        if self.high is None:
            result: npt.NDArray[np.bool_] = values == self.low
        else:
            result = (values >= self.low) & (values < self.high)
        return result

    def text(self) -> str:
        """``name=value`` or ``name=low,high``."""
        if self.high is None:
            return f"{self.name}={self.low:g}"
        return f"{self.name}={self.low:g},{self.high:g}"


def selection_mask(
    observables: Mapping[str, FloatArray], selections: Sequence[Selection], n: int
) -> npt.NDArray[np.bool_]:
    """Events passing every selection."""
    keep = np.ones(n, dtype=bool)
    for s in selections:
        if s.name not in observables:
            raise InputError(f"--select {s.text()}: the observable {s.name!r} is not available")
        keep &= s.mask(observables[s.name])
    return keep


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoreEvents:
    """What an analysis reads from one store.

    Attributes
    ----------
    path : Path
    observables : dict of name → (N,)
        The analysis's features and the observables any selection may need.
    weights : (N,)
        Generation weights (pb).
    coefficients : (N, K) or None
        Exact per-event coefficients, if the store has them.
    parameters : tuple of str
    theta0, theta_gen : (n,)
    sigma_gen : float
        σ at the generation point (pb), from the store's basis cross-sections; for reco
        events the fiducial σ_fid = σ(θ_gen) Σ_passed w_reco / Σ w_parton.
    process : str
    sha256 : str
    level : {"parton", "reco"}
        Where the observables come from.
    smeared : bool
        Reco entries made by fractional smearing (several weighted copies per parent).
    """

    path: Path
    observables: dict[str, FloatArray]
    weights: FloatArray
    coefficients: FloatArray | None
    parameters: tuple[str, ...]
    theta0: FloatArray
    theta_gen: FloatArray
    sigma_gen: float
    process: str
    sha256: str
    level: str = "parton"
    smeared: bool = False

    @property
    def n_events(self) -> int:
        """N."""
        return int(self.weights.shape[0])

    def features(self, names: Sequence[str], index: Any = slice(None)) -> FloatArray:
        """The network inputs, (N, d), in the order of ``names``."""
        return np.stack([self.observables[n][index] for n in names], axis=1)


def generation_point(meta: Any) -> FloatArray:
    """θ_gen of a store: the meta's generation point when recorded, else θ0 (schema v1)."""
    for key in ("theta_gen", "generation_point"):
        value = getattr(meta, key, None)
        if value is not None:
            return np.asarray(value, dtype=np.float64)
    space = meta.space
    theta_gen = getattr(space, "theta_gen", None)
    if theta_gen is not None:
        return np.asarray(theta_gen, dtype=np.float64)
    result: FloatArray = np.asarray(space.theta0_array, dtype=np.float64)
    return result


def generation_cross_section(store: EventStore) -> tuple[FloatArray, float]:
    """θ_gen of an open store and σ(θ_gen) from its morphing basis (NaN without the basis σ)."""
    meta = store.meta
    theta_gen = generation_point(meta)
    sigma_gen = (
        float(store.cross_section(theta_gen[None])[0])
        if meta.basis_cross_sections is not None
        else float("nan")
    )
    return theta_gen, sigma_gen


def read_store(
    path: str | Path,
    observables: Sequence[str],
    *,
    need_coefficients: bool = False,
    optional: Sequence[str] = (),
    process: str = DEFAULT_PROCESS,
) -> StoreEvents:
    """Read the observables (and weights, coefficients) of a parton-level store.

    The observables are the parton observables of the registered ``process``
    (:meth:`madsbi.processes.Process.parton_features`); ``optional`` ones are added when the
    events allow them (selections, bookkeeping).

    Raises
    ------
    MissingFileError
        No such file.
    StoreFormatError
        The store fails its schema (:func:`madsbi.events.verify.check_structure`: datasets of
        different lengths, wrong types or shapes), lacks ``/parton`` fields an observable
        needs (naming the observable), or coefficients when ``need_coefficients``.
    WeightError
        NaN, infinite or negative weights.
    """
    from madsbi.events.store import EventStore
    from madsbi.events.verify import check_structure

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such event store")
    with EventStore(path) as store:
        # The store schema first (issue 29 #11): a weights dataset one row short, integer
        # weights or coefficients of the wrong shape are refused before any event is read.
        check_structure(store)
        meta = store.meta
        present = set(store.fields(schema.PARTON)) if schema.PARTON in store.groups else set()
        if schema.RECO in store.groups:
            raise StoreMismatchError(
                f"{path}: a reco-level store (it has /reco); the analysis is parton-level "
                f"(features {list(observables)}): fit it with a reco-level analysis",
                "/reco",
            )
        kind = get_process(process)
        missing = [f for f in kind.parton_fields if f not in present]
        if missing:
            raise StoreFormatError(
                f"{path}: the observables {list(observables)} need /parton fields {missing}, "
                "which the store lacks"
            )
        if "weight" not in present:
            raise StoreFormatError(f"{path}: /parton/weight is missing")
        has_c = "coefficients" in present
        if need_coefficients and not has_c:
            raise StoreFormatError(f"{path}: /parton/coefficients is missing")
        fields = [*kind.parton_fields, "weight", *(["coefficients"] if has_c else [])]
        event = store.read(schema.PARTON, fields)
        theta_gen, sigma_gen = generation_cross_section(store)
    values: dict[str, FloatArray] = {}
    for name in observables:
        try:
            values[name] = kind.parton_features(event.arrays, [name])[:, 0]
        except InputError as exc:
            raise StoreFormatError(
                f"{path}: cannot compute the observable {name!r}: {exc}"
            ) from exc
    for name in optional:
        if name not in values:
            try:
                values[name] = kind.parton_features(event.arrays, [name])[:, 0]
            except InputError:
                continue
    weights = np.asarray(event["weight"], dtype=np.float64)
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        raise WeightError(
            f"{path}: /parton/weight has {int(bad.sum())} NaN, infinite or negative values "
            f"(first at event {int(np.argmax(bad))})"
        )
    return StoreEvents(
        path=path,
        observables=values,
        weights=weights,
        coefficients=np.asarray(event["coefficients"], dtype=np.float64) if has_c else None,
        parameters=tuple(meta.space.names),
        theta0=np.asarray(meta.space.theta0_array, dtype=np.float64),
        theta_gen=theta_gen,
        sigma_gen=sigma_gen,
        process=str(meta.process),
        sha256=file_sha256(path),
    )


def check_compatible(
    events: StoreEvents, parameters: Sequence[str], processes: Sequence[str]
) -> None:
    """The data describe the analysis's parameters and one of its processes.

    Raises
    ------
    StoreMismatchError
        Naming ``/meta/parameter_names`` or ``/meta/process``.
    """
    if events.parameters and tuple(events.parameters) != tuple(parameters):
        raise StoreMismatchError(
            f"{events.path}: /meta/parameter_names are {list(events.parameters)}, the analysis "
            f"was trained for {list(parameters)}",
            "/meta/parameter_names",
        )
    if (
        events.process
        and processes
        and process_key(events.process) not in {process_key(p) for p in processes}
    ):
        raise StoreMismatchError(
            f"{events.path}: /meta/process {events.process!r} is not one the analysis was "
            f"trained on ({list(processes)})",
            "/meta/process",
        )


def channel_selections(
    defaults: Mapping[str, Any],
    process: str,
    given: Sequence[Selection],
    allowed: Sequence[str] | None = None,
) -> tuple[Selection, ...]:
    """The selections of the channel of data of ``process``, from the analysis's fit defaults.

    ``defaults["channels"]`` maps each process of an analysis of several channels to the
    selection texts of its region (e.g. ``{"…w- z…": ["sum_charge=-1"]}``); data whose process
    is one of them (by :func:`madsbi.cards.process_key`) get those selections, except on an
    observable that ``given`` (the caller's) already selects. Data without a process (real
    data) or of an analysis without the record get none: the rate of every channel.
    """
    channels = defaults.get("channels") or {}
    if not process or len(channels) < 2:
        return ()
    key = process_key(process)
    texts = next((list(v) for p, v in channels.items() if process_key(p) == key), [])
    named = {s.name for s in given}
    chosen = [Selection.parse(t, allowed) for t in texts]
    return tuple(s for s in chosen if s.name not in named)
