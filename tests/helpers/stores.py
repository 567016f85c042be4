"""Small synthetic event stores for the store, merge and CLI tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from madsbi.events.meta import ShardInfo, StoreMeta
from madsbi.events.writer import StoreWriter
from madsbi.theory.parameters import ParameterSpace

#: Offsets of the six basis points of a quadratic in two parameters, around θ0.
BASIS_OFFSETS = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [1, 1]], dtype=float)


def make_meta(
    theta0: tuple[float, float] = (0.2, -0.1),
    *,
    offsets: Any = BASIS_OFFSETS,
    process: str = "test: two parameters",
    cards: Mapping[str, str] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> StoreMeta:
    """Metadata of a two-parameter store (K = 6)."""
    space = ParameterSpace.from_names(["a", "b"], theta0=list(theta0), ranges=[(-2, 2), (-3, 3)])
    return StoreMeta(
        space=space,
        basis_ids=tuple(f"b{i}" for i in range(6)),
        basis_points=np.asarray(theta0) + np.asarray(offsets, dtype=float),
        process=process,
        cards=dict(cards or {}),
        attributes=dict(attributes or {"kind": "synthetic"}),
    )


def random_parton(rng: np.random.Generator, n: int, n_particles: int = 3) -> dict[str, Any]:
    """Random /parton arrays for ``n`` events (positive weights, K = 6)."""
    coefficients = rng.normal(0.0, 0.3, size=(n, 6))
    coefficients[:, 0] = rng.uniform(1.0, 2.0, n)
    return {
        "weight": coefficients[:, 0].copy(),
        "coefficients": coefficients,
        "rwgt": rng.uniform(0.5, 3.0, size=(n, 2)),
        "pdg_id": rng.integers(-16, 17, size=(n, n_particles)).astype(np.int32),
        "momentum": rng.normal(0.0, 50.0, size=(n, n_particles, 4)),
    }


def write_store(
    path: Path,
    meta: StoreMeta,
    chunks: list[dict[str, Any]],
    *,
    shard: ShardInfo | None = None,
    **kwargs: Any,
) -> Path:
    """Write /parton chunks (with ``rwgt`` ids w0, w1) into a store."""
    with StoreWriter(path, meta, **kwargs) as writer:
        for chunk in chunks:
            writer.append("parton", chunk, names={"rwgt": ["w0", "w1"]})
        if shard is not None:
            writer.set_shards((shard,))
    return path


def copy_parton_store(source: Path, out: Path, *, process: str | None = None) -> Path:
    """Copy a parton store, with ``/meta/process`` replaced by ``process`` when given."""
    from dataclasses import replace

    from madsbi.events import schema
    from madsbi.events.store import EventStore

    with EventStore(source) as store:
        meta = store.meta
        fields = list(store.fields(schema.PARTON))
        event = store.read(schema.PARTON, fields)
        names = {
            k: store.column_names(schema.PARTON, k)
            for k in fields
            if (schema.PARTON, k) in schema.NAMED_FIELDS
        }
    if process is not None:
        meta = replace(meta, process=process)
    with StoreWriter(out, meta) as writer:
        writer.append(schema.PARTON, dict(event.arrays), names=names)
    return out


def copy_without_process(source: Path, out: Path) -> Path:
    """Copy a parton store with an empty ``/meta/process`` (as real data have)."""
    return copy_parton_store(source, out, process="")
