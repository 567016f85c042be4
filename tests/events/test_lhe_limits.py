"""The LHE reader's memory stays bounded whatever the file holds (issue 29 #7).

Before: a gzip bomb (zeros) was inflated whole into memory until ``std::bad_alloc``; a valid
file followed by hundreds of MB of newlines took twice that in RSS; a huge line was
buffered whole. Now a file that does not start like an LHE file is refused within its first
kilobytes, white space is skipped as it streams by, and the text between two tags is capped
at 64 MiB with an :class:`~madsbi.errors.LheFormatError`. Each case runs in a child process
whose peak RSS is measured.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from madsbi.errors import LheFormatError
from madsbi.events.lhe import LheFile

from helpers.lhe import read_text

MB = 1 << 20
DY = Path(__file__).parents[1] / "data" / "dy_1k.lhe.gz"

#: Reads LHE file ARGV[1] to the end; prints the outcome and the peak RSS in kB.
_CHILD = textwrap.dedent(
    """
    import resource, sys
    from madsbi.errors import LheFormatError
    from madsbi.events.lhe import LheFile
    n = 0
    try:
        with LheFile(sys.argv[1]) as lhe:
            for chunk in lhe.chunks(1000):
                n += chunk.n_events
        print("OK", n)
    except LheFormatError as exc:
        print("LheFormatError", exc)
    print("RSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def _read(path: Path) -> tuple[str, int]:
    """(first output line, peak RSS in MB) of reading ``path`` in a child process."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        # Not the repository root: `python -c` puts the working directory first on sys.path,
        # where the source tree has no compiled core when madsbi is installed as a wheel.
        cwd=path.parent,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    rss = int(lines[-1].split()[1]) // 1024
    return lines[0], rss


def _gzip(path: Path, pieces: Iterable[bytes]) -> Path:
    """Write the pieces as one gzip stream (fast level: the test data are repetitive)."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        for piece in pieces:
            out.write(deflate.compress(piece))
        out.write(deflate.flush())
    return path


def _repeat(byte: bytes, n_mb: int) -> Iterable[bytes]:
    block = byte * MB
    return (block for _ in range(n_mb))


@pytest.fixture(scope="module")
def baseline() -> int:
    """Peak RSS (MB) of reading the valid 1000-event fixture."""
    line, rss = _read(DY)
    assert line == "OK 1000"
    return rss


def test_a_gzip_bomb_is_refused_from_its_first_kilobytes(tmp_path: Path, baseline: int) -> None:
    bomb = _gzip(tmp_path / "bomb.lhe.gz", _repeat(b"\0", 400))
    assert bomb.stat().st_size < 2 * MB
    line, rss = _read(bomb)
    assert line.startswith("LheFormatError"), line
    assert "not a Les Houches Event file" in line
    assert "first 8 kB" in line
    assert str(bomb) in line
    assert rss < baseline + 64, (rss, baseline)


def test_white_space_after_the_document_streams_by(
    tmp_path: Path, data_dir: Path, baseline: int
) -> None:
    text = read_text(data_dir / "dy_1k.lhe.gz").encode()
    path = _gzip(tmp_path / "tail.lhe.gz", [text, *_repeat(b"\n", 400)])
    line, rss = _read(path)
    assert line == "OK 1000"
    assert rss < baseline + 64, (rss, baseline)


def test_white_space_between_events_streams_by(
    tmp_path: Path, data_dir: Path, baseline: int
) -> None:
    text = read_text(data_dir / "dy_1k.lhe.gz").encode()
    cut = text.index(b"<event>", text.index(b"<event>") + 1)  # before the second event
    path = _gzip(tmp_path / "gap.lhe.gz", [text[:cut], *_repeat(b" \n", 200), text[cut:]])
    line, rss = _read(path)
    assert line == "OK 1000"
    assert rss < baseline + 64, (rss, baseline)


@pytest.mark.parametrize("where", ["header", "event", "gap"])
def test_a_huge_line_is_refused_with_a_typed_error(
    tmp_path: Path, data_dir: Path, baseline: int, where: str
) -> None:
    text = read_text(data_dir / "dy_1k.lhe.gz").encode()
    second = text.index(b"<event>", text.index(b"<event>") + 1)
    cut = {
        "header": text.index(b"</init>"),
        "event": text.index(b"\n", second + len(b"<event>") + 1),  # inside event 1
        "gap": second,  # between events 0 and 1
    }[where]
    path = _gzip(tmp_path / "line.lhe.gz", [text[:cut], *_repeat(b"7", 300), text[cut:]])
    line, rss = _read(path)
    assert line.startswith("LheFormatError"), line
    assert "longer than 64 MiB" in line
    assert str(path) in line
    assert rss < baseline + 200, (rss, baseline)


def test_binary_garbage_is_refused_with_a_readable_message(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """The first bytes are quoted with non-ASCII shown as '?' (was a UnicodeDecodeError)."""
    path = tmp_path / "random.lhe"
    path.write_bytes(rng.integers(128, 256, 20_000, dtype=np.uint8).tobytes())
    with pytest.raises(LheFormatError, match="not a Les Houches Event file") as info:
        LheFile(path)
    assert "which begin '????" in str(info.value)
