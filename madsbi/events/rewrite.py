"""Copy a store with its per-event coefficients transformed (re-centring, embedding).

The one loop that streams every group of a store into a new one under new metadata, applying
a transform to ``/parton/coefficients`` chunk by chunk and keeping every other dataset, the
column names and the shard records as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from madsbi._progress import progress_bar
from madsbi._validate import FloatArray
from madsbi.events import schema
from madsbi.events.meta import StoreMeta
from madsbi.events.store import EventStore
from madsbi.events.writer import StoreWriter

CoefficientTransform = Callable[[FloatArray, int], FloatArray]
"""(coefficients of a chunk (n, K), the chunk's first row) → the new coefficients."""


def rewrite_coefficients(
    store: EventStore,
    output: Path,
    meta: StoreMeta,
    transform: CoefficientTransform,
    *,
    label: str,
    overwrite: bool,
    chunk_size: int,
    compression: str | None,
    progress: bool,
) -> Path:
    """Write ``store`` to ``output`` under ``meta`` with its coefficients transformed.

    Parameters
    ----------
    store : EventStore
        The open source store.
    output : Path
        Written atomically.
    meta : StoreMeta
        The new store's metadata.
    transform : callable
        See :data:`CoefficientTransform`.
    label : str
        The progress bar's description.
    overwrite, chunk_size, compression, progress
        As in :class:`~madsbi.events.writer.StoreWriter` and the callers.

    Returns
    -------
    Path
        The written store.
    """
    total = sum(store.n_events(g) for g in store.groups)
    with (
        StoreWriter(output, meta, overwrite=overwrite, compression=compression) as writer,
        progress_bar(total, label, unit="ev", enabled=progress) as bar,
    ):
        for group in store.groups:
            cols = store.named_columns(group)
            for chunk in store.iter_chunks(group, chunk_size=chunk_size):
                arrays = dict(chunk.arrays)
                if group == schema.PARTON:
                    old = np.asarray(arrays["coefficients"], dtype=np.float64)
                    arrays["coefficients"] = transform(old, chunk.start)
                writer.append(group, arrays, names=cols)
                bar.update(chunk.n_events)
        writer.set_shards(store.meta.shards)
    return writer.path
