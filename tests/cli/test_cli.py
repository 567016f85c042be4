"""The ``madsbi`` command line: store convert / inspect / merge, toy generate, clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from madsbi.cli.main import cli
from madsbi.data import sample_path
from madsbi.events import schema
from madsbi.events.store import EventStore

from helpers.lhe import read_text, write_lhe
from helpers.lhe_events import event_spans


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def wz_store(data_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "wz.h5"
    result = run("store", "convert", data_dir / "wz_parton_1k.lhe.gz", out, "--quiet")
    assert result.exit_code == 0, result.output
    return out


def test_version_and_help() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "store" in result.output
    assert "toy" in result.output
    assert run("--version").output.startswith("madsbi, version")


def test_store_convert(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "wz.h5"
    result = run(
        "store",
        "convert",
        data_dir / "wz_parton_1k.lhe.gz",
        out,
        "--parameters",
        "cHWB, cW, cHq3",
        "--sample-id",
        "wz-cli",
        "--max-events",
        "400",
        "--compression",
        "none",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 400 events" in result.output
    assert "['cHWB', 'cW', 'cHq3']" in result.output
    assert "held-out p10_holdout" in result.output
    with EventStore(out) as store:
        assert store.n_events() == 400
        assert store.meta.sample_id == "wz-cli"
        assert store.meta.space.names == ("cHWB", "cW", "cHq3")
        assert "rwgt" in store.fields()


def test_store_convert_basis_and_no_rwgt(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "wz.h5"
    basis = "p01_cHWB_p1,p02_cHWB_m1,p03_cW_p1,p04_cW_m1,p05_cHq3_p1,p06_cHq3_m1,"
    basis += "p07_cHWB_cW_p1,p08_cHWB_cHq3_p1,p09_cW_cHq3_p1,p10_holdout"
    result = run(
        "store",
        "convert",
        data_dir / "wz_parton_1k.lhe.gz",
        out,
        "--basis",
        basis,
        "--no-rwgt",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "held-out p00_sm" in result.output
    with EventStore(out) as store:
        assert "rwgt" not in store.fields()
        assert store.meta.basis_ids == tuple(basis.split(","))


def test_store_inspect_text(wz_store: Path) -> None:
    result = run("store", "inspect", wz_store)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"madsbi event store v{schema.FORMAT_VERSION}" in out
    assert "/parton: 1,000" in out
    assert "MadGraph     3.5.7" in out
    assert "K = 10" in out
    assert "p09_cW_cHq3_p1" in out
    assert "held-out p10_holdout" in out
    assert "seed 1357" in out
    assert "σ(θ0)        16.3333 pb" in out


def test_store_inspect_json(wz_store: Path) -> None:
    result = run("store", "inspect", wz_store, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["format_version"] == schema.FORMAT_VERSION
    assert info["n_events"] == {"parton": 1000}
    assert info["mg5_version"] == "3.5.7"
    assert [p["name"] for p in info["parameters"]] == ["chwb", "cw", "chq3"]
    assert [p["code"] for p in info["parameters"]] == [9, 2, 25]
    assert info["parameters"][0]["block"] == "SMEFT"
    assert len(info["coefficient_labels"]) == 10
    assert info["coefficient_labels"][:2] == ["1", "chwb"]
    assert info["basis"]["ids"][0] == "p00_sm"
    assert len(info["basis"]["points"]) == 10
    assert info["basis"]["condition_number"] > 1
    assert info["cross_section_theta0_pb"] == pytest.approx(16.3333, rel=1e-12)
    assert info["basis"]["cross_sections_pb"][0] == pytest.approx(16.3333, rel=1e-12)
    assert info["fields"]["parton"]["coefficients"]["shape"] == [1000, 10]
    assert info["fields"]["parton"]["momentum"]["unit"] == "GeV"
    assert info["cards"] == ["param_card", "proc_card", "run_card"]
    (shard,) = info["shards"]
    assert shard["shard_id"] == "wz_parton_1k-seed1357"  # file name and run-card iseed
    assert shard["seed"] == 1357
    holdouts = {h["weight_id"]: h for h in shard["report"]["holdouts"]}
    assert holdouts["p10_holdout"]["max_rel_error"] <= 2e-7


def test_toy_generate(tmp_path: Path) -> None:
    out = tmp_path / "toy.h5"
    result = run(
        "toy", "generate", "--alpha", "1.5", "--theta", "0.5", "-n", "300", "--seed", "4",
        "--quiet", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "300 toy events at θ = 0.5" in result.output
    with EventStore(out) as store:
        assert store.n_events() == 300
        assert store.n_events("reco") == 300
        assert store.meta.attributes["alpha"] == 1.5
        assert store.meta.shards[0].seed == 4
        weights = store.read()["weight"]
    np.testing.assert_allclose(weights, 1.25)
    again = run("toy", "generate", "--alpha", "1.5", "--theta", "0.5", "-n", "3", "--quiet", out)
    assert again.exit_code == 1
    assert "StoreExistsError" in again.output


def test_store_merge(tmp_path: Path) -> None:
    paths = []
    for seed in (1, 2):
        path = tmp_path / f"toy{seed}.h5"
        result = run(
            "toy", "generate", "--alpha", "3", "--theta", "1", "-n", "100", "--seed", str(seed),
            "--quiet", path,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        paths.append(path)
    out = tmp_path / "merged.h5"
    result = run("store", "merge", out, *paths, "--quiet")
    assert result.exit_code == 0, result.output
    assert f"wrote {out} from 2 stores" in result.output
    with EventStore(out) as store:
        assert store.n_events() == 200
        assert [s.shard_id for s in store.meta.shards] == ["toy-seed1", "toy-seed2"]
        np.testing.assert_array_equal(store.read("reco")["parent"], np.arange(200))
    info = json.loads(run("store", "inspect", out, "--json").output)
    assert info["n_events"] == {"parton": 200, "reco": 200}
    assert [s["shard_id"] for s in info["shards"]] == ["toy-seed1", "toy-seed2"]


def _assert_clean_error(result: Result, error: str) -> str:
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: {error}: ")
    assert "Traceback" not in result.output
    return lines[0]


def test_truncated_lhe_is_one_clean_line(data_dir: Path, tmp_path: Path) -> None:
    text = read_text(data_dir / "wz_parton_1k.lhe.gz")
    start, stop = event_spans(text)[600]
    src = write_lhe(tmp_path / "cut.lhe.gz", text[: (start + stop) // 2])
    out = tmp_path / "out.h5"
    result = CliRunner().invoke(cli, ["store", "convert", str(src), str(out), "--quiet"])
    line = _assert_clean_error(result, "LheFormatError")
    assert "truncated" in line
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["cut.lhe.gz"]


def test_other_errors_are_clean_too(data_dir: Path, tmp_path: Path, wz_store: Path) -> None:
    missing = CliRunner().invoke(cli, ["store", "inspect", str(tmp_path / "none.h5")])
    _assert_clean_error(missing, "MissingFileError")
    exists = CliRunner().invoke(
        cli,
        [
            "store",
            "convert",
            str(data_dir / "dy_1k.lhe.gz"),
            str(wz_store),
            "--quiet",
            "--no-reweighting",
        ],
    )
    _assert_clean_error(exists, "StoreExistsError")
    unknown = CliRunner().invoke(
        cli,
        [
            "store",
            "convert",
            str(data_dir / "wz_parton_1k.lhe.gz"),
            str(tmp_path / "x.h5"),
            "--parameters",
            "cHWB,cFoo",
            "--quiet",
        ],
    )
    assert "cFoo" in _assert_clean_error(unknown, "UnknownParameterError")
    not_store = tmp_path / "fake.h5"
    not_store.write_text("nope")
    _assert_clean_error(
        CliRunner().invoke(cli, ["store", "inspect", str(not_store)]), "StoreFormatError"
    )


def test_inspect_shipped_drell_yan() -> None:
    result = run("store", "inspect", sample_path("drell_yan"), "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["n_events"] == {"parton": 50000}
    assert info["parameters"] == []
    assert info["basis"]["ids"] == ["nominal"]
    assert info["cross_section_theta0_pb"] == pytest.approx(843.23, rel=1e-6)
    assert info["shards"][0]["seed"] == 4242


def test_basis_command() -> None:
    result = run("basis", "--param", "a=-4,4", "--param", "b=-0.2,0.2", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    points = np.array(info["points"])
    assert points.shape == (6, 2)
    assert [0.0, 0.0] in info["points"]  # θ0 is part of the basis by default
    assert np.all(np.abs(points[:, 0]) <= 4)
    assert np.all(np.abs(points[:, 1]) <= 0.2)
    assert 1 <= info["condition_number"] < 1e6
    assert info["expected_squared_weight"] > 0
    text = run("basis", "--param", "a=-4,4", "--param", "b=-0.2,0.2")
    assert "cond(W)" in text.output
    assert "b05" in text.output


def test_basis_command_bad_range() -> None:
    result = run("basis", "--param", "a=1")
    assert result.exit_code == 1
    assert "Error: InputError: --param: expected NAME=LOW,HIGH" in result.output
