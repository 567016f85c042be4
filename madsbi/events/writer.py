"""Atomic, chunked writing of event stores.

A :class:`StoreWriter` writes into a hidden temporary file beside the target and publishes it
only when everything succeeded (:mod:`madsbi.events.tempfiles`: without ``overwrite`` by an
exclusive hard link, so a store that another process wrote meanwhile is never replaced); on
any error, and on SIGTERM or SIGINT, the temporary file is removed, so a half-written store
never appears under the target name. Temporaries left by killed processes are removed by the
next writer into the same directory.

A full disk (or a file-size limit) is an ordinary event: every HDF5 call that writes is
checked and a failure raises :class:`~madsbi.errors.OutputError` naming the store and the
errno, with the temporary removed. Three HDF5 behaviours make this need care (they made
``store merge`` and friends die with SIGSEGV and leave the temporary):

* a dataset handle that is closed flushes its chunk cache, and when that happens in an h5py
  ``__del__`` the write error is printed and dropped and the write goes on. The writer keeps
  one handle per dataset open, so the caches are written inside calls that raise, and
  flushes every 64 MB;
* a failure inside H5Fflush can leave the metadata cache half flushed ("slist already
  enabled"), and such a file can never be closed. The chunks, the bulk of the bytes, are
  therefore flushed dataset by dataset (H5Dflush) first, which fails without that damage;
* closing a file whose writes failed writes its caches again and fails, leaving the file half
  closed; HDF5 crashes when it retries at exit. The writer points the file's descriptor at
  ``/dev/null`` before it closes a temporary it discards, so those writes succeed and go
  nowhere.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import numpy as np

import madsbi
from madsbi._validate import check_shape
from madsbi.errors import (
    DtypeError,
    InputError,
    MadSBIError,
    ShapeError,
    StoreExistsError,
)
from madsbi.events import schema
from madsbi.events.digest import write_digests
from madsbi.events.meta import ShardInfo, StoreMeta, write_meta
from madsbi.events.tempfiles import (
    TerminationGuard,
    publish,
    remove_stale_temporaries,
    temporary_path,
    write_error,
)

# Target size of one HDF5 chunk.
_CHUNK_BYTES = 1 << 20
# The file is flushed after this many bytes of appended events, so a failed write raises in
# a call by then at the latest (a flush after every append rewrites partly filled chunks each
# time: 6x slower for appends of 100 events).
_FLUSH_BYTES = 64 << 20

_T = TypeVar("_T")


def _import_h5py() -> Any:
    import h5py

    return h5py


def _scale_rows(ds: Any, start: int, stop: int, factor: float) -> None:
    ds[start:stop] = ds[start:stop] * factor


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
        except OSError as exc:
            self._tmp.unlink(missing_ok=True)
            self._guard.stop()
            raise write_error(self.path, exc) from None
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            self._guard.stop()
            raise
        self._held = False
        self._discarded = False
        # One open handle per dataset: see the module docstring.
        self._datasets: dict[tuple[str, str], Any] = {}
        self._unflushed = 0
        self._lengths: dict[str, int] = {}
        self._fields: dict[str, tuple[str, ...]] = {}
        self._coefficient_sums: list[np.ndarray[Any, Any]] = []
        self._done = False

    # -- context manager ------------------------------------------------------------------
    def __enter__(self) -> StoreWriter:
        # Signals inside the block wait for the next chunk boundary (TerminationGuard).
        self._guard.hold()
        self._held = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._held:
            self._held = False
            self._guard.release()
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _io(self, action: Callable[[], _T]) -> _T:
        """Run HDF5 writes: a signal waits until they are done; a failed write aborts.

        Raises
        ------
        OutputError
            If HDF5 fails to write (full disk, file-size limit, I/O error); the temporary
            is removed first.
        Terminated, Interrupted
            If SIGTERM or SIGINT came before or during the writes.
        """
        if self._done:
            raise InputError(f"{self.path}: the writer is closed or was aborted")
        self._guard.check()
        self._guard.hold()
        try:
            result = action()
        except MadSBIError:
            raise
        except (OSError, RuntimeError) as exc:
            error = write_error(self.path, exc)
            self.abort()
            raise error from None
        finally:
            self._guard.release()
        self._guard.check()
        return result

    def _dataset(self, group: str, name: str) -> Any:
        return self._datasets[(group, name)]

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
            self._io(lambda: self._create(group, arrays, names or {}))
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

        def write() -> None:
            for name, (value, grow) in prepared.items():
                self._store(group, name, specs[name], value, grow, start)
            self._unflushed += sum(value.nbytes for value, _ in prepared.values())
            if self._unflushed >= _FLUSH_BYTES:
                self._unflushed = 0
                self._flush()

        self._io(write)
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
            self._datasets[(group, name)] = ds
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
        want = list(self._dataset(group, name).shape[1:])
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
        ds = self._dataset(group, name)
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
        for name in fields:
            if (group, name) not in self._datasets:
                continue
            ds = self._dataset(group, name)
            step = ds.chunks[0] if ds.chunks else 65536
            for start in range(0, ds.shape[0], step):
                self._io(functools.partial(_scale_rows, ds, start, start + step, factor))
            self._io(self._file.flush)
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
            self._io(lambda: self._finish(meta))
            publish(self._tmp, self.path, overwrite=self._overwrite)
            self.meta = meta
            self._done = True
            self._guard.stop()
        except BaseException:
            self.abort()
            raise
        return self.path

    def _finish(self, meta: StoreMeta) -> None:
        """Write the root attributes and /meta, flush and close the file."""
        self._flush()  # the chunks are final: their digests are read back
        self._file.attrs["format"] = schema.FORMAT_NAME
        self._file.attrs["format_version"] = schema.FORMAT_VERSION
        self._file.attrs["madsbi_version"] = madsbi.__version__
        write_meta(self._file.create_group(schema.META), meta)
        write_digests(self._file, self._datasets)
        # Flush while the file is fully open: a failure here can still be discarded safely.
        self._file.flush()
        self._datasets.clear()
        self._file.close()

    def _flush(self) -> None:
        """Write the cached event data, dataset by dataset, then the file's metadata.

        A write that fails inside H5Fflush can leave HDF5's metadata cache half flushed, and
        such a file can no longer be closed; the bulk of the bytes (the chunks) therefore go
        out through H5Dflush first, where a full disk is met without that damage.
        """
        for ds in self._datasets.values():
            ds.id.flush()
        self._file.flush()

    def abort(self) -> None:
        """Discard everything written; the target path is left untouched."""
        self._done = True
        try:
            self._tmp.unlink(missing_ok=True)
            if not self._discarded:
                self._discarded = True
                self._discard_file()
        finally:
            self._guard.stop()

    def _discard_file(self) -> None:
        """Close the HDF5 file without letting it write into the discarded temporary.

        HDF5 writes its caches on closing; after a failed write that fails again and HDF5
        crashes (module docstring). Pointing the descriptor at /dev/null first makes every
        such write succeed and go nowhere.
        """
        file = self._file
        if file.id.valid:
            try:
                handle = file.id.get_vfd_handle()
                null = os.open(os.devnull, os.O_RDWR)
                try:
                    os.dup2(null, int(handle))
                finally:
                    os.close(null)
            except (OSError, RuntimeError, TypeError, ValueError):
                pass  # another file driver: close it as it is
        self._datasets.clear()
        with contextlib.suppress(OSError, RuntimeError):
            file.close()  # the temporary is already unlinked
