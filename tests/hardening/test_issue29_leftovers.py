"""Issue 29 leftovers of items 8, 11 and 14 (checked against 14479bf, where each case fails).

- #14 for BINN: ``[evaluation] n_samples = 10**12`` (evaluated after training) started the
  training; now ``madsbi binn run`` is refused first, with the numbers.
- #11 for the direct API: ``madsbi.analysis.fit.fit(analysis, path)`` and ``read_store`` did
  not check the store structure (only ``Analysis.fit`` did).
- #8 for ``madsbi simulate reco --like``: a damaged ``analysis.json`` was a raw
  ``JSONDecodeError`` traceback; and ``"nuisances"`` passed the manifest schema unchecked
  (a bad entry was found only when fitting).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, NoReturn

import h5py
import pytest
import tomllib
from click.testing import CliRunner

import madsbi
import madsbi.studies.binn
from madsbi.analysis.data import read_store
from madsbi.analysis.fit import fit
from madsbi.analysis.names import shipped_analyses_dir
from madsbi.analysis.schema import read_manifest
from madsbi.cli._resources import binn_study_needs
from madsbi.cli.main import cli
from madsbi.errors import StoreFormatError
from madsbi.studies.binn_config import BINNStudyConfig

from helpers.toml import write_toml

EXAMPLES = Path(__file__).parents[2] / "examples"
SHIPPED = Path(madsbi.__file__).parent / "data" / "wpz_parton_bsm.h5"


def _never(*args: Any, **kwargs: Any) -> NoReturn:
    raise AssertionError("the study started")


def test_binn_absurd_n_samples_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(madsbi.studies.binn, "run_binn_study", _never)
    document = tomllib.loads((EXAMPLES / "binn_kicker.toml").read_text())
    document["evaluation"]["n_samples"] = 10**12
    config = write_toml(tmp_path / "config.toml", document)
    result = CliRunner().invoke(
        cli,
        ["binn", "run", str(config), "--out", str(tmp_path / "out"), "--no-figures", "--quiet"],
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    assert "ResourceError" in result.stderr
    assert "n_samples = 1,000,000,000,000" in result.stderr
    assert "TB of memory" in result.stderr
    assert "Traceback" not in result.output


def test_binn_examples_fit_easily() -> None:
    for path in sorted(EXAMPLES.glob("binn_*.toml")):
        needs = binn_study_needs(BINNStudyConfig.from_toml(path))
        assert needs, path
        assert sum(n.memory for n in needs) < 1e9, path
        assert sum(n.disk for n in needs) < 1e9, path


@pytest.fixture
def short_weights(tmp_path: Path) -> Path:
    path = tmp_path / "short.h5"
    shutil.copy(SHIPPED, path)
    with h5py.File(path, "r+") as f:
        weights = f["parton/weight"][()]
        del f["parton/weight"]
        f.create_dataset("parton/weight", data=weights[:-1])
    return path


def test_direct_fit_and_read_store_check_the_structure(short_weights: Path) -> None:
    with pytest.raises(StoreFormatError, match="/parton") as caught:
        read_store(short_weights, ["s"])
    assert str(short_weights) in str(caught.value)
    analysis = madsbi.load_analysis("wz_parton_paper")
    with pytest.raises(StoreFormatError, match="/parton"):
        fit(analysis, short_weights, methods=["exact"], select=["charge=1"])


def _analysis_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "analysis"
    shutil.copytree(shipped_analyses_dir() / "wz_parton_paper", copy)
    return copy


@pytest.mark.parametrize(
    "text", ['{"format": "madsbi-analysis", "parameters": [', "\xff\xfe not json"]
)
def test_simulate_reco_like_a_damaged_manifest(tmp_path: Path, text: str) -> None:
    analysis = tmp_path / "analysis"
    analysis.mkdir()
    (analysis / "analysis.json").write_text(text, encoding="latin-1")
    result = CliRunner().invoke(
        cli,
        ["simulate", "reco", str(SHIPPED), str(tmp_path / "out.h5"), "--like", str(analysis)],
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    assert "StoreFormatError" in result.stderr
    assert "analysis.json" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.h5").exists()


def test_simulate_reco_like_checks_the_schema(tmp_path: Path) -> None:
    copy = _analysis_copy(tmp_path)
    manifest = json.loads((copy / "analysis.json").read_text())
    manifest["projection"]["kind"] = "Unknown"
    (copy / "analysis.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(
        cli,
        ["simulate", "reco", str(SHIPPED), str(tmp_path / "out.h5"), "--like", str(copy)],
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    assert "StoreFormatError" in result.stderr
    assert "projection.kind" in result.stderr


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        ({"name": "lumi"}, r"nuisances: expected a list"),
        ([{"name": "lumi", "size": -1}], r"nuisances\[0\].*size"),
        ([{"name": "lumi", "size": 0.02, "kind": "histogram"}], r"nuisances\[0\] \(lumi\): kind"),
        ([{"name": "lumi", "size": 0.02, "colour": "red"}], r"nuisances\[0\]: unknown keys"),
        ([{"name": "a", "size": 0.1}, {"name": "a", "size": 0.2}], r"more than once"),
    ],
)
def test_manifest_nuisances_are_validated_on_load(tmp_path: Path, entries: Any, match: str) -> None:
    copy = _analysis_copy(tmp_path)
    manifest = json.loads((copy / "analysis.json").read_text())
    manifest["nuisances"] = entries
    (copy / "analysis.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreFormatError, match=match) as caught:
        read_manifest(copy)
    assert "analysis.json: nuisances" in str(caught.value)
    with pytest.raises(StoreFormatError, match=match):
        madsbi.load_analysis(copy)


def test_manifest_good_nuisances_pass(tmp_path: Path) -> None:
    copy = _analysis_copy(tmp_path)
    manifest = json.loads((copy / "analysis.json").read_text())
    manifest["nuisances"] = [{"name": "lumi", "kind": "normalisation", "size": 0.02}]
    (copy / "analysis.json").write_text(json.dumps(manifest))
    assert read_manifest(copy)["nuisances"][0]["name"] == "lumi"
