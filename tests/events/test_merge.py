"""Merging event-store shards: concatenation, σ(θ_b), provenance, and refusals naming the field."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from madsbi.errors import InputError, StoreExistsError, StoreMismatchError
from madsbi.events.convert import convert_lhe
from madsbi.events.merge import merge_stores
from madsbi.events.meta import ShardInfo
from madsbi.events.store import EventStore
from madsbi.events.writer import StoreWriter
from madsbi.simulate.toy import ToyModel, generate_toy_store, toy_meta

from helpers.lhe import edited
from helpers.stores import BASIS_OFFSETS, make_meta, random_parton, write_store


@pytest.fixture
def toys(tmp_path: Path) -> tuple[Path, Path]:
    a = generate_toy_store(tmp_path / "a.h5", alpha=1.5, theta=0.5, n_events=200, seed=1)
    b = generate_toy_store(
        tmp_path / "b.h5", alpha=1.5, theta=0.5, n_events=300, seed=2, chunk_size=128
    )
    return a, b


def test_merge_two_toy_stores(tmp_path: Path, toys: tuple[Path, Path]) -> None:
    a, b = toys
    out = merge_stores(tmp_path / "ab.h5", [a, b], chunk_size=64)
    assert out == tmp_path / "ab.h5"
    with EventStore(a) as sa, EventStore(b) as sb, EventStore(out) as merged:
        assert merged.n_events("parton") == 500
        assert merged.n_events("reco") == 500
        assert merged.groups == sa.groups == ("parton", "reco")
        pa, pb, pm = sa.read(), sb.read(), merged.read()
        for name in pa.arrays:
            np.testing.assert_array_equal(pm[name], np.concatenate([pa[name], pb[name]]), name)
        ra, rb, rm = sa.read("reco"), sb.read("reco"), merged.read("reco")
        for name in ("x", "weight", "smearing_weight", "copy_index"):
            np.testing.assert_array_equal(rm[name], np.concatenate([ra[name], rb[name]]), name)
        # parent indices point at the merged /parton rows
        np.testing.assert_array_equal(
            rm["parent"], np.concatenate([ra["parent"], rb["parent"] + 200])
        )
        np.testing.assert_array_equal(
            pm["features"][rm["parent"]],
            np.concatenate([pa["features"][ra["parent"]], pb["features"][rb["parent"]]]),
        )
        assert merged.column_names("reco", "x") == ["x"]
        assert merged.column_names("parton", "features") == ["z"]
        # σ(θ_b) is recomputed from all events: the event-weighted mean of the shards' values
        sig_a, sig_b = sa.meta.basis_cross_sections, sb.meta.basis_cross_sections
        assert not np.allclose(sig_a, sig_b, rtol=1e-6)
        np.testing.assert_allclose(
            merged.meta.basis_cross_sections, (200 * sig_a + 300 * sig_b) / 500, rtol=1e-13
        )
        np.testing.assert_allclose(
            merged.meta.basis_cross_sections,
            merged.meta.basis.matrix @ pm["coefficients"].mean(axis=0),
            rtol=1e-13,
        )
        assert merged.meta.shards == (
            ShardInfo("toy-seed1", 200, 1, "toy"),
            ShardInfo("toy-seed2", 300, 2, "toy"),
        )
        assert merged.meta.identity() == sa.meta.identity()


def test_merge_three_and_merge_of_merged(tmp_path: Path, toys: tuple[Path, Path]) -> None:
    a, b = toys
    c = generate_toy_store(tmp_path / "c.h5", alpha=1.5, theta=0.5, n_events=50, seed=3)
    ab = merge_stores(tmp_path / "ab.h5", [a, b])
    abc = merge_stores(tmp_path / "abc.h5", [ab, c])
    direct = merge_stores(tmp_path / "direct.h5", [a, b, c])
    with EventStore(abc) as s1, EventStore(direct) as s2:
        assert s1.n_events() == 550
        assert [sh.shard_id for sh in s1.meta.shards] == ["toy-seed1", "toy-seed2", "toy-seed3"]
        assert s1.meta.shards == s2.meta.shards
        np.testing.assert_array_equal(s1.read("reco")["parent"], s2.read("reco")["parent"])
        np.testing.assert_allclose(
            s1.meta.basis_cross_sections, s2.meta.basis_cross_sections, rtol=1e-14
        )


def _toy_like(path: Path, rng: np.random.Generator, **changes: object) -> Path:
    """A toy-shaped store (same fields as generate_toy_store) with modified metadata."""
    meta = dataclasses.replace(toy_meta(ToyModel(1.5), 0.5, 0.0, (-1.5, 1.5)), **changes)
    n = 20
    with StoreWriter(path, meta) as writer:
        writer.append(
            "parton",
            {
                "weight": np.full(n, 1.25),
                "coefficients": np.abs(rng.normal(size=(n, 3))) + 0.1,
                "features": rng.normal(size=(n, 1)),
            },
            names={"features": ["z"]},
        )
        writer.append(
            "reco",
            {
                "x": rng.normal(size=(n, 1)),
                "weight": np.full(n, 1.25),
                "smearing_weight": np.ones(n),
                "parent": np.arange(n),
                "copy_index": np.zeros(n, dtype=np.int32),
            },
            names={"x": ["x"]},
        )
        writer.set_shards((ShardInfo(path.stem, n),))
    return path


def _refused(tmp_path: Path, inputs: list[Path], field: str) -> StoreMismatchError:
    out = tmp_path / "merged.h5"
    with pytest.raises(StoreMismatchError) as info:
        merge_stores(out, inputs)
    assert info.value.field == field
    assert field in str(info.value)
    assert str(inputs[-1]) in str(info.value)
    assert not out.exists()
    assert not list(tmp_path.glob(".merged.h5*"))
    return info.value


def test_same_meta_built_by_hand_merges(
    tmp_path: Path, toys: tuple[Path, Path], rng: np.random.Generator
) -> None:
    same = _toy_like(tmp_path / "same.h5", rng)
    out = merge_stores(tmp_path / "m.h5", [toys[0], same])
    with EventStore(out) as store:
        assert store.n_events() == 220


def test_different_basis_points(
    tmp_path: Path, toys: tuple[Path, Path], rng: np.random.Generator
) -> None:
    other = _toy_like(tmp_path / "wide.h5", rng, basis_points=np.array([[-2.0], [0.0], [2.0]]))
    _refused(tmp_path, [toys[0], other], "/meta/basis_points")


def test_different_theta0(tmp_path: Path, toys: tuple[Path, Path]) -> None:
    other = generate_toy_store(
        tmp_path / "t0.h5", alpha=1.5, theta=0.5, theta0=0.25, n_events=20, seed=9
    )
    _refused(tmp_path, [toys[0], other], "/meta/theta0")


def test_different_process(
    tmp_path: Path, toys: tuple[Path, Path], rng: np.random.Generator
) -> None:
    other = _toy_like(tmp_path / "proc.h5", rng, process="toy: something else")
    _refused(tmp_path, [toys[0], other], "/meta/process")


def test_different_attributes(tmp_path: Path, toys: tuple[Path, Path]) -> None:
    other = generate_toy_store(tmp_path / "alpha.h5", alpha=3.0, theta=0.5, n_events=20, seed=9)
    _refused(tmp_path, [toys[0], other], "/meta/attributes")


def test_different_basis_ids(tmp_path: Path, rng: np.random.Generator) -> None:
    a = write_store(tmp_path / "a.h5", make_meta(), [random_parton(rng, 5)])
    meta = dataclasses.replace(make_meta(), basis_ids=tuple(f"x{i}" for i in range(6)))
    b = write_store(tmp_path / "b.h5", meta, [random_parton(rng, 5)])
    _refused(tmp_path, [a, b], "/meta/basis_ids")


def test_different_ranges(tmp_path: Path, rng: np.random.Generator) -> None:
    a = write_store(tmp_path / "a.h5", make_meta(), [random_parton(rng, 5)])
    meta = make_meta()
    space = dataclasses.replace(
        meta.space,
        parameters=(
            meta.space.parameters[0],
            dataclasses.replace(meta.space.parameters[1], range=(-1, 1)),
        ),
    )
    b = write_store(
        tmp_path / "b.h5", dataclasses.replace(meta, space=space), [random_parton(rng, 5)]
    )
    _refused(tmp_path, [a, b], "/meta/parameter_ranges")


def test_different_fields_groups_and_columns(tmp_path: Path, rng: np.random.Generator) -> None:
    meta = make_meta()
    a = write_store(tmp_path / "a.h5", meta, [random_parton(rng, 5)])
    no_momentum = {k: v for k, v in random_parton(rng, 5).items() if k != "momentum"}
    b = write_store(tmp_path / "b.h5", meta, [no_momentum])
    _refused(tmp_path, [a, b], "/parton")

    with StoreWriter(tmp_path / "c.h5", meta) as writer:
        writer.append("parton", random_parton(rng, 5), names={"rwgt": ["w1", "w0"]})
    _refused(tmp_path, [a, tmp_path / "c.h5"], "/parton/rwgt")

    with StoreWriter(tmp_path / "d.h5", meta) as writer:
        writer.append("parton", random_parton(rng, 5), names={"rwgt": ["w0", "w1"]})
        writer.append("generated", {"x": np.ones((2, 1)), "weight": np.ones(2)}, names={"x": ["x"]})
    _refused(tmp_path, [a, tmp_path / "d.h5"], "/")


def test_particle_widths_may_differ(tmp_path: Path, rng: np.random.Generator) -> None:
    meta = make_meta(offsets=BASIS_OFFSETS)
    a = write_store(tmp_path / "a.h5", meta, [random_parton(rng, 5, 2)])
    b = write_store(tmp_path / "b.h5", meta, [random_parton(rng, 4, 6)])
    out = merge_stores(tmp_path / "m.h5", [a, b])
    with EventStore(out) as store, EventStore(a) as sa:
        got = store.read()
        assert got["momentum"].shape == (9, 6, 4)
        np.testing.assert_array_equal(got["momentum"][:5, :2], sa.read()["momentum"])
        assert not got["momentum"][:5, 2:].any()
        assert [s.shard_id for s in store.meta.shards] == ["a", "b"]


def test_same_shard_twice(tmp_path: Path, toys: tuple[Path, Path]) -> None:
    a, _ = toys
    copy = tmp_path / "copy.h5"
    copy.write_bytes(a.read_bytes())
    for inputs in ([a, a], [a, copy]):
        out = tmp_path / "twice.h5"
        with pytest.raises(InputError, match="'toy-seed1' is in both") as info:
            merge_stores(out, inputs)
        assert "merged twice" in str(info.value)
        assert not out.exists()


def test_no_inputs_and_existing_output(tmp_path: Path, toys: tuple[Path, Path]) -> None:
    with pytest.raises(InputError, match="at least one"):
        merge_stores(tmp_path / "none.h5", [])
    a, b = toys
    with pytest.raises(StoreExistsError):
        merge_stores(b, [a])
    out = merge_stores(tmp_path / "m.h5", [a, b])
    merge_stores(out, [a], overwrite=True)
    with EventStore(out) as store:
        assert store.n_events() == 200


# -- shards converted from LHE files of one production ---------------------------------------


def _job(data_dir: Path, target: Path, seed: int, nevents: int, ebeam: str = "6800.0") -> Path:
    def edit(text: str) -> str:
        text, n1 = re.subn(r"\b1357 = iseed", f"{seed} = iseed", text)
        text, n2 = re.subn(r"\b20000\t= nevents", f"{nevents}\t= nevents", text)
        text, n3 = re.subn(r"6800\.0\s*= ebeam1", f"{ebeam} = ebeam1", text)
        assert (n1, n2, n3) == (1, 1, 1)
        return text

    target.parent.mkdir(parents=True, exist_ok=True)
    return edited(data_dir / "wz_parton_1k.lhe.gz", target, edit)


def test_run_cards_differing_in_seed_and_nevents_merge(data_dir: Path, tmp_path: Path) -> None:
    j1 = _job(data_dir, tmp_path / "in" / "job1.lhe.gz", 1111, 500)
    j2 = _job(data_dir, tmp_path / "in" / "job2.lhe.gz", 2222, 700)
    s1, s2 = tmp_path / "job1.h5", tmp_path / "job2.h5"
    convert_lhe(j1, s1, max_events=300, sample_id="wz")
    convert_lhe(j2, s2, max_events=200, sample_id="wz")
    out = merge_stores(tmp_path / "wz.h5", [s1, s2])
    with EventStore(out) as store:
        assert store.n_events() == 500
        assert [(s.shard_id, s.seed, s.n_events) for s in store.meta.shards] == [
            ("job1-seed1111", 1111, 300),
            ("job2-seed2222", 2222, 200),
        ]
        assert store.column_names("parton", "rwgt")[-1] == "p10_holdout"


def test_run_cards_differing_in_physics_are_refused(data_dir: Path, tmp_path: Path) -> None:
    j1 = _job(data_dir, tmp_path / "in" / "job1.lhe.gz", 1111, 500)
    j2 = _job(data_dir, tmp_path / "in" / "job2.lhe.gz", 2222, 500, ebeam="6500.0")
    s1, s2 = tmp_path / "job1.h5", tmp_path / "job2.h5"
    convert_lhe(j1, s1, max_events=50)
    convert_lhe(j2, s2, max_events=50)
    _refused(tmp_path, [s1, s2], "/meta/cards/run_card")


def test_madgraph_job_outputs_with_the_same_file_name_merge(data_dir: Path, tmp_path: Path) -> None:
    # every MadGraph job writes Events/run_XX/unweighted_events.lhe.gz; different seeds mean
    # different events, so the shards must merge even though their file names agree
    j1 = _job(data_dir, tmp_path / "job1" / "unweighted_events.lhe.gz", 1111, 500)
    j2 = _job(data_dir, tmp_path / "job2" / "unweighted_events.lhe.gz", 2222, 500)
    s1, s2 = tmp_path / "job1.h5", tmp_path / "job2.h5"
    convert_lhe(j1, s1, max_events=50)
    convert_lhe(j2, s2, max_events=50)
    out = merge_stores(tmp_path / "wz.h5", [s1, s2])
    with EventStore(out) as store:
        assert store.n_events() == 100
        assert [s.seed for s in store.meta.shards] == [1111, 2222]
