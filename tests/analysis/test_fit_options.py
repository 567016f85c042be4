"""``madsbi fit`` options and output checked before the fit (issue 29, items 9 and 10).

Each case failed on main at a8482b3: the bad option reached the data reading (a missing data
file then spoke first) or the fit itself (tracebacks, a 74.5 GiB grid), ``--at cHWB=1,cHWB=2``
silently took the last value, ``--luminosity inf`` was refused as a weight at event 0, and an
unusable ``--out`` was found only after the whole fit. Damaged ``/meta`` of a data store is
refused by its digests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import pytest
from click.testing import CliRunner

import madsbi
from madsbi.analysis.load import Analysis
from madsbi.cli.main import cli
from madsbi.data import sample_path
from madsbi.errors import InputError, StoreCorruptError

from helpers.stores import copy_parton_store


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return madsbi.load_analysis("wz_parton_paper")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"points_2d": 0}, r"points_2d \(--points-2d\): expected an integer in \[2, 1001\], got 0"),
        ({"points_2d": -3}, "points_2d"),
        ({"points_2d": 100000}, r"points_2d .*got 100000"),
        ({"points_profile": 0}, r"points_profile \(--points-profile\)"),
        ({"points_1d": -5}, r"points_1d: expected an integer .* got -5"),
        ({"points_2d": 2.5}, "points_2d"),
        ({"at": [[1.0, 2.0]]}, r"at: expected points of 3 values"),
        ({"at": [[1.0, float("nan"), 0.0]]}, "is not finite"),
        ({"at": "cHWB=1"}, "expected a list of points"),
        ({"at": ["cHWB=1,cHWB=2"]}, "cHWB is given more than once"),
        ({"luminosity": float("inf")}, r"luminosity: expected a finite number > 0, got inf"),
        ({"rate_factor": -1.0}, "rate_factor: expected a finite number > 0"),
        ({"levels": [1.5]}, r"levels: expected numbers in \(0, 1\)"),
    ],
)
def test_bad_options_are_refused_before_the_data(
    analysis: Analysis, tmp_path: Path, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(InputError, match=match):
        analysis.fit(tmp_path / "missing.h5", **options)


def _fit(tmp_path: Path, *args: str) -> tuple[int, str]:
    run = CliRunner().invoke(
        cli, ["fit", "wz_parton_paper", str(tmp_path / "missing.h5"), *args, "--no-figures"]
    )
    return run.exit_code, run.output


def test_cli_options_name_themselves(tmp_path: Path) -> None:
    out = ["--out", str(tmp_path / "out")]
    for args, match in (
        (["--at", "cHWB=1,cHWB=2"], "cHWB is given more than once"),
        (["--luminosity", "inf"], "--luminosity: expected a finite number > 0, got inf"),
        (["--rate-factor", "0"], "--rate-factor: expected a finite number > 0"),
        (["--points-2d", "100000"], "--points-2d"),
        (["--points-2d", "0"], "--points-2d"),
        (["--points-profile", "0"], "--points-profile"),
    ):
        code, output = _fit(tmp_path, *out, *args)
        assert code == 1, output
        assert match in output
        assert "Traceback" not in output


@pytest.fixture
def no_fit(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Analysis.fit replaced by a recorder: the output must be refused before it runs."""
    calls: list[Any] = []

    def record(self: Analysis, data: Any, **options: Any) -> None:
        calls.append(data)
        raise RuntimeError("the fit ran")

    monkeypatch.setattr(Analysis, "fit", record)
    return calls


def test_out_below_a_file_is_refused_before_the_fit(tmp_path: Path, no_fit: list[Any]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, output = _fit(tmp_path, "--out", str(blocker / "sub"))
    assert code == 1, output
    assert f"--out {blocker / 'sub'}" in output
    assert no_fit == []
    code, output = _fit(tmp_path, "--out", str(blocker))  # click's own check (usage error)
    assert code == 2
    assert no_fit == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_unwritable_out_is_refused_before_the_fit(tmp_path: Path, no_fit: list[Any]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, output = _fit(tmp_path, "--out", str(locked))
    finally:
        locked.chmod(0o700)
    assert code == 1, output
    assert f"--out {locked}: the output directory is not writable" in output
    assert no_fit == []


def test_damaged_meta_of_the_data_is_refused(analysis: Analysis, tmp_path: Path) -> None:
    copy = copy_parton_store(sample_path("wpz_parton_bsm"), tmp_path / "bsm.h5")
    with h5py.File(copy, "r+") as f:
        f["meta/basis_cross_sections"][0] *= 2.0
    with pytest.raises(StoreCorruptError, match="basis_cross_sections"):
        analysis.fit(copy, methods=["nope"])
