"""Reading event stores: metadata, chunked streaming of event data, cross-sections."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import (
    InputError,
    MissingFileError,
    StoreCorruptError,
    StoreFormatError,
    StoreVersionError,
)
from madsbi.events import schema
from madsbi.events.digest import verify_chunks, verify_meta
from madsbi.events.meta import StoreMeta, read_meta


@dataclass(frozen=True)
class EventChunk:
    """Events ``start .. stop`` of one group, as arrays keyed by field name."""

    group: str
    start: int
    stop: int
    arrays: dict[str, np.ndarray[Any, Any]] = field(repr=False)

    def __getitem__(self, name: str) -> np.ndarray[Any, Any]:
        return self.arrays[name]

    @property
    def n_events(self) -> int:
        """Number of events in the chunk."""
        return self.stop - self.start


@dataclass(frozen=True)
class DatasetLayout:
    """How an event dataset is stored: events per HDF5 chunk, and whether chunks are checksummed."""

    rows_per_chunk: int
    checksummed: bool


class EventStore:
    """A read-only event store; use as a context manager.

    Parameters
    ----------
    path : str or Path
        The HDF5 file.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    StoreFormatError
        If it is not a madsbi event store.
    StoreVersionError
        If it was written in another format version.

    Notes
    -----
    Opening does not check the digests of ``/meta`` (:meth:`verify_meta`): stores whose
    metadata were edited in place with h5py (test inputs) stay readable. Commands that
    derive new stores or results from the metadata call it.
    """

    def __init__(self, path: str | Path) -> None:
        import h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise MissingFileError(f"event store not found: {self.path}")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise StoreFormatError(f"{self.path}: not a readable HDF5 file ({exc})") from None
        try:
            fmt = self._file.attrs.get("format")
            if fmt != schema.FORMAT_NAME:
                raise StoreFormatError(
                    f"{self.path}: not a madsbi event store (root attribute format={fmt!r})"
                )
            self.format_version = self._read_version()
            if schema.META not in self._file or schema.PARTON not in self._file:
                raise StoreFormatError(f"{self.path}: missing /meta or /parton")
            self.meta: StoreMeta = read_meta(self._file[schema.META], str(self.path))
        except BaseException:
            self._file.close()
            raise

    def _read_version(self) -> int:
        """The root attribute ``format_version``, checked to be a readable integer."""
        raw = self._file.attrs.get("format_version")
        where = f"{self.path}: root attribute format_version"
        if raw is None:
            raise StoreFormatError(f"{where} is missing")
        if isinstance(raw, bool | np.bool_) or not isinstance(raw, int | np.integer):
            raise StoreFormatError(
                f"{where}: expected an integer, got {type(raw).__name__} {raw!r}"
            )
        version = int(raw)
        if version not in schema.READABLE_VERSIONS:
            raise StoreVersionError(
                f"{self.path}: event-store format version {version}; this madsbi reads "
                f"versions {', '.join(map(str, schema.READABLE_VERSIONS))}"
            )
        return version

    def __enter__(self) -> EventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    # -- structure ------------------------------------------------------------------------
    @property
    def groups(self) -> tuple[str, ...]:
        """Event groups present, in :data:`schema.EVENT_GROUPS` order."""
        return tuple(g for g in schema.EVENT_GROUPS if g in self._file)

    def _group(self, group: str) -> Any:
        if group not in self.groups:
            raise InputError(f"{self.path}: no /{group} group; present: {list(self.groups)}")
        return self._file[group]

    def n_events(self, group: str = schema.PARTON) -> int:
        """Number of events in ``group``."""
        g = self._group(group)
        return int(next(iter(g.values())).shape[0]) if len(g) else 0

    def fields(self, group: str = schema.PARTON) -> tuple[str, ...]:
        """Dataset names of ``group``."""
        return tuple(sorted(self._group(group)))

    def field_info(self, group: str = schema.PARTON) -> dict[str, dict[str, Any]]:
        """Shape, dtype and unit of each dataset in ``group``."""
        g = self._group(group)
        return {
            name: {
                "shape": list(ds.shape),
                "dtype": str(ds.dtype),
                "unit": str(ds.attrs.get("unit", "")),
            }
            for name, ds in g.items()
        }

    def dataset_layout(self, group: str, name: str) -> DatasetLayout:
        """Chunking and checksum of ``/group/name`` (see :class:`DatasetLayout`)."""
        ds = self._group(group)[name]
        return DatasetLayout(int(ds.chunks[0]) if ds.chunks else 65536, bool(ds.fletcher32))

    def column_names(self, group: str, name: str) -> list[str]:
        """Column names of a named field (``rwgt`` ids, ``features``/``x`` names)."""
        key = schema.NAMED_FIELDS.get((group, name))
        if key is None:
            raise InputError(f"/{group}/{name} has no column names")
        return [str(v) for v in self._group(group)[name].attrs[key]]

    def named_columns(self, group: str) -> dict[str, list[str]]:
        """Column names of every named field that ``group`` holds (see :meth:`column_names`)."""
        return {
            name: self.column_names(group, name)
            for (g, name) in schema.NAMED_FIELDS
            if g == group and name in self.fields(group)
        }

    def verify_meta(self) -> bool:
        """Check ``/meta`` against its SHA-256 digests (:mod:`madsbi.events.digest`).

        Returns False for a store of an earlier madsbi without digests.

        Raises
        ------
        StoreCorruptError
            Naming the first ``/meta`` dataset (``/meta/x``) or attribute (``/meta@x``) that
            changed since the store was written.
        """
        return verify_meta(self._file, str(self.path))

    def verify_digests(self) -> bool:
        """Check ``/meta`` and every stored chunk against their digests (:mod:`.digest`).

        Returns False for a store of an earlier madsbi without digests.

        Raises
        ------
        StoreCorruptError
            Naming the first ``/meta`` item or event dataset that does not match.
        """
        fields = [(group, name) for group in self.groups for name in self.fields(group)]
        has_meta = self.verify_meta()
        return verify_chunks(self._file, str(self.path), fields) and has_meta

    # -- reading --------------------------------------------------------------------------
    def read(
        self,
        group: str = schema.PARTON,
        fields: Sequence[str] | None = None,
        start: int = 0,
        stop: int | None = None,
    ) -> EventChunk:
        """Events ``start .. stop`` of ``fields`` (default: all) of ``group``."""
        g = self._group(group)
        n = self.n_events(group)
        stop = n if stop is None else stop
        if not 0 <= start <= stop <= n:
            raise InputError(f"start/stop: expected 0 <= start <= stop <= {n}, got {start}, {stop}")
        names = list(fields) if fields is not None else sorted(g)
        unknown = [f for f in names if f not in g]
        if unknown:
            raise InputError(f"/{group}: no fields {unknown}; present: {sorted(g)}")
        return EventChunk(
            group, start, stop, {f: self.read_dataset(group, f, start, stop) for f in names}
        )

    def read_dataset(self, group: str, name: str, start: int, stop: int) -> np.ndarray[Any, Any]:
        """Rows ``start .. stop`` of ``/group/name``, with HDF5 read errors made typed.

        Raises
        ------
        StoreCorruptError
            If HDF5 cannot read the rows back: a chunk fails its fletcher32 checksum (its
            bytes changed after writing) or the file is damaged; names file and dataset.
        """
        try:
            values: np.ndarray[Any, Any] = self._file[group][name][start:stop]
        except OSError as exc:
            raise StoreCorruptError(
                f"{self.path}: dataset /{group}/{name} is corrupt: events {start}..{stop} "
                f"cannot be read back ({exc}); the file was damaged after it was written",
                str(self.path),
                f"/{group}/{name}",
            ) from None
        return values

    def iter_chunks(
        self,
        group: str = schema.PARTON,
        fields: Sequence[str] | None = None,
        chunk_size: int = 100_000,
    ) -> Iterator[EventChunk]:
        """Stream ``group`` in chunks of ``chunk_size`` events; never loads the whole file."""
        if chunk_size < 1:
            raise InputError(f"chunk_size: expected >= 1, got {chunk_size}")
        n = self.n_events(group)
        for start in range(0, n, chunk_size):
            yield self.read(group, fields, start, min(n, start + chunk_size))

    # -- physics --------------------------------------------------------------------------
    def cross_section(self, thetas: Any) -> FloatArray:
        """σ(θ) in pb from the basis cross-sections: σ(θ) = Σ_b a_b(θ) σ(θ_b).

        Parameters
        ----------
        thetas : array_like, shape (G, n) or (n,)

        Returns
        -------
        ndarray, shape (G,)
        """
        if self.meta.basis_cross_sections is None:
            raise StoreFormatError(f"{self.path}: /meta/basis_cross_sections is missing")
        _, sigma = self.meta.basis.weights(thetas, self.meta.basis_cross_sections, backend="core")
        if sigma is None:  # pragma: no cover - sigma is returned whenever sigma_basis is given
            raise StoreFormatError("cross-section evaluation failed")
        return sigma


def open_store(path: str | Path) -> EventStore:
    """Open an event store for reading (see :class:`EventStore`)."""
    return EventStore(path)
