"""``store convert`` options that were accepted silently (issue 15 #6, first half).

``--parameters ""`` wrote a store with no parameters, ``--holdout-tolerance nan`` switched the
held-out check off and ``-1`` failed it with a misleading WeightError. Each is now an
InputError naming the option, before any file is written; the API refuses the same values by
argument name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from madsbi.cli.main import cli
from madsbi.errors import InputError
from madsbi.events.convert import convert_lhe
from madsbi.events.store import EventStore


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def lhe(data_dir: Path) -> Path:
    return data_dir / "wz_parton_1k.lhe.gz"


@pytest.mark.parametrize(
    ("option", "value"),
    [("--parameters", ""), ("--parameters", " , "), ("--basis", ""), ("--basis", ",")],
)
def test_empty_name_lists_are_refused(lhe: Path, tmp_path: Path, option: str, value: str) -> None:
    out = tmp_path / "out.h5"
    result = run("store", "convert", lhe, out, option, value, "--quiet")
    assert result.exit_code == 1, result.output
    assert f"InputError: {option}: expected a comma-separated list of names" in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "-0.0"])
def test_holdout_tolerance_must_be_finite_and_positive(
    lhe: Path, tmp_path: Path, value: str
) -> None:
    out = tmp_path / "out.h5"
    result = run("store", "convert", lhe, out, "--holdout-tolerance", value, "--quiet")
    assert result.exit_code == 1, result.output
    assert "InputError: --holdout-tolerance: expected a finite number > 0" in result.output
    assert "WeightError" not in result.output
    assert not out.exists()


def test_max_events_must_be_positive(lhe: Path, tmp_path: Path) -> None:
    result = run("store", "convert", lhe, tmp_path / "out.h5", "--max-events", "0")
    assert result.exit_code == 2
    assert "--max-events" in result.output


def test_valid_options_still_convert(lhe: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    result = run(
        "store",
        "convert",
        lhe,
        out,
        "--parameters",
        "cHWB,cW",
        "--holdout-tolerance",
        "1e-3",
        "--max-events",
        "30",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    with EventStore(out) as store:
        assert store.meta.space.names == ("cHWB", "cW")
        assert store.n_events() == 30


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"parameters": []}, "parameters: expected at least one parameter name"),
        ({"parameters": ()}, "parameters: expected at least one parameter name"),
        ({"basis_ids": []}, "basis_ids: expected at least one weight id"),
        ({"holdout_tolerance": float("nan")}, "holdout_tolerance: expected a finite number > 0"),
        ({"holdout_tolerance": -1.0}, "holdout_tolerance: expected a finite number > 0"),
        ({"holdout_tolerance": 0.0}, "holdout_tolerance: expected a finite number > 0"),
    ],
)
def test_api_refuses_the_same_values(
    lhe: Path, tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    out = tmp_path / "out.h5"
    with pytest.raises(InputError, match=message):
        convert_lhe(lhe, out, **kwargs)
    assert not out.exists()
