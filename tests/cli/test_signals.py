"""SIGTERM and SIGINT while a store is written: stop, remove the temporary, 143 / 130 (issue 29 #3).

Real signals to real commands in child processes. Before the fix the signal handler's
exception could land in a weakref callback of h5py and be swallowed: ``store merge`` wrote
on into the deleted temporary and, with SIGINT, completed and exited 0; ``toy generate``
went on writing after SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from madsbi.simulate.toy import generate_toy_store


@pytest.fixture(scope="module")
def big_toys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two stores large enough that a gzip merge takes seconds."""
    folder = tmp_path_factory.mktemp("big")
    a, b = folder / "a.h5", folder / "b.h5"
    generate_toy_store(a, alpha=3.0, theta=0.5, n_events=300_000, seed=1)
    generate_toy_store(b, alpha=3.0, theta=0.5, n_events=300_000, seed=2)
    return a, b


def default_sigint() -> None:
    """In the child: SIGINT as in a terminal (a shell that starts this test suite in the
    background without job control ignores SIGINT, and Python then never raises
    KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(cwd: Path, *args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from madsbi.cli.main import main; main()", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=default_sigint,
    )


def _wait_for_writing(process: subprocess.Popen[str], folder: Path, min_bytes: int) -> None:
    """Wait until the command's hidden temporary in ``folder`` holds ``min_bytes``."""
    for _ in range(60000):  # polls, not a time limit: at most ~10 min on a loaded machine
        hidden = [p for p in folder.iterdir() if p.name.startswith(".")]
        try:
            if hidden and hidden[0].stat().st_size >= min_bytes:
                return
        except FileNotFoundError:
            pass
        if process.poll() is not None:
            raise AssertionError(f"the command ended before the signal: {process.communicate()}")
        time.sleep(0.01)
    process.kill()
    raise AssertionError("the command never started writing")


def _check_stopped(
    process: subprocess.Popen[str], signum: int, folder: Path, out: Path, before: set[str]
) -> str:
    _, err = process.communicate(timeout=300)
    assert process.returncode == 128 + signum, (process.returncode, err[-3000:])
    assert f"received {signal.Signals(signum).name}" in err, err[-3000:]
    assert str(out) in err
    assert "Traceback" not in err, err[-3000:]
    assert "Exception ignored" not in err, err[-3000:]
    assert not out.exists()
    assert {p.name for p in folder.iterdir()} == before  # the temporary is gone
    return err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_store_merge(
    tmp_path: Path, big_toys: tuple[Path, Path], signum: signal.Signals
) -> None:
    out = tmp_path / "m.h5"
    process = _start(tmp_path, "store", "merge", "--quiet", "--compression", "gzip", out, *big_toys)
    _wait_for_writing(process, tmp_path, 2_000_000)
    process.send_signal(signum)
    _check_stopped(process, signum, tmp_path, out, set())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_toy_generate(tmp_path: Path, signum: signal.Signals) -> None:
    out = tmp_path / "t.h5"
    process = _start(
        tmp_path,
        "toy",
        "generate",
        "--alpha",
        "3",
        "--theta",
        "0.5",
        "-n",
        "5000000",
        "--quiet",
        out,
    )
    _wait_for_writing(process, tmp_path, 2_000_000)
    process.send_signal(signum)
    _check_stopped(process, signum, tmp_path, out, set())
