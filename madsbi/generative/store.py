"""Writing BINN events into an event store: ``/generated`` with σ_pred/p per event (eq. 2).

A store always carries ``/parton``; here it holds the events the network was trained on
(copied from the source store, or the toy sample as ``features``), so ``/generated`` sits
next to the sample it reproduces.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from madsbi._validate import FloatArray
from madsbi.events import schema
from madsbi.events.meta import ShardInfo, StoreMeta
from madsbi.events.store import EventStore
from madsbi.events.writer import StoreWriter
from madsbi.generative.densities import GeneratedEvents
from madsbi.theory.parameters import ParameterSpace

CHUNK = 100_000


def toy_meta(name: str, n_train: int, seed: int) -> StoreMeta:
    """Metadata of a BINN toy store: no parameters, one nominal basis point."""
    return StoreMeta(
        space=ParameterSpace(parameters=()),
        basis_ids=("nominal",),
        basis_points=np.zeros((1, 0)),
        process=f"toy: BINN {name} (bellagente2022 Sec. 3)",
        attributes={"model": f"binn_{name}", "n_train": n_train, "seed": seed},
        shards=(ShardInfo(shard_id=f"binn_{name}", n_events=n_train, seed=seed),),
    )


def write_generated_store(
    path: str | Path,
    meta: StoreMeta,
    events: GeneratedEvents,
    names: Sequence[str],
    *,
    training: FloatArray | None = None,
    source: EventStore | None = None,
    weight: float = 1.0,
    overwrite: bool = False,
) -> Path:
    """Write ``events`` under ``/generated`` (x, weight, sigma_over_p) and the training sample.

    Parameters
    ----------
    path : str or Path
        Output store (written atomically).
    meta : StoreMeta
        Metadata (of the source store, or :func:`toy_meta`).
    events : GeneratedEvents
        Generated events with p and σ_pred.
    names : sequence of str
        Column names of the generated coordinates.
    training : ndarray, shape (N, d), optional
        Toy training events, written as ``/parton/features`` with unit weights.
    source : EventStore, optional
        Copy its ``/parton`` group (all fields, chunk by chunk) instead.
    weight : float
        Weight of every generated event (the cross-section in pb for a MadGraph sample,
        so that the mean weight is σ as in ``/parton``).
    overwrite : bool
        Replace an existing file.
    """
    with StoreWriter(path, meta, overwrite=overwrite) as writer:
        if source is not None:
            named = {
                field: source.column_names(schema.PARTON, field)
                for field in source.fields(schema.PARTON)
                if (schema.PARTON, field) in schema.NAMED_FIELDS
            }
            for chunk in source.iter_chunks(schema.PARTON, chunk_size=CHUNK):
                writer.append(schema.PARTON, chunk.arrays, names=named)
        elif training is not None:
            n = training.shape[0]
            for start in range(0, n, CHUNK):
                part = training[start : start + CHUNK]
                ones = np.ones(part.shape[0])
                writer.append(
                    schema.PARTON,
                    {"weight": ones, "coefficients": ones[:, None], "features": part},
                    names={"features": list(names)},
                )
        n_gen = events.x.shape[0]
        for start in range(0, n_gen, CHUNK):
            stop = min(n_gen, start + CHUNK)
            writer.append(
                schema.GENERATED,
                {
                    "x": events.x[start:stop],
                    "weight": np.full(stop - start, weight),
                    "sigma_over_p": events.sigma_over_p[start:stop],
                },
                names={"x": list(names)},
            )
    return Path(path)
