"""Progress reports: a handful of lines, not one per redraw, when stderr is a file or a pipe."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from madsbi import _progress
from madsbi._progress import LOG_STEPS, progress_bar

# A bar of 300 updates over about 1.5 s: tqdm on a pipe redraws every 0.1 s (15+ records).
SLOW_BAR = """
import time
from madsbi._progress import progress_bar
with progress_bar(300, "slow work", unit="step") as bar:
    for _ in range(300):
        time.sleep(0.005)
        bar.update(1)
"""


def records(text: str) -> list[str]:
    """What a log viewer shows as lines: carriage returns count like newlines."""
    return [r for r in text.replace("\r", "\n").split("\n") if r.strip()]


def test_a_bar_into_a_pipe_writes_a_line_per_tenth() -> None:
    run = subprocess.run(
        [sys.executable, "-c", SLOW_BAR], capture_output=True, text=True, check=True, timeout=120
    )
    lines = records(run.stderr)
    assert len(lines) == LOG_STEPS  # 10 % … 90 % and the end
    assert "\r" not in run.stderr
    assert [line.split(": ")[1].split(" %")[0] for line in lines[:-1]] == [
        str(p) for p in range(10, 100, 10)
    ]
    assert lines[-1].startswith("slow work: done (300/300 step)")
    assert run.stdout == ""


def test_a_cli_command_into_a_pipe_stays_short(data_dir: Path, tmp_path: Path) -> None:
    madsbi = shutil.which("madsbi", path=str(Path(sys.executable).parent))
    assert madsbi is not None
    source = data_dir / "wz_parton_1k.lhe.gz"
    run = subprocess.run(
        [madsbi, "store", "convert", str(source), str(tmp_path / "out.h5")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    lines = [r for r in records(run.stderr) if r.startswith(f"converting {source.name}")]
    assert 1 <= len(lines) <= LOG_STEPS
    assert "done (1000" in lines[-1]
    assert "\r" not in run.stderr


def test_unknown_total_reports_by_time(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(_progress, "_clock", lambda: now[0])
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with progress_bar(None, "open-ended", unit="ev") as bar:
        for _ in range(100):
            now[0] += 1.0  # one second per update: a line every LOG_INTERVAL = 30 updates
            bar.update(1)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "open-ended: 30 ev, 30.0 s",
        "open-ended: 60 ev, 60.0 s",
        "open-ended: 90 ev, 90.0 s",
        "open-ended: done (100 ev), 100.0 s",
    ]


def test_an_interrupted_bar_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)

    def interrupted() -> None:
        with progress_bar(10, "work") as bar:
            bar.update(3)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert stream.getvalue().splitlines()[-1].startswith("work: stopped (3/10 it)")


def test_big_steps_and_overshoot_write_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with progress_bar(1000, "chunks", unit="ev") as bar:
        bar.update(450)  # crosses four tenths at once: one line
        bar.update(600)  # past the total: no line beyond the end
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("chunks: 45 % (450/1000 ev)")
    assert lines[1].startswith("chunks: done (1050/1000 ev)")


def test_quiet_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with progress_bar(10, "quiet", enabled=False) as bar:
        bar.update(10)
    assert stream.getvalue() == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_the_tqdm_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    with progress_bar(5, "live", unit="ev") as bar:
        for _ in range(5):
            bar.update(1)
    text = stream.getvalue()
    assert "live" in text
    assert "\r" in text  # redrawn in place
    assert "done (" not in text
