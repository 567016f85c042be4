"""Integrity of event stores: read every event dataset back through its checksums.

Stores written since format version 1 with checksums carry HDF5's fletcher32 filter on every
event dataset (one checksum per chunk): reading a chunk whose bytes changed after writing
fails, and :meth:`EventStore.read_dataset` turns that failure into a
:class:`~madsbi.errors.StoreCorruptError` naming the file and the dataset. Fletcher32 alone
is not enough (it cannot tell 0x0000 from 0xFFFF and does not cover ``/meta``): newer stores
also carry a CRC-32 of every stored chunk and SHA-256 digests of ``/meta``
(:mod:`madsbi.events.digest`), which :func:`verify_store` checks too. Older stores have
no checksums; their data can be read but not verified, which :func:`verify_store` reports
instead of calling them OK.

Checksums only say that the bytes are those written. :func:`check_structure` checks first
that they are a store at all (:mod:`madsbi.events.schema`): every required dataset present,
dtypes and trailing axes as the schema says (K coefficients for the parameters, one column
per name), every dataset of a group with the same number of events, and no group or dataset
reached through an external link into another file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from madsbi.errors import StoreFormatError
from madsbi.events import schema
from madsbi.events.store import EventStore
from madsbi.theory.polynomial import n_coefficients

#: Status of a store whose every event dataset has checksums that all matched.
OK = "ok"
#: Status of a store with event datasets that carry no checksum (written before checksums).
NO_CHECKSUMS = "no checksums"


@dataclass(frozen=True)
class IntegrityReport:
    """What :func:`verify_store` read.

    Attributes
    ----------
    path : str
        The store.
    status : {"ok", "no checksums"}
        ``"ok"`` only if every event dataset has a checksum and all matched.
    checked : tuple of str
        Event datasets read back with their checksums verified.
    unchecked : tuple of str
        Event datasets without checksums (read back without error, but unverifiable).
    n_bytes : int
        Bytes of event data read.
    digests : bool
        Whether the CRC-32 digests of every stored chunk and the SHA-256 digests of
        ``/meta`` were checked too (stores of earlier madsbi versions have none).
    """

    path: str
    status: str
    checked: tuple[str, ...]
    unchecked: tuple[str, ...]
    n_bytes: int
    digests: bool = False

    @property
    def ok(self) -> bool:
        """True if every event dataset was verified by its checksum."""
        return self.status == OK

    def summary(self) -> str:
        """One line for the CLI."""
        if self.ok:
            line = (
                f"OK {self.path}: {len(self.checked)} event datasets, "
                f"{self.n_bytes / 1e6:.1f} MB, every chunk matched its fletcher32 checksum"
            )
            if self.digests:
                line += " and its CRC-32 digest, /meta its SHA-256 digests"
            return line
        return (
            f"UNVERIFIED {self.path}: no checksums on {len(self.unchecked)} event datasets "
            f"({', '.join(self.unchecked)}); they read back without error but cannot be "
            "verified (written by a madsbi without checksums; re-merge or re-convert to add them)"
        )


def verify_store(path: str | Path) -> IntegrityReport:
    """Read every event dataset of a store chunk by chunk, verifying its checksums.

    Parameters
    ----------
    path : str or Path
        The store.

    Returns
    -------
    IntegrityReport
        Status ``"ok"``, or ``"no checksums"`` for stores written without them.

    Raises
    ------
    StoreCorruptError
        At the first dataset whose data fail their checksum or digest or cannot be read;
        its ``dataset`` attribute names it (e.g. ``/parton/coefficients``, ``/meta/theta0``).
    MissingFileError, StoreFormatError, StoreVersionError
        If the file is missing or not a readable event store, or its structure is not that
        of the schema (:func:`check_structure`).
    """
    checked: list[str] = []
    unchecked: list[str] = []
    n_bytes = 0
    with EventStore(path) as store:
        check_structure(store)
        for group in store.groups:
            n = store.n_events(group)
            for name in store.fields(group):
                info = store.dataset_layout(group, name)
                step = max(1, info.rows_per_chunk)
                for start in range(0, n, step):
                    n_bytes += store.read_dataset(group, name, start, min(n, start + step)).nbytes
                (checked if info.checksummed else unchecked).append(f"/{group}/{name}")
        digests = store.verify_digests()
        status = NO_CHECKSUMS if unchecked else OK
        return IntegrityReport(
            str(store.path), status, tuple(checked), tuple(unchecked), n_bytes, digests
        )


#: Dtype kinds (numpy ``dtype.kind``) a field of the schema's dtype may have.
_KINDS = {"f": "f", "i": "iu", "u": "uib"}


def _fail(store: EventStore, where: str, message: str) -> StoreFormatError:
    return StoreFormatError(f"{store.path}: {where}: {message}; not a valid madsbi event store")


def _check_links(store: EventStore) -> None:
    """Refuse groups and datasets that are external links (they read another file)."""
    import h5py

    pending = [("", store._file)]
    while pending:
        prefix, group = pending.pop()
        for name in group:
            where = f"{prefix}/{name}"
            if isinstance(group.get(name, getlink=True), h5py.ExternalLink):
                raise _fail(store, where, "an external link to another file")
            node = group.get(name)
            # Depth 3 covers the schema (/meta/shards/x); deeper groups are not madsbi's,
            # and a bound keeps a cycle of hard links from looping.
            if isinstance(node, h5py.Group) and where.count("/") < 3:
                pending.append((where, node))


def _extents(store: EventStore, group: str, name: str, ds: Any) -> dict[str, int]:
    """The extent each symbol must have in ``/group/name``."""
    extents = {"K": n_coefficients(len(store.meta.space.parameters))}
    key = schema.NAMED_FIELDS.get((group, name))
    if key is not None:
        if key not in ds.attrs:
            raise _fail(store, f"/{group}/{name}", f"the column-name attribute {key!r} is missing")
        symbol = next(s for s in schema.FIELDS[group][name].inner if isinstance(s, str))
        extents[symbol] = len(ds.attrs[key])
    return extents


def check_structure(store: EventStore) -> None:
    """Check that an open store has the structure of :mod:`madsbi.events.schema`.

    Parameters
    ----------
    store : EventStore
        An open store (its root attributes and ``/meta`` were read when it was opened).

    Raises
    ------
    StoreFormatError
        Naming the store and the first dataset that breaks the schema: a required one
        missing, a wrong dtype (e.g. integer or string weights), a wrong number of axes or
        trailing extent (e.g. coefficients (N, K − 1) or 1-D), a group whose datasets differ
        in their number of events (weights one row short), or an external link.
    """
    _check_links(store)
    for group in store.groups:
        specs = schema.FIELDS.get(group, {})
        datasets = store._file[group]
        for name, required in specs.items():
            if required.required and name not in datasets:
                raise _fail(store, f"/{group}/{name}", "a required dataset is missing")
        rows: dict[str, int] = {}
        particles: dict[str, int] = {}
        for name in datasets:
            ds = datasets[name]
            where = f"/{group}/{name}"
            if not hasattr(ds, "shape") or not ds.shape:
                raise _fail(store, where, "expected a dataset with an event axis")
            rows[name] = int(ds.shape[0])
            spec = specs.get(name)
            if spec is None:
                continue  # a dataset of a later madsbi: read by nothing here
            if ds.dtype.kind not in _KINDS[spec.dtype[0]]:
                raise _fail(store, where, f"expected dtype {spec.dtype}, got {ds.dtype}")
            shape = ("N", *spec.inner)
            if len(ds.shape) != len(shape):
                raise _fail(store, where, f"expected shape {shape}, got {tuple(ds.shape)}")
            extents = _extents(store, group, name, ds)
            for symbol, got in zip(shape[1:], ds.shape[1:], strict=True):
                want = symbol if isinstance(symbol, int) else extents.get(symbol)
                if symbol == "P":
                    particles[name] = int(got)
                elif want is not None and got != want:
                    raise _fail(
                        store,
                        where,
                        f"expected shape {shape} with {symbol} = {want}, got {tuple(ds.shape)}",
                    )
        if len(set(rows.values())) > 1:
            raise _fail(store, f"/{group}", f"datasets of different lengths {rows}")
        if len(set(particles.values())) > 1:
            raise _fail(store, f"/{group}", f"particle axes P of different extents {particles}")
    if schema.RECO in store.groups:
        n_reco = store.n_events(schema.RECO)
        for group in schema.VARIATION_GROUPS:
            if group in store.groups and store.n_events(group) != n_reco:
                raise _fail(store, f"/{group}", f"{store.n_events(group)} rows, /reco has {n_reco}")


def check_store_structure(path: str | Path) -> None:
    """Open the store ``path`` and :func:`check_structure` it (reads no event data).

    Raises
    ------
    MissingFileError, StoreFormatError, StoreVersionError
        As :class:`~madsbi.events.store.EventStore` and :func:`check_structure`.
    """
    with EventStore(path) as store:
        check_structure(store)
