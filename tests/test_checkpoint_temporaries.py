"""Temporaries of checkpoints left by a killed training are removed (issue 29 #15).

A SIGKILL while ``torch.save`` writes ``.checkpoint.pt.tmp-*`` leaves that file; the next save
into the directory removes it, as the stores' writers do with their own temporaries.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from madsbi import _checkpoint as checkpoint
from madsbi.events.tempfiles import temporary_path

#: Saves a 40 MB checkpoint into DIR over and over until killed.
_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import torch
    from madsbi import _checkpoint as checkpoint
    state = {"w": torch.zeros(10_000_000)}
    while True:
        checkpoint.save(state, Path(sys.argv[1]) / "checkpoint.pt")
    """
)


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".checkpoint.pt.tmp-")]


def _killed_mid_save(folder: Path) -> list[Path]:
    """Temporaries a SIGKILL left, trying until one was caught mid-write."""
    for _ in range(20):
        process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(folder)],
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        try:
            for _ in range(60000):  # polls: at most ~10 min on a loaded machine
                if _temporaries(folder) or process.poll() is not None:
                    break
                time.sleep(0.005)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
        assert process.returncode == -signal.SIGKILL
        left = _temporaries(folder)
        if left:
            return left
    pytest.fail("no save was caught mid-write in 20 tries")


def test_a_killed_save_leaves_a_temporary_that_the_next_save_removes(tmp_path: Path) -> None:
    left = _killed_mid_save(tmp_path)
    import torch

    checkpoint.save({"w": torch.ones(3)}, tmp_path / "checkpoint.pt")
    assert all(not p.exists() for p in left)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]
    assert checkpoint.load(tmp_path / "checkpoint.pt")["w"].tolist() == [1.0, 1.0, 1.0]


def test_temporaries_of_live_processes_are_kept(tmp_path: Path) -> None:
    import torch

    live = temporary_path(tmp_path / "checkpoint.pt")  # this (live) process
    live.write_bytes(b"partial")
    checkpoint.save({"w": torch.ones(1)}, tmp_path / "checkpoint.pt")
    assert live.exists()
    # checkpoint temporaries carry the host like the stores', so a shared file system is safe
    assert checkpoint.temporary_name(tmp_path / "x.pt").name.startswith(
        temporary_path(tmp_path / "x.pt").name.rsplit("-", 1)[0]
    )
