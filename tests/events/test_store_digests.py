"""Digests of /meta and of every stored chunk (issue 29 #6).

Flipped bytes in ``/meta`` (σ(θ_b), the morphing matrix, θ0, an attribute) passed
``store verify`` and were used by ``fit``; and fletcher32 cannot tell 0x0000 from 0xFFFF, so
an 8-byte 0.0 turned into 0xFF…FF (a NaN) passed it too.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from madsbi.cli.main import cli
from madsbi.errors import StoreCorruptError
from madsbi.events.merge import merge_stores
from madsbi.events.meta import ShardInfo
from madsbi.events.recentre import recentre_store
from madsbi.events.store import EventStore
from madsbi.events.verify import OK, verify_store

from helpers.stores import make_meta, random_parton, write_store


def _store(path: Path, rng: np.random.Generator, **kwargs: object) -> Path:
    chunk = random_parton(rng, 50)
    chunk["coefficients"][5, 3] = 0.0
    return write_store(path, make_meta(), [chunk], shard=ShardInfo("s", 50), **kwargs)


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as raw:
        raw.seek(offset)
        old = raw.read(len(data))
        assert old != data
        raw.seek(offset)
        raw.write(data)


def _flip_meta_dataset(path: Path, name: str) -> None:
    """Invert the first byte of a /meta dataset's (contiguous) data."""
    with h5py.File(path, "r") as f:
        offset = f[f"meta/{name}"].id.get_offset()
    assert offset is not None
    with open(path, "rb") as raw:
        raw.seek(offset)
        first = raw.read(1)[0]
    _overwrite(path, offset, bytes([first ^ 0xFF]))


def _check_refused(path: Path, where: str) -> None:
    """Refused by verify, inspect, merge and recentre; readable for the h5py editors of tests."""
    with EventStore(path) as store, pytest.raises(StoreCorruptError, match=where) as info:
        store.verify_meta()
    assert info.value.dataset == where
    assert info.value.path == str(path)
    with pytest.raises(StoreCorruptError, match=where):
        verify_store(path)
    with pytest.raises(StoreCorruptError, match=where):
        merge_stores(path.parent / "m.h5", [path])
    with pytest.raises(StoreCorruptError, match=where):
        recentre_store(path, path.parent / "r.h5", (0.0, 0.0))
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    for args in (["verify"], ["inspect"]):
        result = CliRunner().invoke(cli, ["store", *args, str(path)])
        assert result.exit_code == 1, result.output
        assert "StoreCorruptError" in result.output
        assert where in result.output


@pytest.mark.parametrize(
    "name", ["basis_cross_sections", "morphing_matrix", "theta0", "basis_points", "shards/n_events"]
)
def test_flipped_bytes_in_meta_are_refused(
    tmp_path: Path, rng: np.random.Generator, name: str
) -> None:
    path = _store(tmp_path / "s.h5", rng)
    _flip_meta_dataset(path, name)
    _check_refused(path, f"/meta/{name}")


def test_a_changed_meta_attribute_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    path = _store(tmp_path / "s.h5", rng)
    text = b"test: two parameters"  # make_meta's process, a /meta attribute
    data = path.read_bytes()
    assert data.count(text) == 1
    _overwrite(path, data.index(text), b"Test: two parameters")
    _check_refused(path, "/meta@process")


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_zero_turned_into_all_ones_is_refused(
    tmp_path: Path, rng: np.random.Generator, compression: str | None
) -> None:
    path = _store(tmp_path / "s.h5", rng, compression=compression)
    with h5py.File(path, "r") as f:
        ds = f["parton/coefficients"]
        info = ds.id.get_chunk_info(0)
        offset, size = int(info.byte_offset), int(info.size)
    if compression is None:
        target = offset + (5 * 6 + 3) * 8  # the 0.0 of event 5, coefficient 3
        _overwrite(path, target, b"\xff" * 8)
        with h5py.File(path, "r") as f:  # fletcher32 does not see it: the value reads as NaN
            assert np.isnan(f["parton/coefficients"][5, 3])
    else:
        data = path.read_bytes()[offset : offset + size]
        zeros = data.find(b"\x00\x00")
        assert zeros >= 0
        _overwrite(path, offset + zeros, b"\xff\xff")
    with pytest.raises(StoreCorruptError, match="/parton/coefficients") as err:
        verify_store(path)
    assert err.value.dataset == "/parton/coefficients"
    result = CliRunner().invoke(cli, ["store", "verify", str(path)])
    assert result.exit_code == 1, result.output
    assert "/parton/coefficients" in result.output


def test_digests_verify_ok_and_stores_without_them_read_as_before(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    path = _store(tmp_path / "s.h5", rng)
    report = verify_store(path)
    assert report.status == OK
    assert report.digests
    assert "CRC-32" in report.summary()
    old = tmp_path / "old.h5"
    old.write_bytes(path.read_bytes())
    with h5py.File(old, "r+") as f:  # what a store of an earlier madsbi looks like
        del f["checksums"]
    with EventStore(old) as store:
        assert store.n_events() == 50
    report = verify_store(old)
    assert report.status == OK
    assert not report.digests
    assert report.summary().startswith(f"OK {old}:")
    assert "fletcher32" in report.summary()
    assert "CRC-32" not in report.summary()
