"""Issue 29 #14: absurd sizes are refused with the numbers before anything starts.

At a8482b3 ``toy generate -n 10**12`` began filling the disk, and ``toy run``/``run`` with
``hidden = [10**9, 8]``, ``members = 10**8``, ``n_test = 10**12``, a 10⁹-point grid or
``n_toys = 10**12`` started the study (and ended in an allocation traceback or a full disk).
Here the studies are replaced by a stub that fails if called, so each case fails at
a8482b3 without doing that work; after the fix the command is refused first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import pytest
import tomllib
from click.testing import CliRunner, Result

import madsbi.cli.toy
import madsbi.studies.toy
import madsbi.studies.wz
from madsbi.cli import _resources
from madsbi.cli._resources import Need, check_needs, toy_study_needs, wz_study_needs
from madsbi.cli.main import cli
from madsbi.errors import ResourceError
from madsbi.studies.toy_config import ToyStudyConfig
from madsbi.studies.wz_config import WZStudyConfig
from madsbi.studies.wz_reco_config import WZRecoStudyConfig

from helpers.toml import write_toml

EXAMPLES = Path(__file__).parents[2] / "examples"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _never(*args: Any, **kwargs: Any) -> NoReturn:
    raise AssertionError("the study started")


@pytest.fixture(autouse=True)
def no_studies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(madsbi.studies.toy, "run_toy_study", _never)
    monkeypatch.setattr(madsbi.studies.wz, "run_wz_study", _never)
    monkeypatch.setattr(madsbi.cli.toy, "generate_toy_store", _never)


def _config(tmp_path: Path, example: str, changes: dict[str, dict[str, Any]]) -> Path:
    document = tomllib.loads((EXAMPLES / example).read_text())
    for section, values in changes.items():
        document.setdefault(section, {}).update(values)
    return write_toml(tmp_path / "config.toml", document)


def test_toy_generate_too_many_events(tmp_path: Path) -> None:
    out = tmp_path / "t.h5"
    result = run("toy", "generate", "--alpha", "1", "--theta", "0", "-n", 10**12, out)
    assert result.exit_code == 1, result.output
    assert "ResourceError" in result.stderr
    assert "-n 1,000,000,000,000" in result.stderr
    assert "TB of disk" in result.stderr
    assert list(tmp_path.iterdir()) == []


TOY_CASES = {
    "hidden 1e9": ({"network": {"hidden": [10**9, 8]}}, "hidden [1000000000, 8]"),
    "members 1e8": ({"network": {"members": 10**8}}, "members 100000000"),
    "n_test 1e12": ({"study": {"n_test": 10**12}}, "n_test = 1,000,000,000,000"),
    "grid 1e9": ({"study": {"grid": [-1.5, 1.5, 10**9]}}, "grid of 1,000,000,000"),
    "n_toys 1e12": ({"coverage": {"n_toys": 10**12}}, "n_toys = 1,000,000,000,000"),
}


@pytest.mark.parametrize("case", list(TOY_CASES))
def test_toy_run_absurd_sizes(tmp_path: Path, case: str) -> None:
    changes, text = TOY_CASES[case]
    config = _config(tmp_path, "toy_alpha1p5.toml", changes)
    result = run("toy", "run", config, "--out", tmp_path / "out", "--no-figures", "--quiet")
    assert result.exit_code == 1, result.output
    assert "ResourceError" in result.stderr
    assert text in result.stderr
    assert "of memory" in result.stderr
    assert "Traceback" not in result.output


WZ_CASES = {
    "hidden 1e9": ({"network": {"hidden": [10**9, 8]}}, "hidden [1000000000, 8]"),
    "members 1e8": ({"network": {"members": 10**8}}, "members 100000000"),
    "2D grid of 1e9 points": ({"analysis": {"points_2d": 31623}}, "points_2d 31,623"),
}


@pytest.mark.parametrize("case", list(WZ_CASES))
def test_run_absurd_sizes(tmp_path: Path, case: str) -> None:
    changes, text = WZ_CASES[case]
    config = _config(tmp_path, "wz_parton.toml", changes)
    result = run("run", config, "--out", tmp_path / "out", "--no-figures", "--quiet")
    assert result.exit_code == 1, result.output
    assert "ResourceError" in result.stderr
    assert text in result.stderr
    assert "Traceback" not in result.output


def test_reco_run_absurd_coverage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import madsbi.studies.wz_reco

    monkeypatch.setattr(madsbi.studies.wz_reco, "run_wz_reco_study", _never)
    config = _config(tmp_path, "wz_reco.toml", {"analysis": {"coverage_points": 10001}})
    result = run("run", config, "--out", tmp_path / "out", "--no-figures", "--quiet")
    assert result.exit_code == 1, result.output
    assert "ResourceError" in result.stderr
    assert "coverage_points 10,001" in result.stderr


def test_examples_fit_easily() -> None:
    """The shipped example configs need far less than any machine has (no false refusal)."""
    for name in ("toy_alpha1p5.toml", "toy_alpha3.toml", "toy_alpha4_smearing.toml"):
        needs = toy_study_needs(ToyStudyConfig.from_toml(EXAMPLES / name))
        assert sum(n.memory for n in needs) < 1e9
    for name in ("wz_parton.toml", "wz_parton_paper.toml", "wz_pm_parton.toml"):
        needs = wz_study_needs(WZStudyConfig.from_toml(EXAMPLES / name))
        assert sum(n.memory for n in needs) < 1e9
    for name in ("wz_reco.toml", "wz_reco_paper.toml"):
        needs = wz_study_needs(WZRecoStudyConfig.from_toml(EXAMPLES / name))
        assert sum(n.memory for n in needs) < 1e9


def test_check_needs_reports_the_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_resources, "available_memory", lambda: 2_000_000_000)
    needs = [Need("big part", memory=3_000_000_000), Need("small part", memory=1_000_000)]
    with pytest.raises(ResourceError, match=r"at least 3\.0 GB of memory") as caught:
        check_needs(needs, tmp_path, what="test")
    assert caught.value.resource == "memory"
    assert caught.value.needed == 3_001_000_000
    assert caught.value.available == 2_000_000_000
    assert "big part: 3.0 GB" in str(caught.value)
    assert "2.0 GB of memory available" in str(caught.value)
    check_needs([Need("fits", memory=1_000_000_000)], tmp_path, what="test")
    with pytest.raises(ResourceError, match="free disk at"):
        check_needs([Need("huge store", disk=10**18)], tmp_path, what="test")


def test_resource_error_is_an_input_error() -> None:
    assert issubclass(ResourceError, ValueError)
