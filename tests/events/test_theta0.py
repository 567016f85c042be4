"""A reference point θ0 other than the generation point: convert --theta0, recentre, schema v2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from madsbi.cli.main import cli
from madsbi.errors import InputError, StoreMismatchError, UnknownParameterError, WeightError
from madsbi.events import schema
from madsbi.events.convert import convert_lhe
from madsbi.events.inspect import describe_store
from madsbi.events.merge import merge_stores
from madsbi.events.recentre import parse_theta0, recentre_store
from madsbi.events.store import EventStore
from madsbi.theory.polynomial import polynomial_features_reference

from helpers.stores import make_meta, random_parton, write_store

BSM = (1.0, 0.1, 0.1)
N_EVENTS = 300


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same 300 W⁺Z events converted around the card's point (SM) and around BSM."""
    folder = tmp_path_factory.mktemp("theta0")
    src = Path(__file__).parents[1] / "data" / "wz_parton_1k.lhe.gz"
    card = convert_lhe(src, folder / "card.h5", max_events=N_EVENTS)
    bsm = convert_lhe(src, folder / "bsm.h5", max_events=N_EVENTS, theta0="cHWB=1,cW=0.1,cHq3=0.1")
    assert card.theta0 == card.theta_gen == (0.0, 0.0, 0.0)
    assert bsm.theta0 == BSM
    assert bsm.theta_gen == (0.0, 0.0, 0.0)
    return folder / "card.h5", folder / "bsm.h5"


def _values(path: Path, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-event c·φ(θ − θ0), σ(θ) from the basis, and the generation weights."""
    with EventStore(path) as store:
        parton = store.read()
        phi = polynomial_features_reference(thetas, store.meta.space.theta0_array)
        return parton["coefficients"] @ phi.T, store.cross_section(thetas), parton["weight"]


def test_convert_with_theta0_keeps_every_polynomial(
    stores: tuple[Path, Path], rng: np.random.Generator
) -> None:
    card, bsm = stores
    thetas = rng.uniform(-2.0, 2.0, size=(25, 3))
    per_event_card, sigma_card, weight_card = _values(card, thetas)
    per_event_bsm, sigma_bsm, weight_bsm = _values(bsm, thetas)
    np.testing.assert_allclose(per_event_bsm, per_event_card, rtol=1e-10)
    np.testing.assert_allclose(sigma_bsm, sigma_card, rtol=1e-10)
    np.testing.assert_array_equal(weight_bsm, weight_card)  # still the generation weights
    with EventStore(card) as a, EventStore(bsm) as b:
        assert b.meta.space.theta0 == BSM
        assert b.meta.theta_gen == a.meta.theta_gen == (0.0, 0.0, 0.0)
        assert b.format_version == schema.FORMAT_VERSION == 2
        # c_e0 is the weight at θ0 now: the card store's polynomial there
        at_bsm = (
            a.read()["coefficients"]
            @ polynomial_features_reference(np.array([BSM]), a.meta.space.theta0_array).T
        )
        np.testing.assert_allclose(b.read()["coefficients"][:, 0], at_bsm[:, 0], rtol=1e-10)
        np.testing.assert_allclose(b.cross_section(np.array(BSM)), at_bsm.mean(), rtol=1e-10)
        assert b.meta.shards[0].n_events == N_EVENTS
        report = json.loads(b.meta.shards[0].report)
        assert report["theta0"] == list(BSM)
        assert report["theta_gen"] == [0.0, 0.0, 0.0]


def test_inspect_shows_both_points(stores: tuple[Path, Path]) -> None:
    _, bsm = stores
    info = describe_store(bsm)
    assert [p["theta0"] for p in info["parameters"]] == list(BSM)
    assert [p["theta_gen"] for p in info["parameters"]] == [0.0, 0.0, 0.0]
    text = CliRunner().invoke(cli, ["store", "inspect", str(bsm)]).output
    assert "θ0 = 1 " in text
    assert "θ_gen = 0 " in text


def test_recentre_store_round_trip(
    stores: tuple[Path, Path], tmp_path: Path, rng: np.random.Generator
) -> None:
    card, bsm = stores
    back = recentre_store(bsm, tmp_path / "back.h5", (0.0, 0.0, 0.0))
    with EventStore(card) as a, EventStore(back) as b, EventStore(bsm) as c:
        assert b.meta.space.theta0 == (0.0, 0.0, 0.0)
        assert b.meta.theta_gen == (0.0, 0.0, 0.0)
        np.testing.assert_allclose(
            b.read()["coefficients"], a.read()["coefficients"], rtol=1e-9, atol=1e-12
        )
        np.testing.assert_allclose(
            b.meta.basis_cross_sections, a.meta.basis_cross_sections, rtol=1e-10
        )
        assert b.meta.shards == c.meta.shards  # provenance kept
    thetas = rng.uniform(-2.0, 2.0, size=(10, 3))
    other = recentre_store(card, tmp_path / "other.h5", "chwb=-0.5,cw=0.3,chq3=2")
    np.testing.assert_allclose(_values(other, thetas)[1], _values(card, thetas)[1], rtol=1e-10)
    with EventStore(other) as o:
        assert o.meta.space.theta0 == (-0.5, 0.3, 2.0)


def test_cli_convert_and_recentre(tmp_path: Path, data_dir: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "s.h5"
    args = ["store", "convert", str(data_dir / "wz_parton_1k.lhe.gz"), str(out), "--quiet"]
    result = runner.invoke(cli, [*args, "--max-events", "50", "--theta0", "1,0.1,0.1"])
    assert result.exit_code == 0, result.output
    with EventStore(out) as store:
        assert store.meta.space.theta0 == BSM
    bad = runner.invoke(cli, [*args, "--max-events", "50", "--theta0", "cX=1"])
    assert bad.exit_code == 1
    assert "UnknownParameterError" in bad.output
    assert "cX" in bad.output
    result = runner.invoke(
        cli, ["store", "recentre", str(out), str(tmp_path / "r.h5"), "--theta0", "0,0,0"]
    )
    assert result.exit_code == 0, result.output
    assert "θ0 = (0.0, 0.0, 0.0)" in result.output
    assert "θ_gen = (0.0, 0.0, 0.0)" in result.output
    same = runner.invoke(cli, ["store", "recentre", str(out), str(out), "--theta0", "0,0,0"])
    assert same.exit_code == 1
    assert "is the input" in same.output
    linked = tmp_path / "hard-link.h5"
    os.link(out, linked)
    before = out.read_bytes()
    hard = runner.invoke(
        cli, ["store", "recentre", str(out), str(linked), "--theta0", "0,0,0", "--overwrite"]
    )
    assert hard.exit_code == 1
    assert "hard link" in hard.output
    assert out.read_bytes() == before


def test_version_1_store_reads_with_theta_gen_theta0(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    path = write_store(tmp_path / "v1.h5", make_meta((0.2, -0.1)), [random_parton(rng, 5)])
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = np.int64(1)
        del f["meta/theta_gen"]
        del f["checksums"]  # version-1 stores had no digests either
    with EventStore(path) as store:
        assert store.format_version == 1
        assert store.meta.theta_gen == store.meta.space.theta0 == (0.2, -0.1)
    assert describe_store(path)["parameters"][0]["theta_gen"] == 0.2
    # v1 and v2 shards of the same sample merge (θ_gen = θ0 in both)
    v2 = write_store(tmp_path / "v2.h5", make_meta((0.2, -0.1)), [random_parton(rng, 4)])
    merged = merge_stores(tmp_path / "m.h5", [path, v2])
    with EventStore(merged) as store:
        assert store.n_events() == 9
        assert store.format_version == 2


def test_other_generation_points_do_not_merge(tmp_path: Path, rng: np.random.Generator) -> None:
    a = write_store(tmp_path / "a.h5", make_meta((0.0, 0.0)), [random_parton(rng, 5)])
    b = recentre_store(
        write_store(tmp_path / "b0.h5", make_meta((0.5, 0.0)), [random_parton(rng, 5)]),
        tmp_path / "b.h5",
        (0.0, 0.0),
    )
    with pytest.raises(StoreMismatchError, match="theta_gen") as info:
        merge_stores(tmp_path / "m.h5", [a, b])
    assert info.value.field == "/meta/theta_gen"


def test_weight_vanishing_at_theta0_is_refused(tmp_path: Path) -> None:
    # c·φ = 1 − Δa: positive at θ0 = (0, 0), zero at a = 1, negative beyond
    c = np.zeros((3, 6))
    c[:, 0] = 1.0
    c[:, 1] = -1.0
    chunk = {"weight": c[:, 0].copy(), "coefficients": c, "rwgt": np.ones((3, 2))}
    path = write_store(tmp_path / "s.h5", make_meta((0.0, 0.0)), [chunk])
    for a in (1.0, 2.0):
        with pytest.raises(WeightError, match=r"event 0: its weight at θ0 = \(") as info:
            recentre_store(path, tmp_path / f"r{a}.h5", (a, 0.0))
        assert str(path) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]
    fine = recentre_store(path, tmp_path / "ok.h5", (0.5, 0.0))
    with EventStore(fine) as store:
        np.testing.assert_allclose(store.read()["coefficients"][:, 0], 0.5)


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("a=1,c=2", UnknownParameterError, "unknown parameter 'c'"),
        ("a=1,a=2", InputError, "given twice"),
        ("a=1", InputError, r"no value for \['b'\]"),
        ("1,2,3", InputError, "expected 2 values"),
        ("1,x", InputError, "b: expected a number"),
        ("a=1,b=nan", InputError, "finite"),
        ("", InputError, "expected 'name=value"),
        ("a=1,2", InputError, "mix of named and positional"),
    ],
)
def test_parse_theta0_refuses(text: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        parse_theta0(text, ["a", "b"])


def test_parse_theta0_accepts_both_forms() -> None:
    assert parse_theta0("B=2, a=-1", ["a", "b"]) == (-1.0, 2.0)
    assert parse_theta0("-1,2e-1", ["a", "b"]) == (-1.0, 0.2)
