"""The ``/meta`` group: what a store's events mean (parameters, θ0, basis, cards, shards)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, as_float_array
from madsbi.cards import parse_run_card
from madsbi.errors import InputError, StoreFormatError
from madsbi.events import schema
from madsbi.theory.morphing import MorphingBasis
from madsbi.theory.parameters import Parameter, ParameterSpace

AttributeValue = str | int | float | bool


@dataclass(frozen=True)
class ShardInfo:
    """Provenance of one shard: id, number of events, random seed (-1: none), source, report.

    ``report`` is a JSON text (e.g. the held-out checks of an LHE conversion).
    """

    shard_id: str
    n_events: int
    seed: int = -1
    source: str = ""
    report: str = "{}"


@dataclass(frozen=True, eq=False)
class StoreMeta:
    """Metadata of an event store.

    Attributes
    ----------
    space : ParameterSpace
        Parameters of interest and θ0.
    basis_ids : tuple of str
        Names of the K basis points (e.g. LHE weight ids).
    basis_points : ndarray, shape (K, n)
        Basis points θ_b.
    process : str
        Process description (MadGraph ``generate`` lines, or the toy's name).
    mg5_version, sample_id : str
        Provenance; empty when not applicable.
    cards : mapping of str to str
        Card texts by name (``proc_card``, ``run_card``, ``param_card``, ...).
    attributes : mapping
        Further scalar facts (e.g. the toy's ``alpha``).
    shards : tuple of ShardInfo
        One entry per merged shard.
    basis_cross_sections : ndarray, shape (K,), or None
        σ(θ_b) in pb; derived from the events by the writer (``None`` before writing).
    theta_gen : tuple of float, or None
        The point the events were generated at (their ``/parton/weight``); ``None`` means
        θ0 (and is stored as θ0). θ0 is the reference point of the coefficients.
    """

    space: ParameterSpace
    basis_ids: tuple[str, ...]
    basis_points: FloatArray
    process: str
    mg5_version: str = ""
    sample_id: str = ""
    cards: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    shards: tuple[ShardInfo, ...] = ()
    basis_cross_sections: FloatArray | None = None
    theta_gen: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        n, k = self.space.n_parameters, self.space.n_coefficients
        gen = self.space.theta0 if self.theta_gen is None else self.theta_gen
        gen_arr = as_float_array(gen, "theta_gen", (n,))
        if not np.all(np.isfinite(gen_arr)):
            raise InputError(f"theta_gen: values must be finite, got {gen_arr.tolist()}")
        object.__setattr__(self, "theta_gen", tuple(float(v) for v in gen_arr))
        points = as_float_array(self.basis_points, "basis_points", (k, n))
        object.__setattr__(self, "basis_points", points)
        object.__setattr__(self, "basis_ids", tuple(self.basis_ids))
        if len(self.basis_ids) != k:
            raise InputError(f"basis_ids: expected {k} ids, got {len(self.basis_ids)}")
        if self.basis_cross_sections is not None:
            sig = as_float_array(self.basis_cross_sections, "basis_cross_sections", (k,))
            object.__setattr__(self, "basis_cross_sections", sig)

    @functools.cached_property
    def basis(self) -> MorphingBasis:
        """The morphing basis (W and W⁻¹) of the stored points."""
        return MorphingBasis.from_points(self.basis_points, self.space.theta0_array)

    @property
    def n_coefficients(self) -> int:
        """K."""
        return self.space.n_coefficients

    @property
    def theta_gen_array(self) -> FloatArray:
        """θ_gen as a float64 array of shape (n,)."""
        return np.asarray(self.theta_gen, dtype=np.float64)

    def recentred(self, theta0: Any) -> StoreMeta:
        """A copy with reference point ``theta0`` (θ_gen and the basis points kept).

        σ(θ_b) is dropped: the writer recomputes it from the re-expanded coefficients.
        """
        values = as_float_array(theta0, "theta0", (self.space.n_parameters,))
        space = ParameterSpace(self.space.parameters, tuple(float(v) for v in values))
        return replace(self, space=space, basis_cross_sections=None)

    def with_shards(self, shards: tuple[ShardInfo, ...]) -> StoreMeta:
        """A copy with other shard records."""
        return replace(self, shards=shards)

    def identity(self) -> dict[str, Any]:
        """The fields of :data:`schema.IDENTITY_FIELDS`, as comparable Python values."""
        params = self.space.parameters
        cards = dict(self.cards)
        if "run_card" in cards:
            settings = parse_run_card(cards["run_card"])
            cards["run_card"] = json.dumps(
                {k: v for k, v in settings.items() if k not in schema.PER_JOB_RUN_CARD_KEYS},
                sort_keys=True,
            )
        return {
            "process": self.process,
            "mg5_version": self.mg5_version,
            "sample_id": self.sample_id,
            "attributes": json.dumps(dict(self.attributes), sort_keys=True),
            "parameter_names": [p.name for p in params],
            "parameter_blocks": [p.block or "" for p in params],
            "parameter_codes": [p.code if p.code is not None else -1 for p in params],
            "parameter_ranges": [list(p.range) if p.range else None for p in params],
            "theta0": list(self.space.theta0),
            "theta_gen": list(self.theta_gen or ()),
            "basis_ids": list(self.basis_ids),
            "basis_points": self.basis_points.tolist(),
            "cards": cards,
        }


def first_difference(a: StoreMeta, b: StoreMeta) -> str | None:
    """Path of the first identity field that differs between two stores, else ``None``."""
    ia, ib = a.identity(), b.identity()
    for name in schema.IDENTITY_FIELDS:
        if name == "cards":
            for card in sorted(set(ia["cards"]) | set(ib["cards"])):
                if ia["cards"].get(card) != ib["cards"].get(card):
                    return f"/meta/cards/{card}"
        elif ia[name] != ib[name]:
            return f"/meta/{name}"
    return None


def _strings(values: list[str]) -> np.ndarray[Any, Any]:
    import h5py

    return np.array(values, dtype=h5py.string_dtype())


def write_meta(group: Any, meta: StoreMeta) -> None:
    """Write ``meta`` into the (empty) h5py group ``/meta``."""
    params = meta.space.parameters
    group.attrs["process"] = meta.process
    group.attrs["mg5_version"] = meta.mg5_version
    group.attrs["sample_id"] = meta.sample_id
    group.attrs["attributes"] = json.dumps(dict(meta.attributes), sort_keys=True)
    group["parameter_names"] = _strings([p.name for p in params])
    group["parameter_blocks"] = _strings([p.block or "" for p in params])
    group["parameter_codes"] = np.array(
        [p.code if p.code is not None else -1 for p in params], dtype=np.int64
    )
    group["parameter_ranges"] = np.array(
        [p.range if p.range else (np.nan, np.nan) for p in params], dtype=np.float64
    ).reshape(-1, 2)
    group["theta0"] = meta.space.theta0_array
    group["theta_gen"] = meta.theta_gen_array
    group["basis_ids"] = _strings(list(meta.basis_ids))
    group["basis_points"] = meta.basis_points
    group["morphing_matrix"] = meta.basis.matrix
    if meta.basis_cross_sections is not None:
        group["basis_cross_sections"] = meta.basis_cross_sections
    cards = group.create_group("cards")
    for name, text in meta.cards.items():
        cards[name] = text
    shards = group.create_group("shards")
    shards["shard_id"] = _strings([s.shard_id for s in meta.shards])
    shards["n_events"] = np.array([s.n_events for s in meta.shards], dtype=np.int64)
    shards["seed"] = np.array([s.seed for s in meta.shards], dtype=np.int64)
    shards["source"] = _strings([s.source for s in meta.shards])
    shards["report"] = _strings([s.report for s in meta.shards])


def _text_list(group: Any, name: str) -> list[str]:
    return [str(v) for v in group[name].asstr()[()]]


def read_meta(group: Any, where: str) -> StoreMeta:
    """Read ``/meta``; ``where`` names the file in error messages.

    Raises
    ------
    StoreFormatError
        If a required field is missing or malformed.
    """
    try:
        names = _text_list(group, "parameter_names")
        blocks = _text_list(group, "parameter_blocks")
        codes = [int(c) for c in group["parameter_codes"][()]]
        ranges = np.asarray(group["parameter_ranges"][()], dtype=np.float64).reshape(-1, 2)
        params = tuple(
            Parameter(
                name,
                blocks[i] or None,
                codes[i] if codes[i] >= 0 else None,
                None if np.isnan(ranges[i]).any() else (float(ranges[i, 0]), float(ranges[i, 1])),
            )
            for i, name in enumerate(names)
        )
        space = ParameterSpace(params, tuple(float(v) for v in group["theta0"][()]))
        cards = {name: str(group["cards"][name].asstr()[()]) for name in group["cards"]}
        sh = group["shards"]
        shards = tuple(
            ShardInfo(sid, int(n), int(seed), src, rep)
            for sid, n, seed, src, rep in zip(
                _text_list(sh, "shard_id"),
                sh["n_events"][()],
                sh["seed"][()],
                _text_list(sh, "source"),
                _text_list(sh, "report"),
                strict=True,
            )
        )
        sigma = group["basis_cross_sections"][()] if "basis_cross_sections" in group else None
        # Format version 1 has no θ_gen: its events were generated at θ0.
        theta_gen = (
            tuple(float(v) for v in group["theta_gen"][()]) if "theta_gen" in group else None
        )
        return StoreMeta(
            space=space,
            basis_ids=tuple(_text_list(group, "basis_ids")),
            basis_points=np.asarray(group["basis_points"][()], dtype=np.float64).reshape(
                space.n_coefficients, space.n_parameters
            ),
            process=str(group.attrs["process"]),
            mg5_version=str(group.attrs["mg5_version"]),
            sample_id=str(group.attrs["sample_id"]),
            cards=cards,
            attributes=json.loads(str(group.attrs["attributes"])),
            shards=shards,
            basis_cross_sections=sigma,
            theta_gen=theta_gen,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise StoreFormatError(f"{where}: /meta is incomplete or malformed ({exc})") from None
