"""Checksums of event stores: corrupt bytes are refused by read, inspect, merge and verify."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from madsbi.cli.main import cli
from madsbi.errors import StoreCorruptError
from madsbi.events.inspect import describe_store
from madsbi.events.merge import merge_stores
from madsbi.events.meta import ShardInfo
from madsbi.events.store import EventStore
from madsbi.events.verify import NO_CHECKSUMS, OK, verify_store

from helpers.stores import make_meta, random_parton, write_store


def _store(path: Path, rng: np.random.Generator, shard: str) -> Path:
    chunks = [random_parton(rng, 40), random_parton(rng, 25)]
    return write_store(path, make_meta(), chunks, shard=ShardInfo(shard, 65))


def _corrupt(path: Path, dataset: str, rng: np.random.Generator) -> None:
    """Overwrite 16 bytes of event data (rows 1-2) in the dataset's first chunk with garbage.

    Random bytes, not a bit flip of zeros: fletcher32 sums 16-bit words modulo 65535, so it
    cannot tell 0x0000 from 0xFFFF.
    """
    with h5py.File(path, "r") as f:
        ds = f[dataset]
        row_bytes = ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64))
        info = ds.id.get_chunk_info(0)
        offset, size = int(info.byte_offset), int(info.size)
    start = offset + row_bytes
    assert size > row_bytes + 16
    with open(path, "r+b") as raw:
        raw.seek(start)
        old = raw.read(16)
        garbage = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
        assert garbage != old
        raw.seek(start)
        raw.write(garbage)


def _without_checksums(src: Path, dst: Path) -> Path:
    """A copy of a store with its event datasets rewritten without the fletcher32 filter."""
    with h5py.File(src, "r") as a, h5py.File(dst, "w") as b:
        for key, value in a.attrs.items():
            b.attrs[key] = value
        a.copy("meta", b)
        for name, ds in a["parton"].items():
            new = b.create_dataset(
                f"parton/{name}", data=ds[()], chunks=ds.chunks, maxshape=ds.maxshape
            )
            for key, value in ds.attrs.items():
                new.attrs[key] = value
    return dst


def test_new_stores_verify_ok(tmp_path: Path, rng: np.random.Generator) -> None:
    path = _store(tmp_path / "s.h5", rng, "s")
    report = verify_store(path)
    assert report.status == OK
    assert report.ok
    with EventStore(path) as store:
        assert set(report.checked) == {f"/parton/{f}" for f in store.fields()}
        assert all(store.dataset_layout("parton", f).checksummed for f in store.fields())
        expected_bytes = sum(store.read(fields=[f])[f].nbytes for f in store.fields())
    assert report.unchecked == ()
    assert report.n_bytes == expected_bytes
    assert describe_store(path)["integrity"] == OK


@pytest.mark.parametrize("dataset", ["/parton/coefficients", "/parton/weight"])
def test_corrupt_bytes_are_refused_everywhere(
    tmp_path: Path, rng: np.random.Generator, dataset: str
) -> None:
    good = _store(tmp_path / "good.h5", rng, "good")
    bad = _store(tmp_path / "bad.h5", rng, "bad")
    _corrupt(bad, dataset, rng)
    with EventStore(bad) as store, pytest.raises(StoreCorruptError, match=dataset) as info:
        store.read()
    assert info.value.dataset == dataset
    assert info.value.path == str(bad)
    assert isinstance(info.value, ValueError)
    with pytest.raises(StoreCorruptError, match=dataset):
        verify_store(bad)
    with pytest.raises(StoreCorruptError, match=dataset):
        describe_store(bad)
    out = tmp_path / "merged.h5"
    with pytest.raises(StoreCorruptError, match=dataset):
        merge_stores(out, [good, bad])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.h5", "good.h5"]

    runner = CliRunner()
    for args in (["verify"], ["inspect"]):
        result = runner.invoke(cli, ["store", *args, str(bad)])
        assert result.exit_code == 1, result.output
        assert "StoreCorruptError" in result.output
        assert dataset in result.output
        assert str(bad) in result.output
    result = runner.invoke(cli, ["store", "merge", str(out), str(good), str(bad), "--quiet"])
    assert result.exit_code == 1
    assert dataset in result.output
    assert not out.exists()


def test_inspect_without_verification_reads_metadata_only(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    bad = _store(tmp_path / "bad.h5", rng, "bad")
    _corrupt(bad, "/parton/coefficients", rng)
    info = describe_store(bad, verify=False)
    assert info["integrity"] == "not checked"
    result = CliRunner().invoke(cli, ["store", "inspect", "--no-verify", str(bad)])
    assert result.exit_code == 0
    assert "not checked" in result.output


def test_store_without_checksums_is_unverified_not_ok(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    src = _store(tmp_path / "s.h5", rng, "s")
    old = _without_checksums(src, tmp_path / "old.h5")
    with EventStore(src) as a, EventStore(old) as b:
        assert not any(b.dataset_layout("parton", f).checksummed for f in b.fields())
        for name in a.fields():
            np.testing.assert_array_equal(a.read()[name], b.read()[name])
    report = verify_store(old)
    assert report.status == NO_CHECKSUMS
    assert not report.ok
    assert report.checked == ()
    assert "/parton/coefficients" in report.unchecked
    assert describe_store(old)["integrity"] == NO_CHECKSUMS
    result = CliRunner().invoke(cli, ["store", "verify", str(old)])
    assert result.exit_code == 2
    assert "UNVERIFIED" in result.output
    assert "no checksums" in result.output
    good = CliRunner().invoke(cli, ["store", "verify", str(src)])
    assert good.exit_code == 0
    assert good.output.startswith("OK ")
    # a merge of an old store writes a checksummed one
    merged = merge_stores(tmp_path / "m.h5", [old])
    assert verify_store(merged).ok
