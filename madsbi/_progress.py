"""Progress reports for long work on stderr: a tqdm bar on a terminal, a few lines elsewhere.

On a terminal, tqdm redraws one line in place. Written to a file or a pipe (a batch job's
log, CI), every redraw would become a line of its own, thousands per run; there, progress
is a plain line at every tenth of the work (at most every :data:`LOG_INTERVAL` seconds when
the total is unknown) and one at the end: at most a dozen lines per bar.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any, Protocol, TextIO

#: Lines per bar in a log: one per ``1/LOG_STEPS`` of the total.
LOG_STEPS = 10
#: Seconds between log lines when the total is unknown.
LOG_INTERVAL = 30.0

_clock = time.monotonic


class Progress(Protocol):
    """What madsbi needs from a progress bar."""

    def update(self, n: int = 1) -> Any:
        """Advance by ``n``."""


class _Silent:
    def update(self, n: int = 1) -> None:
        return None


class _LogLines:
    """Progress as whole lines: ``description: 40 % (400/1000 ev, 12.3 s)``."""

    def __init__(self, total: int | None, description: str, unit: str, stream: TextIO) -> None:
        self.total = total if total is not None and total > 0 else None
        self.description = description
        self.unit = unit
        self.stream = stream
        self.count = 0
        self.started = _clock()
        self.last_time = self.started
        self.next_step = 1  # the next tenth of the total to report

    def _write(self, text: str) -> None:
        elapsed = _clock() - self.started
        self.stream.write(f"{self.description}: {text}, {elapsed:.1f} s\n")
        self.stream.flush()
        self.last_time = _clock()

    def update(self, n: int = 1) -> None:
        self.count += n
        if self.total is None:
            if _clock() - self.last_time >= LOG_INTERVAL:
                self._write(f"{self.count} {self.unit}")
            return
        step = min(LOG_STEPS, self.count * LOG_STEPS // self.total)
        if step >= self.next_step and step < LOG_STEPS:
            percent = 100 * self.count // self.total
            self._write(f"{percent} % ({self.count}/{self.total} {self.unit})")
            self.next_step = step + 1

    def close(self, outcome: str = "done") -> None:
        total = "" if self.total is None else f"/{self.total}"
        self._write(f"{outcome} ({self.count}{total} {self.unit})")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


@contextlib.contextmanager
def progress_bar(
    total: int | None, description: str, *, unit: str = "it", enabled: bool = True
) -> Iterator[Progress]:
    """A tqdm bar on a terminal, a few log lines otherwise, or nothing when not ``enabled``.

    Parameters
    ----------
    total : int or None
        Amount of work, in ``unit``; None when unknown.
    description : str
        What is being done (the line's prefix).
    unit : str
        Unit of ``total`` and of ``update``'s argument.
    enabled : bool
        False: a no-op object with the same ``update`` (``--quiet``).
    """
    if not enabled:
        yield _Silent()
        return
    stream = sys.stderr
    if not _is_terminal(stream):
        lines = _LogLines(total, description, unit, stream)
        try:
            yield lines
        except BaseException:
            lines.close("stopped")
            raise
        lines.close()
        return
    from tqdm import tqdm

    with tqdm(
        total=total,
        desc=description,
        unit=unit,
        unit_scale=True,
        dynamic_ncols=True,
        leave=False,
        file=stream,
    ) as bar:
        yield bar
