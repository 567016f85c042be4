"""``madsbi basis``: each --param once as NAME=LOW,HIGH, finite LOW < HIGH; --theta0 numbers."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from madsbi.cli.main import cli


def _basis(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["basis", *args])
    return result.exit_code, result.output


def test_valid_ranges_give_a_basis() -> None:
    code, output = _basis("--param", "cHWB=-4,4", "--param", "cW=-1,1", "--json")
    assert code == 0, output
    choice = json.loads(output)
    assert choice["parameters"] == ["cHWB", "cW"]
    assert len(choice["points"]) == 6  # 1 + 2 + 3 terms of a quadratic in two parameters


@pytest.mark.parametrize(
    ("params", "words"),
    [
        (["cHWB=-4,4", "cHWB=-1,1"], "['cHWB'] given more than once"),
        (["cHWB=-4,4", "cW=-1,1", " cHWB =0,1"], "['cHWB'] given more than once"),
        (["cHWB"], "expected NAME=LOW,HIGH, got 'cHWB'"),
        (["cHWB=1"], "expected NAME=LOW,HIGH, got 'cHWB=1'"),
        (["cHWB=1,2,3"], "expected NAME=LOW,HIGH, got 'cHWB=1,2,3'"),
        (["=1,2"], "expected NAME=LOW,HIGH, got '=1,2'"),
        (["cHWB=a,b"], "--param cHWB: expected numbers LOW,HIGH, got 'a,b'"),
        (["cHWB=4,-4"], "--param cHWB: expected LOW < HIGH, got 4,-4"),
        (["cHWB=1,1"], "--param cHWB: expected LOW < HIGH, got 1,1"),
        (["cHWB=-inf,4"], "--param cHWB: expected finite LOW,HIGH"),
        (["cHWB=nan,4"], "--param cHWB: expected finite LOW,HIGH"),
    ],
)
def test_bad_param_is_refused_by_name(params: list[str], words: str) -> None:
    args = [a for p in params for a in ("--param", p)]
    code, output = _basis(*args)
    assert code == 1
    assert "InputError" in output
    assert words in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("theta0", "words"),
    [
        ("0,x", "--theta0: expected 2 comma-separated numbers, got '0,x'"),
        ("0", "--theta0: expected 2 values, got 1"),
        ("0,nan", "--theta0: expected finite values"),
    ],
)
def test_bad_theta0_is_refused(theta0: str, words: str) -> None:
    code, output = _basis("--param", "cHWB=-4,4", "--param", "cW=-1,1", "--theta0", theta0)
    assert code == 1
    assert words in output
