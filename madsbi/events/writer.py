"""Atomic, chunked writing of event stores.

A :class:`StoreWriter` writes into a hidden temporary file beside the target and publishes it
only when everything succeeded (:mod:`madsbi.events.tempfiles`: without ``overwrite`` by an
exclusive hard link, so a store that another process wrote meanwhile is never replaced); on
any error, and on SIGTERM, the temporary file is removed, so a half-written store never
appears under the target name. Temporaries left by killed processes are removed by the next
writer into the same directory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

import madsbi
from madsbi._validate import check_shape
from madsbi.errors import DtypeError, InputError, ShapeError, StoreExistsError
from madsbi.events import schema
from madsbi.events.meta import ShardInfo, StoreMeta, write_meta
from madsbi.events.tempfiles import (
    TerminationGuard,
    publish,
    remove_stale_temporaries,
    temporary_path,
)

# Target size of one HDF5 chunk.
_CHUNK_BYTES = 1 << 20


def _import_h5py() -> Any:
    import h5py

    return h5py


class StoreWriter:
    """Write an event store chunk by chunk; use as a context manager.

    Parameters
    ----------
    path : str or Path
        Target file.
    meta : StoreMeta
        Metadata; ``basis_cross_sections`` is computed from ``/parton/coefficients``.
    overwrite : bool
        Replace an existing file (only once the new one is complete).
    compression : {"lzf", "gzip", None}
        HDF5 filter of the event datasets (default: :data:`schema.DEFAULT_COMPRESSION`).

    Raises
    ------
    StoreExistsError
        If ``path`` exists and ``overwrite`` is false (checked here and again, atomically,
        when :meth:`close` publishes the store).
    """

    def __init__(
        self,
        path: str | Path,
        meta: StoreMeta,
        *,
        overwrite: bool = False,
        compression: str | None = schema.DEFAULT_COMPRESSION,
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise StoreExistsError(
                f"{self.path} exists; pass overwrite=True (CLI: --overwrite) to replace it"
            )
        if compression not in schema.COMPRESSIONS:
            raise InputError(f"compression: expected 'lzf', 'gzip' or None, got {compression!r}")
        self.meta = meta
        self.compression = compression
        self._overwrite = overwrite
        self._tmp = temporary_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path.parent)
        h5py = _import_h5py()
        self._guard = TerminationGuard(str(self.path), self._tmp)
        self._guard.start()
        try:
            self._file = h5py.File(self._tmp, "w")
        except BaseException:
            self._guard.stop()
            raise
        self._lengths: dict[str, int] = {}
        self._fields: dict[str, tuple[str, ...]] = {}
        self._coefficient_sums: list[np.ndarray[Any, Any]] = []
        self._done = False

    # -- context manager ------------------------------------------------------------------
    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- appending ------------------------------------------------------------------------
    def n_events(self, group: str = schema.PARTON) -> int:
        """Events appended to ``group`` so far."""
        return self._lengths.get(group, 0)

    def append(
        self,
        group: str,
        arrays: Mapping[str, Any],
        *,
        names: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Append one chunk of events to ``group``.

        Parameters
        ----------
        group : {"parton", "reco", "generated"}
        arrays : mapping of field name to array
            All with the same number of events; the first append fixes the set of fields.
        names : mapping, optional
            Column names of named fields (``rwgt`` ids, ``features``/``x`` names), required
            on the first append of such a field.

        Raises
        ------
        InputError, ShapeError, DtypeError
            For unknown groups or fields, inconsistent lengths, shapes or dtypes.
        """
        if group not in schema.FIELDS:
            raise InputError(f"group: expected one of {list(schema.FIELDS)}, got {group!r}")
        specs = schema.FIELDS[group]
        unknown = sorted(set(arrays) - set(specs))
        if unknown:
            raise InputError(f"/{group}: unknown fields {unknown}; known: {sorted(specs)}")
        lengths = {name: np.shape(a)[0] if np.ndim(a) else -1 for name, a in arrays.items()}
        if len(set(lengths.values())) != 1 or -1 in lengths.values():
            raise ShapeError(f"/{group}: all fields need the same number of events, got {lengths}")
        fields = tuple(sorted(arrays))
        if group not in self._fields:
            missing = sorted(n for n, s in specs.items() if s.required and n not in arrays)
            if missing:
                raise InputError(f"/{group}: required fields missing: {missing}")
            self._fields[group] = fields
            self._create(group, arrays, names or {})
        elif fields != self._fields[group]:
            raise InputError(
                f"/{group}: every append must give the same fields; first gave "
                f"{list(self._fields[group])}, now {list(fields)}"
            )
        n_new = next(iter(lengths.values()))
        start = self._lengths.get(group, 0)
        prepared = {
            name: self._prepare(group, name, specs[name], value, start, n_new)
            for name, value in arrays.items()
        }
        for name, (value, grow) in prepared.items():
            self._store(group, name, specs[name], value, grow, start)
        self._lengths[group] = start + n_new
        if group == schema.PARTON:
            coefficients = np.asarray(arrays["coefficients"], dtype=np.float64)
            self._coefficient_sums.append(coefficients.sum(axis=0))

    def _dims(
        self,
        group: str,
        name: str,
        spec: schema.FieldSpec,
        value: np.ndarray[Any, Any],
        names: Mapping[str, Sequence[str]],
    ) -> tuple[int, ...]:
        dims: list[int] = []
        for axis, symbol in enumerate(spec.inner, start=1):
            if isinstance(symbol, int):
                dims.append(symbol)
            elif symbol == "K":
                dims.append(self.meta.n_coefficients)
            elif symbol == "P":
                dims.append(value.shape[axis] if value.ndim > axis else 0)
            else:  # W or D: the number of names
                key = schema.NAMED_FIELDS[(group, name)]
                if name not in names:
                    raise InputError(f"/{group}/{name}: give its column {key} via names=")
                dims.append(len(names[name]))
        return tuple(dims)

    def _create(
        self, group: str, arrays: Mapping[str, Any], names: Mapping[str, Sequence[str]]
    ) -> None:
        h5py = _import_h5py()
        g = self._file.require_group(group)
        for name, raw in arrays.items():
            spec = schema.FIELDS[group][name]
            value = np.asarray(raw)
            inner = self._dims(group, name, spec, value, names)
            row_bytes = max(1, int(np.prod(inner, dtype=np.int64)) * np.dtype(spec.dtype).itemsize)
            rows = max(1, min(1 << 16, _CHUNK_BYTES // row_bytes))
            maxshape = (
                None,
                *(None if s == "P" else d for s, d in zip(spec.inner, inner, strict=True)),
            )
            chunks = (rows, *(max(1, d) for d in inner))
            ds = g.create_dataset(
                name,
                shape=(0, *inner),
                maxshape=maxshape,
                dtype=spec.dtype,
                chunks=chunks,
                compression=self.compression,
                # A checksum per chunk: h5py refuses to read a chunk whose bytes changed.
                fletcher32=True,
            )
            if spec.unit:
                ds.attrs["unit"] = spec.unit
            ds.attrs["doc"] = spec.doc
            key = schema.NAMED_FIELDS.get((group, name))
            if key is not None:
                ds.attrs[key] = np.array(list(names[name]), dtype=h5py.string_dtype())

    def _prepare(
        self, group: str, name: str, spec: schema.FieldSpec, raw: Any, start: int, n_new: int
    ) -> tuple[np.ndarray[Any, Any], int | None]:
        """Validate one field of a chunk and pad its particle axis to the dataset's.

        Returns the array to write and the particle count the dataset must grow to (or None).
        Nothing is written, so a failing chunk leaves the store as it was.
        """
        value = np.asarray(raw)
        target = np.dtype(spec.dtype)
        if not np.can_cast(value.dtype, target, casting="same_kind"):
            raise DtypeError(f"/{group}/{name}: expected dtype {target}, got {value.dtype}")
        if target.kind in "iu" and value.size and not np.can_cast(value.dtype, target):
            info = np.iinfo(target)
            low, high = value.min(), value.max()
            if low < info.min or high > info.max:
                raise InputError(
                    f"/{group}/{name}: values in [{low}, {high}] do not fit {target} "
                    f"([{info.min}, {info.max}])"
                )
        want = list(self._file[group][name].shape[1:])
        grow = None
        if "P" in spec.inner:
            p_axis = spec.inner.index("P") + 1
            p_new = value.shape[p_axis] if value.ndim > p_axis else -1
            if p_new > want[p_axis - 1]:
                grow = want[p_axis - 1] = p_new
            elif 0 <= p_new < want[p_axis - 1]:
                pad = [(0, 0)] * value.ndim
                pad[p_axis] = (0, want[p_axis - 1] - p_new)
                value = np.pad(value, pad)
        check_shape(value, f"/{group}/{name}", (n_new, *want))
        if target.kind == "f" and not np.all(np.isfinite(value)):
            bad = int(np.argwhere(~np.isfinite(value))[0][0])
            raise InputError(f"/{group}/{name}: non-finite value at event {start + bad}")
        return value.astype(target, copy=False), grow

    def _store(
        self,
        group: str,
        name: str,
        spec: schema.FieldSpec,
        value: np.ndarray[Any, Any],
        grow: int | None,
        start: int,
    ) -> None:
        ds = self._file[group][name]
        if grow is not None:
            ds.resize(grow, axis=spec.inner.index("P") + 1)
        ds.resize(start + value.shape[0], axis=0)
        ds[start : start + value.shape[0]] = value

    def set_shards(self, shards: tuple[ShardInfo, ...]) -> None:
        """Record the provenance of the events written (known only once they are)."""
        self.meta = self.meta.with_shards(shards)

    def rescale(self, group: str, fields: Sequence[str], factor: float) -> None:
        """Multiply the given datasets of ``group`` by ``factor`` in place, chunk by chunk.

        Used to bring ``event_norm = sum`` weights to the store's ``average`` convention.
        """
        g = self._file[group]
        for name in fields:
            if name not in g:
                continue
            ds = g[name]
            step = ds.chunks[0] if ds.chunks else 65536
            for start in range(0, ds.shape[0], step):
                ds[start : start + step] = ds[start : start + step] * factor
            if group == schema.PARTON and name == "coefficients":
                self._coefficient_sums = [s * factor for s in self._coefficient_sums]

    # -- finishing ------------------------------------------------------------------------
    def close(self) -> Path:
        """Finish the store (metadata, σ(θ_b)) and move it into place; returns the path.

        Raises
        ------
        InputError
            If no /parton events were written or groups disagree in length where they must.
        """
        if self._done:
            return self.path
        try:
            n = self._lengths.get(schema.PARTON, 0)
            if n == 0:
                raise InputError(f"{self.path}: no /parton events were written")
            mean = np.array([math.fsum(col) for col in np.array(self._coefficient_sums).T]) / n
            sigma = self.meta.basis.matrix @ mean
            meta = replace(self.meta, basis_cross_sections=sigma)
            self._file.attrs["format"] = schema.FORMAT_NAME
            self._file.attrs["format_version"] = schema.FORMAT_VERSION
            self._file.attrs["madsbi_version"] = madsbi.__version__
            write_meta(self._file.create_group(schema.META), meta)
            self._file.close()
            publish(self._tmp, self.path, overwrite=self._overwrite)
            self.meta = meta
            self._done = True
            self._guard.stop()
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Discard everything written; the target path is left untouched."""
        self._done = True
        try:
            self._file.close()
        finally:
            self._tmp.unlink(missing_ok=True)
            self._guard.stop()
