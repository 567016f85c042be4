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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from madsbi.events.store import EventStore

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
        If the file is missing or not a readable event store.
    """
    checked: list[str] = []
    unchecked: list[str] = []
    n_bytes = 0
    with EventStore(path) as store:
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
