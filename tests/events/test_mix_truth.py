"""``store mix`` keeps each event's source apart from the data: ``/truth/mix`` (issue 26)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from madsbi.errors import InputError
from madsbi.events import schema
from madsbi.events.meta import StoreMeta
from madsbi.events.mix import mix_stores
from madsbi.events.mix_truth import TRUTH_GROUP, read_truth
from madsbi.events.reco import read_reco
from madsbi.events.store import EventStore
from madsbi.events.verify import verify_store
from madsbi.events.writer import StoreWriter
from madsbi.theory.parameters import ParameterSpace

from helpers.stores import BASIS_OFFSETS

COLUMNS = ["m", "kind"]


def _signal(path: Path, n: int = 300, seed: int = 0) -> Path:
    """θ-dependent over (a, b), θ0 = (0.2, 0); two entries per parent, one failing the cuts."""
    rng = np.random.default_rng(seed)
    space = ParameterSpace.from_names(["a", "b"], theta0=[0.2, 0.0])
    meta = StoreMeta(space, tuple(f"p{i}" for i in range(6)), BASIS_OFFSETS, "signal")
    c = np.zeros((n, 6))
    c[:, 0] = rng.uniform(0.5, 1.5, n) * 1e-3
    c[:, 1] = c[:, 0] * rng.normal(0.5, 0.2, n)
    c[:, 3] = c[:, 0] * 0.3
    parent = np.repeat(np.arange(n), 2)
    x = np.stack([rng.normal(90, 5, 2 * n), np.zeros(2 * n)], axis=1)
    cuts = np.ones((2 * n, 1), dtype=np.uint8)
    cuts[1::2] = 0
    with StoreWriter(path, meta) as writer:
        writer.append("parton", {"weight": c[:, 0].copy(), "coefficients": c})
        reco = {"x": x, "weight": c[parent, 0], "parent": parent, "cuts": cuts}
        writer.append("reco", reco, names={"x": COLUMNS, "cuts": ["all"]})
    return path


def _flat(path: Path, n: int = 400) -> Path:
    """θ-independent (K = 1), kind = 1."""
    meta = StoreMeta(
        ParameterSpace((), ()), ("nominal",), np.zeros((1, 0)), "background",
        attributes={schema.THETA_INDEPENDENT: True},
    )  # fmt: skip
    w = np.full(n, 1e-3)
    x = np.stack([np.linspace(0, 1, n), np.ones(n)], axis=1)
    with StoreWriter(path, meta) as writer:
        writer.append("parton", {"weight": w, "coefficients": w[:, None]})
        writer.append("reco", {"x": x, "weight": w, "parent": np.arange(n)}, names={"x": COLUMNS})
    return path


@pytest.fixture
def mixed(tmp_path: Path) -> tuple[Path, Path, Path]:
    a, b = _signal(tmp_path / "sig.h5"), _flat(tmp_path / "flat.h5")
    out = tmp_path / "mix.h5"
    mix_stores(out, [a, b], luminosity=80.0, seed=5, at={"a": 1.0, "b": -0.5},
               names=["signal", "fakes"])  # fmt: skip
    return out, a, b


def test_every_event_is_traced_to_its_store_row_parent_and_coefficients(
    mixed: tuple[Path, Path, Path],
) -> None:
    out, a, b = mixed
    truth = read_truth(out)
    assert truth is not None
    x = read_reco(out).x
    assert truth.process.shape == (x.shape[0],)
    counts = np.bincount(truth.process, minlength=2)
    assert counts.min() > 10  # both inputs drew events
    for j, path in enumerate((a, b)):
        rows = np.flatnonzero(truth.process == j)
        with EventStore(path) as store:
            reco = store.read("reco", ["x", "parent"])
            parton = store.read("parton", ["coefficients"])
        src = np.asarray(reco["x"])[truth.row[rows]]
        np.testing.assert_array_equal(x[rows], src)
        np.testing.assert_array_equal(
            truth.parent[rows], np.asarray(reco["parent"])[truth.row[rows]]
        )
        c = np.asarray(parton["coefficients"])[truth.parent[rows]]
        np.testing.assert_array_equal(truth.coefficients[rows, : c.shape[1]], c)
        assert not truth.coefficients[rows, c.shape[1] :].any()  # zero-padded
    assert (truth.row[truth.process == 0] % 2 == 0).all()  # only entries passing the cuts
    first, second = truth.inputs
    assert first["name"] == "signal"
    assert second["name"] == "fakes"
    assert first["theta_drawn"] == {"a": 1.0, "b": -0.5}  # θ-dependent: drawn at --at
    assert second["theta_drawn"] == {}
    assert second["theta_independent"] is True
    assert first["theta0"] == [0.2, 0.0]
    assert first["parameters"] == ["a", "b"]
    assert len(first["sha256"]) == 64
    assert first["path"] == str(a.resolve())


def test_the_truth_is_apart_from_the_data_and_verified(mixed: tuple[Path, Path, Path]) -> None:
    out, *_ = mixed
    with EventStore(out) as store:
        assert "truth" not in store.groups  # no reader of event data sees it
        assert store.meta.process == ""
    assert verify_store(out).ok
    with h5py.File(out, "r") as f:
        assert "validation only" in f[TRUTH_GROUP].attrs["description"]


def test_labels_change_no_drawn_event(tmp_path: Path) -> None:
    a, b = _signal(tmp_path / "sig.h5"), _flat(tmp_path / "flat.h5")
    one = mix_stores(tmp_path / "one.h5", [a, b], luminosity=80.0, seed=9)
    two = mix_stores(tmp_path / "two.h5", [a, b], luminosity=80.0, seed=9, names=["s", "f"])
    np.testing.assert_array_equal(read_reco(one.path).x, read_reco(two.path).x)
    truth = read_truth(two.path)
    assert truth is not None
    assert truth.inputs[0]["name"] == "s"
    unnamed = read_truth(one.path)
    assert unnamed is not None
    assert unnamed.inputs[0]["name"] is None


def test_a_mixed_store_without_truth_still_reads(mixed: tuple[Path, Path, Path]) -> None:
    out, *_ = mixed
    n = read_reco(out).n_events
    with h5py.File(out, "r+") as f:
        del f["truth"]
    assert read_truth(out) is None
    assert read_reco(out).n_events == n


def test_names_must_be_one_per_input(tmp_path: Path) -> None:
    a, b = _signal(tmp_path / "sig.h5"), _flat(tmp_path / "flat.h5")
    with pytest.raises(InputError, match="one non-empty name per input"):
        mix_stores(tmp_path / "m.h5", [a, b], luminosity=10.0, seed=1, names=["only"])


def test_cli_names(tmp_path: Path) -> None:
    from madsbi.cli.main import cli

    a, b = _signal(tmp_path / "sig.h5"), _flat(tmp_path / "flat.h5")
    out = tmp_path / "cli.h5"
    result = CliRunner().invoke(
        cli, ["store", "mix", str(out), str(a), str(b), "--luminosity", "50", "--seed", "2",
              "--names", "signal, fakes"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with h5py.File(out, "r") as f:
        names = [r["name"] for r in json.loads(f[TRUTH_GROUP].attrs["inputs"])]
    assert names == ["signal", "fakes"]
