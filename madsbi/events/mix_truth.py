"""The hidden labels of a mixed store: truth for validation only (:mod:`madsbi.events.mix`).

Per drawn event: its input's index, its ``/reco`` row and ``/parton`` parent there and the
parent's exact coefficients, in the group ``/truth/mix`` that no reader of event data opens;
``madsbi fit`` reads it only for its oracle methods (:mod:`madsbi.analysis.oracles`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, IntArray
from madsbi.errors import StoreFormatError
from madsbi.events import schema
from madsbi.events.meta import StoreMeta
from madsbi.events.reco import RecoEntries
from madsbi.events.store import EventStore

#: The HDF5 group of the hidden labels (module docstring).
TRUTH_GROUP = "truth/mix"
TRUTH_DESCRIPTION = (
    "truth for validation only: each event's source process, store row and exact parent "
    "coefficients; never read as data (madsbi fit reads it only for its oracle methods)"
)


@dataclass(frozen=True)
class MixTruth:
    """The hidden labels of a mixed store (module docstring), rows in ``/reco`` order."""

    process: IntArray
    row: IntArray
    parent: IntArray
    coefficients: FloatArray
    inputs: tuple[dict[str, Any], ...]


def theta_independent(meta: StoreMeta) -> bool:
    """Whether a store's weights are the same at every θ (no parameters, or said so)."""
    return meta.space.n_parameters == 0 or meta.attributes.get(schema.THETA_INDEPENDENT) is True


def _passed_rows(path: Path) -> IntArray:
    """The ``/reco`` rows of the entries that pass every cut (all rows without cut flags)."""
    with EventStore(path) as store:
        n = store.n_events(schema.RECO)
        if "cuts" not in store.fields(schema.RECO):
            return np.arange(n, dtype=np.int64)
        cuts = np.asarray(store.read(schema.RECO, ["cuts"])["cuts"], dtype=bool)
    return np.flatnonzero(cuts.all(axis=1)).astype(np.int64)


def truth_arrays(
    path: Path, entries: RecoEntries, index: IntArray, j: int
) -> dict[str, np.ndarray[Any, Any]]:
    """The hidden labels of the drawn entries ``index`` of input ``j`` (module docstring)."""
    n = index.shape[0]
    parents = entries.parents[index] if entries.parents is not None else np.full(n, -1)
    if entries.coefficients is not None:
        coefficients = np.asarray(entries.coefficients[index], dtype=np.float64)
    else:
        coefficients = np.zeros((n, 1))
    return {
        "truth_process": np.full(n, j, dtype=np.int32),
        "truth_row": _passed_rows(path)[index],
        "truth_parent": np.asarray(parents, dtype=np.int64),
        "truth_coefficients": coefficients,
    }


def input_record(
    path: Path,
    entries: RecoEntries | None,
    meta: StoreMeta | None,
    point: Mapping[str, float] | None,
    names: Sequence[str] | None,
    j: int,
) -> dict[str, Any]:
    """What the truth keeps of input ``j``: enough to recompute its exact ratios."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    record: dict[str, Any] = {
        "path": str(path.resolve()),
        "sha256": digest.hexdigest(),
        "name": None if names is None else str(names[j]),
    }
    if entries is None or meta is None:
        return record | {"drawn": False}
    independent = theta_independent(meta)
    gen = dict(zip(meta.space.names, entries.theta_gen.tolist(), strict=True))
    drawn = gen if point is None or independent else {n: point[n] for n in meta.space.names}
    return record | {
        "drawn": True,
        "process": entries.process,
        "parameters": list(meta.space.names),
        "theta0": meta.space.theta0_array.tolist(),
        "theta_gen": entries.theta_gen.tolist(),
        "theta_drawn": drawn,
        "theta_independent": bool(independent),
        "n_coefficients": 1 if entries.coefficients is None else entries.coefficients.shape[1],
    }


def write_truth(
    file: Any,
    truth: Mapping[str, np.ndarray[Any, Any]],
    records: Sequence[Mapping[str, Any]],
    compression: str | None,
) -> None:
    """Write the labels and the inputs' records into ``/truth/mix`` of an open HDF5 file."""
    group = file.require_group(TRUTH_GROUP)
    for name, values in truth.items():
        group.create_dataset(name, data=values, compression=compression)
    group.attrs["inputs"] = json.dumps(list(records))
    group.attrs["description"] = TRUTH_DESCRIPTION


def read_truth(path: str | Path) -> MixTruth | None:
    """The hidden labels of a mixed store (None for a store without ``/truth/mix``).

    For validation only (module docstring): the oracle methods of ``madsbi fit``.

    Raises
    ------
    StoreFormatError
        A ``/truth/mix`` group whose datasets are missing or of different lengths.
    """
    import h5py

    with h5py.File(path, "r") as f:
        if TRUTH_GROUP not in f:
            return None
        group = f[TRUTH_GROUP]
        fields = ("process", "row", "parent", "coefficients")
        missing = [k for k in fields if k not in group]
        if missing or "inputs" not in group.attrs:
            raise StoreFormatError(f"{path}: /{TRUTH_GROUP}: {missing or 'inputs'} missing")
        arrays = {k: group[k][()] for k in fields}
        inputs = tuple(json.loads(str(group.attrs["inputs"])))
    lengths = {k: v.shape[0] for k, v in arrays.items()}
    if len(set(lengths.values())) != 1 or arrays["coefficients"].ndim != 2:
        raise StoreFormatError(f"{path}: /{TRUTH_GROUP}: datasets of lengths {lengths}")
    return MixTruth(
        np.asarray(arrays["process"], dtype=np.int64),
        np.asarray(arrays["row"], dtype=np.int64),
        np.asarray(arrays["parent"], dtype=np.int64),
        np.asarray(arrays["coefficients"], dtype=np.float64),
        inputs,
    )
