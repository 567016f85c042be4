"""Study output directories: a file in the way, an uncreatable or unwritable directory, or a
second run into a directory another run is writing give an OutputError naming ``--out``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from madsbi._outdir import LOCK_NAME, locked_output_dir, prepare_output_dir
from madsbi.cli.main import cli
from madsbi.errors import OutputError

STUDIES = {
    "toy": (["toy", "run"], "madsbi.studies.toy.run_toy_study"),
    "wz": (["run"], "madsbi.studies.wz.run_wz_study"),
    "binn": (["binn", "run"], "madsbi.studies.binn.run_binn_study"),
}

HOLD = """
import sys
from pathlib import Path
from madsbi._outdir import locked_output_dir
with locked_output_dir(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
"""


class _Reached(Exception):
    """Raised by the stand-in study function: the output directory was accepted."""


def _run(study: str, out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    args, target = STUDIES[study]
    seen: list[Path] = []

    def reached(settings: Any, out_dir: Path, **kwargs: Any) -> None:
        seen.append(out_dir)
        raise _Reached

    monkeypatch.setattr(target, reached)
    config = tmp_path / "study.toml"
    config.write_text("[training]\nbatch_size = 256\n")
    result = CliRunner().invoke(cli, [*args, str(config), "--out", str(out), "--quiet"])
    return result, seen


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_out_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, study: str) -> None:
    out = tmp_path / "taken"
    out.write_text("not a directory")
    result, seen = _run(study, out, tmp_path, monkeypatch)
    assert result.exit_code == 2  # click's usage error, one line, no traceback
    assert seen == []
    assert "is a file" in result.output
    assert out.read_text() == "not a directory"
    with pytest.raises(OutputError, match=f"--out {out}: exists and is not a directory"):
        prepare_output_dir(out)


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_out_under_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, study: str) -> None:
    parent = tmp_path / "file"
    parent.write_text("x")
    out = parent / "sub" / "out"
    result, seen = _run(study, out, tmp_path, monkeypatch)
    assert result.exit_code == 1
    assert seen == []
    assert f"OutputError: --out {out}: cannot create the output directory" in result.output
    assert parent.read_text() == "x"


def test_out_that_cannot_be_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(OutputError, match=r"--out .*: cannot create .*Permission denied"):
        prepare_output_dir(tmp_path / "new")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        result, seen = _run("toy", parent / "out", tmp_path, monkeypatch)
    finally:
        parent.chmod(0o700)
    assert result.exit_code == 1
    assert seen == []
    assert "OutputError" in result.output


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_second_run_into_a_locked_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, study: str
) -> None:
    out = tmp_path / "out"
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdin is not None
        try:
            assert holder.stdout.readline().strip() == "locked"
            result, seen = _run(study, out, tmp_path, monkeypatch)
        finally:
            holder.stdin.write("\n")
            holder.stdin.flush()
        assert holder.wait(timeout=60) == 0
    assert result.exit_code == 1
    assert seen == []
    assert f"another madsbi run (process {holder.pid})" in result.output
    # The first run is over: the directory is free again and the study is reached.
    result, seen = _run(study, out, tmp_path, monkeypatch)
    assert isinstance(result.exception, _Reached)
    assert seen == [out]


def test_lock_is_released_after_a_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), locked_output_dir(tmp_path / "o"):
        raise RuntimeError("boom")
    with locked_output_dir(tmp_path / "o") as path:
        assert (path / LOCK_NAME).read_text().strip() == str(os.getpid())
        second = locked_output_dir(tmp_path / "o")
        with pytest.raises(OutputError, match=f"process {os.getpid()}"):
            second.__enter__()


def test_file_system_without_locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_locks(fd: int, operation: int) -> None:
        raise OSError(37, "No locks available")

    monkeypatch.setattr("madsbi._outdir.fcntl.flock", no_locks)
    with pytest.raises(OutputError, match=r"cannot lock \.madsbi\.lock \(No locks available\)"):
        locked_output_dir(tmp_path / "o").__enter__()
