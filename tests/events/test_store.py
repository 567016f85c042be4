"""Event stores: atomic chunked writing, reading, streaming, format checks, cross-sections."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from madsbi.errors import (
    DtypeError,
    InputError,
    MissingFileError,
    ShapeError,
    StoreExistsError,
    StoreFormatError,
    StoreVersionError,
)
from madsbi.events import schema
from madsbi.events.meta import ShardInfo
from madsbi.events.store import EventStore, open_store
from madsbi.events.writer import StoreWriter
from madsbi.theory.polynomial import polynomial_features_reference

from helpers.stores import make_meta, random_parton, write_store


def _concat(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    out = tmp_path / "stores"
    out.mkdir()
    return out


def test_round_trip(store_dir: Path, rng: np.random.Generator) -> None:
    meta = make_meta(cards={"run_card": " 13 = iseed ! seed\n", "note": "ünïcode θ"})
    chunks = [random_parton(rng, n) for n in (40, 1, 25)]
    shard = ShardInfo("shard-a", 66, seed=13, source="synthetic", report='{"ok": true}')
    path = write_store(store_dir / "s.h5", meta, chunks, shard=shard)
    expected = _concat(chunks)
    with EventStore(path) as store:
        assert store.groups == ("parton",)
        assert store.n_events() == 66
        assert store.fields() == ("coefficients", "momentum", "pdg_id", "rwgt", "weight")
        assert store.column_names("parton", "rwgt") == ["w0", "w1"]
        info = store.field_info()
        assert info["momentum"] == {"shape": [66, 3, 4], "dtype": "float64", "unit": "GeV"}
        assert info["pdg_id"]["dtype"] == "int32"
        assert info["weight"]["unit"] == "pb"
        got = store.read()
        assert got.start == 0
        assert got.stop == 66
        assert got.n_events == 66
        for name, value in expected.items():
            np.testing.assert_array_equal(got[name], value, err_msg=name)
            assert got[name].dtype == np.dtype(schema.FIELDS["parton"][name].dtype)
        m = store.meta
        assert m.space.names == ("a", "b")
        assert m.space.theta0 == (0.2, -0.1)
        assert [p.range for p in m.space.parameters] == [(-2.0, 2.0), (-3.0, 3.0)]
        assert [(p.block, p.code) for p in m.space.parameters] == [(None, None), (None, None)]
        np.testing.assert_array_equal(m.basis_points, meta.basis_points)
        assert m.basis_ids == meta.basis_ids
        assert dict(m.cards) == dict(meta.cards)
        assert dict(m.attributes) == {"kind": "synthetic"}
        assert m.process == meta.process
        assert m.shards == (shard,)
        # σ(θ_b) = W · mean(c), derived by the writer
        sigma_b = meta.basis.matrix @ expected["coefficients"].mean(axis=0)
        np.testing.assert_allclose(m.basis_cross_sections, sigma_b, rtol=1e-14)
        assert store._file.attrs["format_version"] == schema.FORMAT_VERSION
        assert store._file.attrs["format"] == schema.FORMAT_NAME
    with open_store(path) as again:
        assert again.n_events() == 66


def test_partial_reads_and_iter_chunks(store_dir: Path, rng: np.random.Generator) -> None:
    path = write_store(store_dir / "s.h5", make_meta(), [random_parton(rng, 50)])
    with EventStore(path) as store:
        full = store.read()
        part = store.read(fields=["weight", "momentum"], start=10, stop=17)
        assert set(part.arrays) == {"weight", "momentum"}
        np.testing.assert_array_equal(part["momentum"], full["momentum"][10:17])
        for chunk_size in (1, 7, 50, 1000):
            chunks = list(store.iter_chunks(chunk_size=chunk_size))
            assert [c.start for c in chunks] == list(range(0, 50, chunk_size))
            assert sum(c.n_events for c in chunks) == 50
            for name in full.arrays:
                np.testing.assert_array_equal(
                    np.concatenate([c[name] for c in chunks]), full[name], err_msg=name
                )
        fields_only = list(store.iter_chunks(fields=["coefficients"], chunk_size=20))
        assert all(set(c.arrays) == {"coefficients"} for c in fields_only)
        with pytest.raises(InputError, match="chunk_size"):
            next(store.iter_chunks(chunk_size=0))
        with pytest.raises(InputError, match="start/stop"):
            store.read(start=10, stop=51)
        with pytest.raises(InputError, match="no fields \\['nope'\\]"):
            store.read(fields=["nope"])
        with pytest.raises(InputError, match="no /reco group"):
            store.read("reco")
        with pytest.raises(InputError, match="no column names"):
            store.column_names("parton", "weight")


def test_several_groups(store_dir: Path, rng: np.random.Generator) -> None:
    n = 30
    parton = random_parton(rng, n)
    x = rng.normal(size=(2 * n, 2))
    with StoreWriter(store_dir / "g.h5", make_meta(), compression="gzip") as writer:
        writer.append("parton", parton, names={"rwgt": ["w0", "w1"]})
        writer.append(
            "reco",
            {"x": x, "weight": np.ones(2 * n), "parent": np.repeat(np.arange(n), 2)},
            names={"x": ["m", "pt"]},
        )
        writer.append("generated", {"x": x[:5], "weight": np.ones(5)}, names={"x": ["m", "pt"]})
        assert writer.n_events("reco") == 2 * n
    with EventStore(store_dir / "g.h5") as store:
        assert store.groups == ("parton", "reco", "generated")
        assert store.n_events("reco") == 2 * n
        assert store.n_events("generated") == 5
        assert store.column_names("reco", "x") == ["m", "pt"]
        np.testing.assert_array_equal(store.read("reco")["x"], x)
        np.testing.assert_array_equal(store.read("reco")["parent"], np.repeat(np.arange(n), 2))


def test_exception_inside_writer_leaves_no_file(store_dir: Path, rng: np.random.Generator) -> None:
    path = store_dir / "s.h5"
    with pytest.raises(RuntimeError, match="boom"), StoreWriter(path, make_meta()) as writer:  # noqa: PT012
        writer.append("parton", random_parton(rng, 20), names={"rwgt": ["w0", "w1"]})
        raise RuntimeError("boom")
    assert list(store_dir.iterdir()) == []


def test_failed_write_keeps_an_existing_store(store_dir: Path, rng: np.random.Generator) -> None:
    path = write_store(store_dir / "s.h5", make_meta(), [random_parton(rng, 5)])
    before = path.read_bytes()
    with pytest.raises(ShapeError), StoreWriter(path, make_meta(), overwrite=True) as writer:  # noqa: PT012
        writer.append("parton", random_parton(rng, 5), names={"rwgt": ["w0", "w1"]})
        writer.append("parton", {**random_parton(rng, 5), "rwgt": np.ones((5, 3))})
    assert path.read_bytes() == before
    assert [p.name for p in store_dir.iterdir()] == ["s.h5"]


def test_no_events_is_an_error(store_dir: Path) -> None:
    with pytest.raises(InputError, match="no /parton events"):
        StoreWriter(store_dir / "s.h5", make_meta()).close()
    assert list(store_dir.iterdir()) == []


def test_existing_output(store_dir: Path, rng: np.random.Generator) -> None:
    path = write_store(store_dir / "s.h5", make_meta(), [random_parton(rng, 5)])
    with pytest.raises(StoreExistsError, match="overwrite=True"):
        StoreWriter(path, make_meta())
    write_store(path, make_meta(), [random_parton(rng, 8)], overwrite=True)
    with EventStore(path) as store:
        assert store.n_events() == 8
    assert [p.name for p in store_dir.iterdir()] == ["s.h5"]


def test_particle_axis_grows_and_shrinks(store_dir: Path, rng: np.random.Generator) -> None:
    chunks = [random_parton(rng, 10, 2), random_parton(rng, 6, 5), random_parton(rng, 4, 3)]
    path = write_store(store_dir / "p.h5", make_meta(), chunks)
    with EventStore(path) as store:
        got = store.read()
    assert got["momentum"].shape == (20, 5, 4)
    assert got["pdg_id"].shape == (20, 5)
    np.testing.assert_array_equal(got["momentum"][:10, :2], chunks[0]["momentum"])
    np.testing.assert_array_equal(got["momentum"][10:16], chunks[1]["momentum"])
    np.testing.assert_array_equal(got["momentum"][16:, :3], chunks[2]["momentum"])
    # earlier and narrower rows are padded with zeros
    assert not got["momentum"][:10, 2:].any()
    assert not got["pdg_id"][:10, 2:].any()
    assert not got["momentum"][16:, 3:].any()
    assert not got["pdg_id"][16:, 3:].any()


@pytest.mark.parametrize(
    ("group", "change", "error", "match"),
    [
        ("partons", {}, InputError, "group: expected one of"),
        ("parton", {"colour": np.zeros(4)}, InputError, "unknown fields \\['colour'\\]"),
        ("parton", {"coefficients": np.ones((4, 7))}, ShapeError, "/parton/coefficients"),
        ("parton", {"weight": np.ones((4, 1))}, ShapeError, "/parton/weight"),
        ("parton", {"pdg_id": np.ones((4, 3))}, DtypeError, "expected dtype int32, got float64"),
        ("parton", {"weight": np.ones(5)}, ShapeError, "same number of events"),
        ("parton", {"weight": np.float64(1.0)}, ShapeError, "same number of events"),
        ("parton", {"weight": np.array([1.0, np.nan, 1, 1])}, InputError, "non-finite"),
        ("parton", {"weight": np.array(["a", "b", "c", "d"])}, DtypeError, "/parton/weight"),
    ],
)
def test_bad_appends(
    store_dir: Path,
    rng: np.random.Generator,
    group: str,
    change: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    arrays = {**random_parton(rng, 4), **change}
    with pytest.raises(error, match=match), StoreWriter(store_dir / "s.h5", make_meta()) as writer:
        writer.append(group, arrays, names={"rwgt": ["w0", "w1"]})
    assert list(store_dir.iterdir()) == []


def test_bad_later_appends(store_dir: Path, rng: np.random.Generator) -> None:
    with StoreWriter(store_dir / "s.h5", make_meta()) as writer:
        writer.append("parton", random_parton(rng, 4), names={"rwgt": ["w0", "w1"]})
        fewer = random_parton(rng, 4)
        del fewer["rwgt"]
        with pytest.raises(InputError, match="same fields"):
            writer.append("parton", fewer)
        with pytest.raises(InputError, match="required fields missing: \\['weight'\\]"):
            writer.append("reco", {"x": np.ones((3, 1))}, names={"x": ["x"]})
        with pytest.raises(InputError, match="names="):
            writer.append("reco", {"x": np.ones((3, 1)), "weight": np.ones(3)})
        writer.append("parton", random_parton(rng, 3))
    with EventStore(store_dir / "s.h5") as store:
        assert store.n_events() == 7


def test_other_format_version(store_dir: Path, rng: np.random.Generator) -> None:
    path = write_store(store_dir / "s.h5", make_meta(), [random_parton(rng, 5)])
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = schema.FORMAT_VERSION + 1
    with pytest.raises(StoreVersionError, match=f"version {schema.FORMAT_VERSION + 1}"):
        EventStore(path)


def test_hdf5_without_format_attribute(store_dir: Path) -> None:
    path = store_dir / "plain.h5"
    with h5py.File(path, "w") as f:
        f["parton/weight"] = np.ones(3)
    with pytest.raises(StoreFormatError, match="not a madsbi event store") as info:
        EventStore(path)
    assert not isinstance(info.value, StoreVersionError)


def test_store_without_meta(store_dir: Path, rng: np.random.Generator) -> None:
    path = write_store(store_dir / "s.h5", make_meta(), [random_parton(rng, 5)])
    with h5py.File(path, "r+") as f:
        del f["meta/basis_ids"]
    with pytest.raises(StoreFormatError, match="/meta is incomplete"):
        EventStore(path)
    with h5py.File(path, "r+") as f:
        del f["meta"]
    with pytest.raises(StoreFormatError, match="missing /meta"):
        EventStore(path)


def test_not_hdf5(store_dir: Path) -> None:
    path = store_dir / "text.h5"
    path.write_text("this is not HDF5\n")
    with pytest.raises(StoreFormatError, match="not a readable HDF5 file"):
        EventStore(path)


def test_missing_store(store_dir: Path) -> None:
    with pytest.raises(MissingFileError, match="event store not found"):
        EventStore(store_dir / "nothing.h5")


def test_cross_section_is_the_mean_polynomial(store_dir: Path, rng: np.random.Generator) -> None:
    meta = make_meta(theta0=(0.5, -1.0))
    chunks = [random_parton(rng, 137), random_parton(rng, 63)]
    path = write_store(store_dir / "s.h5", meta, chunks)
    c = _concat(chunks)["coefficients"]
    thetas = rng.uniform(-2.0, 2.0, size=(9, 2))
    with EventStore(path) as store:
        sigma = store.cross_section(thetas)
        single = store.cross_section(thetas[0])
        at_basis = store.cross_section(meta.basis_points)
        np.testing.assert_allclose(at_basis, store.meta.basis_cross_sections, rtol=1e-12)
    phi = polynomial_features_reference(thetas, np.array([0.5, -1.0]))
    expected = [math.fsum(row) / len(c) for row in (c @ phi.T).T]
    assert sigma.shape == (9,)
    np.testing.assert_allclose(sigma, expected, rtol=1e-12)
    assert single.shape == (1,)
    assert single[0] == pytest.approx(expected[0], rel=1e-12)


def test_integer_overflow_is_refused(store_dir: Path, rng: np.random.Generator) -> None:
    # int64 → int32 is a "same kind" cast, but 2**40 + 11 does not fit: it must not wrap to 11
    arrays = random_parton(rng, 3)
    arrays["pdg_id"] = np.full((3, 3), 2**40 + 11, dtype=np.int64)
    with (
        pytest.raises((DtypeError, InputError), match="pdg_id"),
        StoreWriter(store_dir / "s.h5", make_meta()) as writer,
    ):
        writer.append("parton", arrays, names={"rwgt": ["w0", "w1"]})
    assert list(store_dir.iterdir()) == []


def test_rejected_chunk_leaves_the_store_consistent(
    store_dir: Path, rng: np.random.Generator
) -> None:
    """A chunk with one bad field writes none of its fields; later chunks still line up."""
    first, second = random_parton(rng, 5, n_particles=3), random_parton(rng, 4, n_particles=5)
    bad = random_parton(rng, 7, n_particles=6)
    bad["rwgt"][3, 1] = np.nan  # checked after pdg_id/momentum would need the axis to grow
    path = store_dir / "s.h5"
    with StoreWriter(path, make_meta()) as writer:
        writer.append("parton", first, names={"rwgt": ["w0", "w1"]})
        with pytest.raises(InputError, match="non-finite value at event 8"):
            writer.append("parton", bad)
        assert writer.n_events() == 5
        writer.append("parton", second)
    with EventStore(path) as store:
        chunk = store.read("parton")
        assert store.n_events() == 9
        assert {k: v.shape[0] for k, v in chunk.arrays.items()} == dict.fromkeys(chunk.arrays, 9)
        assert chunk["momentum"].shape == (9, 5, 4)  # grew to 5 for `second`, not 6 for `bad`
        np.testing.assert_array_equal(chunk["rwgt"][5:], second["rwgt"])
