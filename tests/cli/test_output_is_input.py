"""An output that resolves to an input is refused by convert, merge and produce (issue 15 #4).

``madsbi store convert X X --overwrite`` replaced the LHE file X with the store made from
it. The same path, a symbolic link and a hard link to an input are refused before anything
is written, with or without ``--overwrite``, and the input stays byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from madsbi.cli.main import cli
from madsbi.errors import ConfigError, InputError
from madsbi.events.convert import convert_lhe
from madsbi.events.merge import merge_stores
from madsbi.events.meta import ShardInfo
from madsbi.production import ProductionPlan

from helpers.stores import make_meta, random_parton, write_store


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def same(source: Path) -> Path:
    return source


def relative(source: Path) -> Path:
    return Path(os.path.relpath(source.parent / "." / source.name))


def symlink(source: Path) -> Path:
    link = source.parent / f"link-{source.name}"
    link.symlink_to(source)
    return link


def hardlink(source: Path) -> Path:
    link = source.parent / f"hard-{source.name}"
    os.link(source, link)
    return link


ALIASES: dict[str, Callable[[Path], Path]] = {
    "same path": same,
    "relative path": relative,
    "symbolic link": symlink,
    "hard link": hardlink,
}
HOW = {
    "same path": "the same path",
    "relative path": "the same path",
    "symbolic link": "symbolic link",
    "hard link": "hard link",
}


@pytest.fixture
def lhe(data_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / "events.lhe.gz"
    shutil.copy(data_dir / "wz_parton_1k.lhe.gz", path)
    return path


@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("overwrite", [True, False])
def test_convert_onto_its_source_is_refused(
    lhe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alias: str, overwrite: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    before = digest(lhe)
    output = ALIASES[alias](lhe)
    result = run("store", "convert", lhe, output, "--quiet", *(["--overwrite"] * overwrite))
    assert result.exit_code == 1, result.output
    assert "InputError: convert: the output" in result.output
    assert f"is the input {lhe}" in result.output
    assert HOW[alias] in result.output
    assert digest(lhe) == before
    assert digest(output) == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_convert_api_onto_its_source_is_refused(lhe: Path) -> None:
    before = digest(lhe)
    with pytest.raises(InputError, match="is the input"):
        convert_lhe(lhe, lhe, overwrite=True)
    assert digest(lhe) == before


def test_convert_to_another_file_still_works(lhe: Path, tmp_path: Path) -> None:
    result = run("store", "convert", lhe, tmp_path / "out.h5", "--quiet", "--max-events", "20")
    assert result.exit_code == 0, result.output


@pytest.fixture
def shards(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(15)
    return [
        write_store(
            tmp_path / f"shard{i}.h5",
            make_meta(),
            [random_parton(rng, 50)],
            shard=ShardInfo(f"s{i}", 50, seed=i, source="test"),
        )
        for i in range(2)
    ]


@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("position", [0, 1])
def test_merge_onto_one_of_its_inputs_is_refused(
    shards: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    alias: str,
    position: int,
) -> None:
    monkeypatch.chdir(tmp_path)
    before = [digest(s) for s in shards]
    output = ALIASES[alias](shards[position])
    result = run("store", "merge", output, *shards, "--overwrite", "--quiet")
    assert result.exit_code == 1, result.output
    assert "InputError: merge: the output" in result.output
    assert f"is the input {shards[position]}" in result.output
    assert [digest(s) for s in shards] == before
    with pytest.raises(InputError, match="is the input"):
        merge_stores(output, shards, overwrite=True)
    assert [digest(s) for s in shards] == before


def test_merge_into_a_new_file_still_works(shards: list[Path], tmp_path: Path) -> None:
    result = run("store", "merge", tmp_path / "all.h5", *shards, "--quiet")
    assert result.exit_code == 0, result.output


# -- produce --------------------------------------------------------------------------------


def plan_text(gridpack: str, output_dir: str = "prod", name: str = "wz") -> str:
    return f"""
[production]
name = "{name}"
n_jobs = 2
events_per_job = 10
output_dir = "{output_dir}"
gridpack = "{gridpack}"
"""


def write_plan(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(text)
    return path


def test_produce_gridpack_that_is_the_merged_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "prod").mkdir()
    gridpack = tmp_path / "prod" / "wz.h5"
    gridpack.write_bytes(b"a gridpack with an unlucky name")
    with pytest.raises(ConfigError, match=r"gridpack .* is the merged store"):
        ProductionPlan.from_toml(write_plan(tmp_path, plan_text("prod/wz.h5")))
    # through a symbolic link to it as well (the plan resolves the link)
    (tmp_path / "gp.tar.gz").symlink_to(gridpack)
    with pytest.raises(ConfigError, match="is the merged store"):
        ProductionPlan.from_toml(write_plan(tmp_path, plan_text("gp.tar.gz")))
    result = run("produce", write_plan(tmp_path, plan_text("prod/wz.h5")), "--quiet")
    assert result.exit_code == 1, result.output
    assert "is the merged store" in result.output
    assert gridpack.read_bytes() == b"a gridpack with an unlucky name"


@pytest.mark.parametrize("folder", ["shards", "scratch", "logs"])
def test_produce_gridpack_inside_a_folder_it_writes_is_refused(tmp_path: Path, folder: str) -> None:
    (tmp_path / "prod" / folder).mkdir(parents=True)
    (tmp_path / "prod" / folder / "gp.tar.gz").write_bytes(b"x")
    with pytest.raises(ConfigError, match=f"lies in .*{folder}"):
        ProductionPlan.from_toml(write_plan(tmp_path, plan_text(f"prod/{folder}/gp.tar.gz")))


def test_produce_output_inside_an_unpacked_gridpack_is_refused(tmp_path: Path) -> None:
    (tmp_path / "gridpack").mkdir()
    (tmp_path / "gridpack" / "run.sh").write_text("#!/bin/sh\n")
    for output_dir in ("gridpack", "gridpack/out"):
        with pytest.raises(ConfigError, match="copy the gridpack into itself"):
            ProductionPlan.from_toml(write_plan(tmp_path, plan_text("gridpack", output_dir)))
    # a --out override is checked too
    plan = ProductionPlan.from_toml(write_plan(tmp_path, plan_text("gridpack", "out")))
    with pytest.raises(ConfigError, match="copy the gridpack into itself"):
        plan.replace(output_dir=str(tmp_path / "gridpack" / "run"))


def test_produce_gridpack_beside_the_outputs_is_fine(tmp_path: Path) -> None:
    (tmp_path / "gp.tar.gz").write_bytes(b"x")
    plan = ProductionPlan.from_toml(write_plan(tmp_path, plan_text("gp.tar.gz", ".")))
    assert plan.merged_path == tmp_path / "wz.h5"
