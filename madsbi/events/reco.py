"""The one reader of a store's ``/reco`` entries (the analysis's and the studies').

Of the ``/reco`` entries only those passing every cut flag (``/reco/cuts``, when stored) are
read: the selection that trained an analysis and built its rate model. Each carries its
observables (the named columns of ``/reco/x``), its stored event weight (parent weight ×
smearing weight 1/n, eq. 35 of the paper), its parent row and, when the store has them, its
parent's exact coefficients ``/parton/coefficients[parent]`` and the token four-momenta. The
fiducial weights scale the stored ones to the generation point's cross-section,

    σ_fid = σ(θ_gen) Σ_passed w_reco / Σ w_parton.

A store is ``smeared`` when its recorded reco configuration says so, or when some entry has a
smearing weight ≠ 1 or a copy number > 0: its entries are then weighted copies of their
parents, not independent events.

The paired detector variations of a store (``madsbi simulate reco --variations``,
``/reco_variations/<name>_{up,down}``) are read by :func:`read_reco_variation`: the entries
that pass every cut under the variation, with its observables and the weights of their
``/reco`` rows; :func:`stored_variations` lists those a store holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from madsbi._validate import FloatArray, IntArray
from madsbi.errors import InputError, MissingFileError, StoreFormatError, WeightError
from madsbi.events import schema
from madsbi.events.store import EventStore

#: The selection of stores whose ``reco_config`` predates the ``selection`` key.
LEGACY_SELECTION = "wz"


@dataclass(frozen=True, eq=False)
class RecoEntries:
    """The passed ``/reco`` entries of one store.

    Attributes
    ----------
    path : Path
    columns : tuple of str
        The names of the ``/reco/x`` columns.
    x : ndarray, shape (N, D)
        Observables of the passed entries, all columns.
    weights : ndarray, shape (N,)
        Stored event weights (pb; parent weight × smearing weight).
    parents : ndarray of int64, shape (N,), or None
        Parent rows into ``/parton``.
    smearing_weights : ndarray, shape (N,), or None
    copy_index : ndarray of int, shape (N,), or None
    coefficients : ndarray, shape (N, K), or None
        The parents' exact coefficients (pb).
    momentum : ndarray, shape (N, P, 4), or None
        Token four-momenta (read on request).
    pdg_id : ndarray of int32, shape (N, P), or None
        Token PDG ids (read with ``momentum``).
    n_entries : int
        All ``/reco`` entries, passed or not.
    n_parents : int
        ``/parton`` events (the generated ones the entries come from).
    parent_weight_sum : float
        Σ ``/parton/weight`` (pb).
    sigma_gen : float
        σ(θ_gen) of all parents (pb) from the store's basis cross-sections; NaN without them.
    parameters : tuple of str
    theta0, theta_gen : ndarray, shape (n,)
    process : str
        The MadGraph process text (``/meta/process``).
    selection : str or None
        The selection that made the entries (``reco_config``; ``"wz"`` for stores made before
        it was recorded; None without a reco configuration).
    smeared : bool
        Fractionally smeared entries (see the module docstring).
    """

    path: Path
    columns: tuple[str, ...]
    x: FloatArray
    weights: FloatArray
    parents: IntArray | None
    smearing_weights: FloatArray | None
    copy_index: IntArray | None
    coefficients: FloatArray | None
    momentum: FloatArray | None
    pdg_id: npt.NDArray[np.int32] | None
    n_entries: int
    n_parents: int
    parent_weight_sum: float
    sigma_gen: float
    parameters: tuple[str, ...]
    theta0: FloatArray
    theta_gen: FloatArray
    process: str
    selection: str | None
    smeared: bool

    @property
    def n_events(self) -> int:
        """Passed entries N."""
        return int(self.weights.shape[0])

    @property
    def scale(self) -> float:
        """σ(θ_gen) / Σ w_parton: stored weights → fiducial weights (NaN without σ)."""
        return self.sigma_gen / self.parent_weight_sum

    @property
    def fiducial_weights(self) -> FloatArray:
        """Weights (pb) summing to σ_fid(θ_gen); the stored ones when σ(θ_gen) is unknown."""
        scale = self.scale
        return self.weights * scale if np.isfinite(scale) else self.weights

    @property
    def sigma_fid(self) -> float:
        """σ_fid(θ_gen) in pb (NaN when σ(θ_gen) is unknown)."""
        return float(np.sum(self.weights) * self.scale)

    def column(self, name: str) -> FloatArray:
        """One observable column, (N,).

        Raises
        ------
        StoreFormatError
            If ``/reco/x`` has no column ``name`` (naming the ones it has).
        """
        if name not in self.columns:
            raise StoreFormatError(
                f"{self.path}: /reco/x has no column {name!r} (it has {list(self.columns)})"
            )
        result: FloatArray = self.x[:, self.columns.index(name)]
        return result


def recorded_selection(attributes: Any) -> tuple[str | None, bool]:
    """The selection and the ``smear`` flag of a store's recorded reco configuration.

    (None, False) without one; a configuration without a ``selection`` key was W±Z's.
    """
    if not isinstance(attributes, Mapping) or "reco_config" not in attributes:
        return None, False
    try:
        config = json.loads(str(attributes["reco_config"]))
    except json.JSONDecodeError:
        return None, False
    if not isinstance(config, dict):
        return None, False
    return str(config.get("selection", LEGACY_SELECTION)), bool(config.get("smear", False))


def read_reco(
    path: str | Path,
    *,
    columns: Sequence[str] = (),
    need_coefficients: bool = False,
    momenta: bool = False,
) -> RecoEntries:
    """Read the passed ``/reco`` entries of a store (see the module docstring).

    Parameters
    ----------
    path : path
    columns : sequence of str
        ``/reco/x`` columns the caller needs (checked, named in the errors).
    need_coefficients : bool
        Require the parents' coefficients (``/parton/coefficients`` and ``/reco/parent``).
    momenta : bool
        Also read the token four-momenta and ids (when stored).

    Raises
    ------
    MissingFileError
        No such file.
    StoreFormatError
        No ``/reco`` group (a parton-level store), no ``/reco/x`` or ``/reco/weight``, a
        needed column missing (naming it), no ``/parton/weight``, no entry passing every cut,
        or no parent coefficients when ``need_coefficients``.
    WeightError
        NaN, infinite or negative weights among the passed entries, or parent weights that do
        not sum to > 0.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such event store")
    with EventStore(path) as store:
        if schema.RECO not in store.groups:
            needed = f" (the columns {list(columns)} are read from /reco/x)" if columns else ""
            raise StoreFormatError(
                f"{path}: no /reco group (a parton-level store){needed}; simulate the store "
                "with madsbi simulate reco"
            )
        present = set(store.fields(schema.RECO))
        for name in ("x", "weight"):
            if name not in present:
                raise StoreFormatError(f"{path}: /reco/{name} is missing")
        names = tuple(store.column_names(schema.RECO, "x"))
        missing = [n for n in columns if n not in names]
        if missing:
            raise StoreFormatError(
                f"{path}: /reco/x has no columns {missing} (it has {list(names)}); needed: "
                f"{list(columns)}"
            )
        extra = [f for f in ("cuts", "parent", "smearing_weight", "copy_index") if f in present]
        tokens = [f for f in ("momentum", "pdg_id") if momenta and f in present]
        reco = store.read(schema.RECO, ["x", "weight", *extra, *tokens])
        parents_info = _read_parents(
            store, path, has_parent="parent" in present, need_coefficients=need_coefficients
        )
    keep: npt.NDArray[np.bool_] = np.ones(reco.n_events, dtype=bool)
    if "cuts" in extra:
        keep = np.asarray(np.asarray(reco["cuts"]).astype(bool).all(axis=1), dtype=bool)
    if not keep.any():
        raise StoreFormatError(f"{path}: no /reco entry passes every cut")
    return _entries(path, names, reco["x"], reco, reco, keep, parents_info)


def stored_variations(path: str | Path) -> tuple[str, ...]:
    """The detector variations a store holds in both directions, in ``VARIATION_NAMES`` order.

    See :mod:`madsbi.events.schema` (``/reco_variations/<name>_{up,down}``).
    """
    with EventStore(path) as store:
        groups = set(store.groups)
    return tuple(
        name
        for name in schema.VARIATION_NAMES
        if all(schema.variation_group(name, d) in groups for d in schema.DIRECTIONS)
    )


def read_reco_variation(
    path: str | Path,
    name: str,
    direction: str,
    *,
    columns: Sequence[str] = (),
    need_coefficients: bool = False,
    momenta: bool = False,
) -> RecoEntries:
    """Read the ``/reco`` entries that pass every cut under one detector variation.

    Like :func:`read_reco`, with the observables, cut flags and tokens of
    ``/reco_variations/<name>_<direction>`` instead of ``/reco``'s: the entries are those the
    varied detector selects (some of them fail the nominal selection), and their weights,
    parents, smearing weights, copy numbers and coefficients are their ``/reco`` rows' (a
    detector variation changes no weight). Paired with :func:`read_reco` through ``parents``
    and ``copy_index``.

    Parameters
    ----------
    path : path
    name : str
        One of :data:`~madsbi.events.schema.VARIATION_NAMES`.
    direction : {"up", "down"}
    columns, need_coefficients, momenta
        As in :func:`read_reco`.

    Raises
    ------
    InputError
        An unknown variation (listing the known ones) or direction.
    MissingFileError, StoreFormatError, WeightError
        As :func:`read_reco`; also a store without this variation (naming those it holds).
    """
    if name not in schema.VARIATION_NAMES:
        raise InputError(
            f"unknown detector variation {name!r}; known: {', '.join(schema.VARIATION_NAMES)}"
        )
    if direction not in schema.DIRECTIONS:
        raise InputError(f"direction: expected one of {list(schema.DIRECTIONS)}, got {direction!r}")
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such event store")
    group = schema.variation_group(name, direction)
    with EventStore(path) as store:
        if group not in store.groups or schema.RECO not in store.groups:
            raise StoreFormatError(
                f"{path}: no /{group} (the store holds the variations "
                f"{list(stored_variations(path))}); simulate it with madsbi simulate reco "
                f"--variations {name}"
            )
        names = tuple(store.column_names(group, "x"))
        missing = [c for c in columns if c not in names]
        if missing:
            raise StoreFormatError(
                f"{path}: /{group}/x has no columns {missing} (it has {list(names)})"
            )
        present = set(store.fields(group))
        tokens = [f for f in ("momentum", "pdg_id") if momenta and f in present]
        varied = store.read(group, ["x", "cuts", *tokens])
        reco_fields = set(store.fields(schema.RECO))
        extra = [f for f in ("parent", "smearing_weight", "copy_index") if f in reco_fields]
        reco = store.read(schema.RECO, ["weight", *extra])
        parents_info = _read_parents(
            store, path, has_parent="parent" in reco_fields, need_coefficients=need_coefficients
        )
    keep = np.asarray(np.asarray(varied["cuts"]).astype(bool).all(axis=1), dtype=bool)
    if not keep.any():
        raise StoreFormatError(f"{path}: no /{group} entry passes every cut")
    return _entries(path, names, varied["x"], varied, reco, keep, parents_info)


@dataclass(frozen=True, eq=False)
class _Parents:
    """What an entry reader takes from ``/parton`` and the metadata."""

    n_parents: int
    weight_sum: float
    coefficients: FloatArray | None
    sigma_gen: float
    meta: Any


def _read_parents(
    store: EventStore, path: Path, *, has_parent: bool, need_coefficients: bool
) -> _Parents:
    """The parents' weight sum, coefficients (when stored and linked), σ(θ_gen) and metadata."""
    parton_fields = set(store.fields(schema.PARTON)) if schema.PARTON in store.groups else set()
    has_c = "coefficients" in parton_fields and has_parent
    if need_coefficients and not has_c:
        raise StoreFormatError(f"{path}: /parton/coefficients (or /reco/parent) is missing")
    if "weight" not in parton_fields:
        raise StoreFormatError(
            f"{path}: /parton/weight is missing (the parents' weights normalise σ_fid)"
        )
    parton = store.read(schema.PARTON, ["weight", *(["coefficients"] if has_c else [])])
    meta = store.meta
    sigma_gen = (
        float(store.cross_section(meta.theta_gen_array[None])[0])
        if meta.basis_cross_sections is not None
        else float("nan")
    )
    parent_sum = float(np.sum(parton["weight"]))
    if not parent_sum > 0:
        raise WeightError(f"{path}: /parton/weight sums to {parent_sum}, expected > 0")
    coefficients = np.asarray(parton["coefficients"], dtype=np.float64) if has_c else None
    return _Parents(int(parton.n_events), parent_sum, coefficients, sigma_gen, meta)


def _entries(
    path: Path,
    names: tuple[str, ...],
    x: Any,
    tokens: Any,
    reco: Any,
    keep: npt.NDArray[np.bool_],
    parents_info: _Parents,
) -> RecoEntries:
    """The passed entries of one reader.

    Observables ``x`` and token momenta from ``tokens`` (``/reco`` or a variation); weights,
    parents, smearing weights and copy numbers from the ``/reco`` rows.
    """
    weights = np.asarray(reco["weight"], dtype=np.float64)[keep]
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        raise WeightError(
            f"{path}: /reco/weight has {int(bad.sum())} NaN, infinite or negative values "
            "among the passed entries"
        )

    def passed(source: Any, field: str, dtype: Any) -> Any:
        return np.asarray(source[field], dtype=dtype)[keep] if field in source.arrays else None

    meta = parents_info.meta
    selection, smeared = recorded_selection(meta.attributes)
    if "smearing_weight" in reco.arrays:
        smeared |= bool(np.any(np.asarray(reco["smearing_weight"]) != 1.0))
    if "copy_index" in reco.arrays:
        smeared |= bool(np.any(np.asarray(reco["copy_index"]) > 0))
    parents = passed(reco, "parent", np.int64)
    coefficients = None
    if parents_info.coefficients is not None and parents is not None:
        coefficients = parents_info.coefficients[parents]
    return RecoEntries(
        path=path,
        columns=names,
        x=np.asarray(x, dtype=np.float64)[keep],
        weights=weights,
        parents=parents,
        smearing_weights=passed(reco, "smearing_weight", np.float64),
        copy_index=passed(reco, "copy_index", np.int64),
        coefficients=coefficients,
        momentum=passed(tokens, "momentum", np.float64),
        pdg_id=passed(tokens, "pdg_id", np.int32),
        n_entries=len(keep),
        n_parents=parents_info.n_parents,
        parent_weight_sum=parents_info.weight_sum,
        sigma_gen=parents_info.sigma_gen,
        parameters=tuple(meta.space.names),
        theta0=np.asarray(meta.space.theta0_array, dtype=np.float64),
        theta_gen=np.asarray(meta.theta_gen_array, dtype=np.float64),
        process=str(meta.process),
        selection=selection,
        smeared=smeared,
    )
