"""Merging of event-store shards (e.g. from the jobs of one MadGraph production)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from madsbi._paths import refuse_output_over_inputs
from madsbi._progress import progress_bar
from madsbi.errors import InputError, StoreMismatchError
from madsbi.events import schema
from madsbi.events.meta import ShardInfo, first_difference
from madsbi.events.store import EventStore
from madsbi.events.writer import StoreWriter


def _check_compatible(reference: EventStore, other: EventStore) -> None:
    def refuse(field: str, detail: str) -> StoreMismatchError:
        return StoreMismatchError(
            f"cannot merge {other.path} with {reference.path}: {field} differs ({detail})", field
        )

    diff = first_difference(reference.meta, other.meta)
    if diff is not None:
        raise refuse(diff, "the shards describe different samples")
    if reference.groups != other.groups:
        raise refuse("/", f"groups {list(reference.groups)} vs {list(other.groups)}")
    for group in reference.groups:
        if reference.fields(group) != other.fields(group):
            raise refuse(
                f"/{group}",
                f"fields {list(reference.fields(group))} vs {list(other.fields(group))}",
            )
        for g, name in schema.NAMED_FIELDS:
            if g == group and name in reference.fields(group):
                a, b = reference.column_names(g, name), other.column_names(g, name)
                if a != b:
                    raise refuse(f"/{g}/{name}", f"columns {a} vs {b}")


def merge_stores(
    out: str | Path,
    inputs: Sequence[str | Path],
    *,
    overwrite: bool = False,
    chunk_size: int = 100_000,
    compression: str | None = schema.DEFAULT_COMPRESSION,
    progress: bool = False,
) -> Path:
    """Concatenate stores with identical metadata into ``out``.

    Shard records are concatenated; σ(θ_b) is recomputed from all events; reco ``parent``
    indices are shifted to point at the merged ``/parton`` rows.

    Raises
    ------
    StoreMismatchError
        If any identity field of ``/meta`` (basis points, parameters, cards, ...) or the set
        of groups, fields or column names differs; ``.field`` names the first difference.
    InputError
        If there are no inputs, a shard is in two inputs, or ``out`` is one of the inputs
        (same path, symbolic or hard link), with or without ``overwrite``.
    StoreCorruptError
        If an input's data or ``/meta`` fail their checksums.
    """
    if not inputs:
        raise InputError("inputs: need at least one store to merge")
    refuse_output_over_inputs(out, inputs, what="merge")
    with contextlib.ExitStack() as stack:
        stores = [stack.enter_context(EventStore(p)) for p in inputs]
        for store in stores:  # damaged metadata must not be sealed into the merged store
            store.verify_meta()
        reference = stores[0]
        for other in stores[1:]:
            _check_compatible(reference, other)
        shards: list[ShardInfo] = []
        for store in stores:
            shards.extend(store.meta.shards or [ShardInfo(store.path.stem, store.n_events())])
        seen: dict[str, Path] = {}
        for shard, store in ((sh, st) for st in stores for sh in (st.meta.shards or ())):
            if shard.shard_id in seen:
                raise InputError(
                    f"shard {shard.shard_id!r} is in both {seen[shard.shard_id]} and {store.path}: "
                    "the same events would be merged twice"
                )
            seen[shard.shard_id] = store.path
        total = sum(s.n_events(g) for s in stores for g in s.groups)
        meta = reference.meta.with_shards(tuple(shards))
        with (
            StoreWriter(out, meta, overwrite=overwrite, compression=compression) as writer,
            progress_bar(total, "merging", unit="ev", enabled=progress) as bar,
        ):
            for group in reference.groups:
                names = reference.named_columns(group)
                parton_offset = 0
                for store in stores:
                    for chunk in store.iter_chunks(group, chunk_size=chunk_size):
                        arrays = dict(chunk.arrays)
                        if group != schema.PARTON and "parent" in arrays:
                            arrays["parent"] = arrays["parent"] + parton_offset
                        writer.append(group, arrays, names=names)
                        bar.update(chunk.n_events)
                    parton_offset += store.n_events(schema.PARTON)
        return writer.path
