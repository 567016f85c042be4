"""Embedding a sub-space store (ZZ over cHWB, cHq3) into the analysis space (cHWB, cW, cHq3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from madsbi.errors import InputError, StoreMismatchError
from madsbi.events import schema
from madsbi.events.embed import EMBEDDED_PARAMETERS, embed_store, parse_parameters
from madsbi.events.merge import merge_stores
from madsbi.events.meta import ShardInfo, StoreMeta
from madsbi.events.store import EventStore
from madsbi.events.verify import verify_store
from madsbi.events.writer import StoreWriter
from madsbi.theory.basis import optimise_basis
from madsbi.theory.parameters import Parameter, ParameterSpace
from madsbi.theory.polynomial import polynomial_features

from helpers.stores import BASIS_OFFSETS

CHWB = Parameter("cHWB", "SMEFT", 9, (-2.0, 2.0))
CW = Parameter("cW", "SMEFT", 2, (-1.0, 1.0))
CHQ3 = Parameter("cHq3", "SMEFT", 25, (-0.5, 0.5))


def _sub_store(path: Path, seed: int, theta0: tuple[float, float] = (0.3, -0.1)) -> Path:
    """A (cHWB, cHq3) store with a /reco group, like a ZZ shard."""
    rng = np.random.default_rng(seed)
    n = 150
    space = ParameterSpace((CHWB, CHQ3), theta0)
    meta = StoreMeta(
        space=space,
        basis_ids=tuple(f"p{i}" for i in range(6)),
        basis_points=np.asarray(theta0) + BASIS_OFFSETS,
        process="zz",
        sample_id="zz_test",
    )
    c = rng.normal(0.0, 0.2, size=(n, 6))
    c[:, 0] = rng.uniform(1.0, 2.0, n)
    reco = {"x": rng.normal(size=(n, 2)), "weight": c[:, 0].copy(), "parent": np.arange(n)}
    with StoreWriter(path, meta) as writer:
        writer.append("parton", {"weight": c[:, 0].copy(), "coefficients": c})
        writer.append("reco", reco, names={"x": ["m", "pt"]})
        writer.set_shards((ShardInfo(f"zz-{seed}", n, seed),))
    return path


def _signal_like(path: Path) -> Path:
    space = ParameterSpace((CHWB, CW, CHQ3), (0.0, 0.0, 0.0))
    points = optimise_basis(space.theta0_array, space.ranges(), seed=1).basis.points
    meta = StoreMeta(space, tuple(f"b{i}" for i in range(10)), points, "wz")
    c = np.zeros((3, 10))
    c[:, 0] = 1.0
    with StoreWriter(path, meta) as writer:
        writer.append("parton", {"weight": c[:, 0].copy(), "coefficients": c})
    return path


def _weights(store: EventStore, thetas: Any) -> np.ndarray[Any, Any]:
    c = store.read("parton", ["coefficients"])["coefficients"]
    result: np.ndarray[Any, Any] = c @ polynomial_features(thetas, store.meta.space.theta0).T
    return result


def test_embed_keeps_every_weight_and_sigma(tmp_path: Path) -> None:
    src = _sub_store(tmp_path / "zz.h5", 1)
    like = _signal_like(tmp_path / "wz.h5")
    out = embed_store(src, tmp_path / "zz3.h5", ["cHWB", "cW", "cHq3"], like=like)
    rng = np.random.default_rng(5)
    thetas = rng.uniform(-2.0, 2.0, size=(20, 3))
    with EventStore(src) as a, EventStore(out) as b:
        assert b.meta.space.names == ("cHWB", "cW", "cHq3")
        assert b.meta.space.parameters[1] == CW  # block, code and range from the target
        assert b.meta.space.theta0 == (0.3, 0.0, -0.1)
        assert b.meta.theta_gen == (0.3, 0.0, -0.1)
        assert b.meta.attributes[EMBEDDED_PARAMETERS] == "cW"
        sub = thetas[:, [0, 2]]
        np.testing.assert_allclose(b.cross_section(thetas), a.cross_section(sub), rtol=1e-12)
        np.testing.assert_allclose(_weights(b, thetas), _weights(a, sub), rtol=1e-13, atol=0)
        # cW is free: changing it alone changes nothing, exactly
        moved = thetas.copy()
        moved[:, 1] = rng.normal(0.0, 10.0, 20)
        np.testing.assert_array_equal(_weights(b, moved), _weights(b, thetas))
        c = b.read("parton", ["coefficients"])["coefficients"]
        # every term with cW (linear 2, square 5, cross cHWB*cW 7 and cW*cHq3 9) is zero
        assert np.all(c[:, [2, 5, 7, 9]] == 0.0)
        np.testing.assert_array_equal(b.read("reco")["x"], a.read("reco")["x"])
        np.testing.assert_array_equal(b.read("parton", ["weight"])["weight"], a.read()["weight"])
        assert b.meta.shards == a.meta.shards
    assert verify_store(out).ok


def test_embedded_shards_merge(tmp_path: Path) -> None:
    paths = [
        embed_store(_sub_store(tmp_path / f"zz{i}.h5", i), tmp_path / f"e{i}.h5", "cHWB,cW,cHq3")
        for i in range(2)
    ]
    merged = merge_stores(tmp_path / "m.h5", paths)
    with EventStore(merged) as m, EventStore(paths[0]) as a, EventStore(paths[1]) as b:
        assert m.n_events() == 300
        theta = np.array([[0.5, -0.7, 0.2]])
        expected = (150 * a.cross_section(theta) + 150 * b.cross_section(theta)) / 300
        np.testing.assert_allclose(m.cross_section(theta), expected, rtol=1e-12)
    assert verify_store(merged).ok


def test_theta_independent_store_embeds_as_constant(tmp_path: Path) -> None:
    meta = StoreMeta(
        ParameterSpace((), ()),
        ("nominal",),
        np.zeros((1, 0)),
        "zjets",
        attributes={schema.THETA_INDEPENDENT: True},
    )
    w = np.random.default_rng(3).uniform(0.5, 1.5, 40)
    with StoreWriter(tmp_path / "z.h5", meta) as writer:
        writer.append("parton", {"weight": w, "coefficients": w[:, None]})
    out = embed_store(tmp_path / "z.h5", tmp_path / "z3.h5", [CHWB, CW, CHQ3])
    with EventStore(out) as store:
        c = store.read()["coefficients"]
        np.testing.assert_array_equal(c[:, 0], w)
        assert np.all(c[:, 1:] == 0.0)
        thetas = np.random.default_rng(4).normal(size=(7, 3))
        np.testing.assert_allclose(store.cross_section(thetas), np.full(7, w.mean()), rtol=1e-12)
        assert store.meta.attributes[schema.THETA_INDEPENDENT] is True
        assert store.meta.attributes[EMBEDDED_PARAMETERS] == "cHWB,cW,cHq3"
    assert verify_store(out).ok


@pytest.mark.parametrize(
    ("parameters", "field", "words"),
    [
        ("cHWB,cW:SMEFT:2,cHq3:SMEFT:26", "/meta/parameter_codes", ["cHq3", "SMEFT 25", "26"]),
        ("cHWB:SMEFTx:9,cW,cHq3", "/meta/parameter_blocks", ["cHWB", "SMEFTx"]),
        ("cHWB,cW", "/meta/parameter_names", ["cHq3", "not among"]),
        ("cHWB,cW,cX:SMEFT:25", "/meta/parameter_names", ["cHq3", "'cX'"]),
    ],
)
def test_mismatched_parameters_are_refused_by_name(
    tmp_path: Path, parameters: str, field: str, words: list[str]
) -> None:
    src = _sub_store(tmp_path / "zz.h5", 1)
    with pytest.raises(StoreMismatchError) as info:
        embed_store(src, tmp_path / "out.h5", parameters)
    assert info.value.field == field
    for word in words:
        assert word in str(info.value)
    assert not (tmp_path / "out.h5").exists()


def test_like_store_names_the_target(tmp_path: Path) -> None:
    src = _sub_store(tmp_path / "zz.h5", 1)
    like = _signal_like(tmp_path / "wz.h5")
    with pytest.raises(InputError, match="cG"):
        embed_store(src, tmp_path / "o.h5", "cHWB,cW,cHq3,cG", like=like)
    with pytest.raises(StoreMismatchError, match="cW"):
        embed_store(src, tmp_path / "o.h5", "cHWB,cW:SMEFT:3,cHq3", like=like)
    with pytest.raises(InputError, match="store embed"):
        embed_store(src, src, "cHWB,cW,cHq3")
    with pytest.raises(InputError, match="name:block:code"):
        parse_parameters("cHWB,cW:SMEFT")


def test_cli_embed(tmp_path: Path) -> None:
    from madsbi.cli.store_mix import embed

    src = _sub_store(tmp_path / "zz.h5", 2)
    like = _signal_like(tmp_path / "wz.h5")
    out = tmp_path / "zz3.h5"
    args = [str(src), str(out), "--parameters", "cHWB,cW,cHq3", "--like", str(like), "--quiet"]
    result = CliRunner().invoke(embed, args)
    assert result.exit_code == 0, result.output
    assert "cW" in result.output
    with EventStore(out) as store:
        assert store.meta.space.names == ("cHWB", "cW", "cHq3")


def test_store_group_lists_embed_and_mix() -> None:
    from madsbi.cli.main import cli

    result = CliRunner().invoke(cli, ["store", "--help"])
    assert result.exit_code == 0, result.output
    assert "embed" in result.output
    assert "mix" in result.output
