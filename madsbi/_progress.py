"""Progress bars for long work (tqdm on stderr), silent when disabled."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol


class Progress(Protocol):
    """What madsbi needs from a progress bar."""

    def update(self, n: int = 1) -> Any:
        """Advance by ``n``."""


class _Silent:
    def update(self, n: int = 1) -> None:
        return None


@contextlib.contextmanager
def progress_bar(
    total: int | None, description: str, *, unit: str = "it", enabled: bool = True
) -> Iterator[Progress]:
    """A tqdm bar when ``enabled``, else a no-op object with the same ``update``."""
    if not enabled:
        yield _Silent()
        return
    from tqdm import tqdm

    with tqdm(
        total=total, desc=description, unit=unit, unit_scale=True, dynamic_ncols=True, leave=False
    ) as bar:
        yield bar
