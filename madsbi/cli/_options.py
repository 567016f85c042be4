"""Options several commands share.

The study commands' ``… run CONFIG --out DIR`` set and the stores' ``--compression``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from madsbi.events import schema

F = TypeVar("F", bound=Callable[..., Any])


def study_options(command: F) -> F:
    """CONFIG argument, ``--out``, ``--threads``, ``--no-figures`` and ``--quiet``."""
    decorators = [
        click.argument("config", type=click.Path(dir_okay=False, path_type=Path)),
        click.option(
            "--out",
            "out_dir",
            type=click.Path(file_okay=False, path_type=Path),
            required=True,
            help="Output directory (re-running resumes from its checkpoints; locked while a "
            "run writes into it).",
        ),
        click.option(
            "--threads",
            type=int,
            default=0,
            show_default=True,
            help="Torch CPU threads (0: torch's default).",
        ),
        click.option("--no-figures", is_flag=True, help="Skip the PNG figures."),
        click.option("--quiet", is_flag=True, help="No progress bars."),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def set_threads(threads: int) -> None:
    """Limit torch to ``threads`` CPU threads (0 keeps torch's default)."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def compression_filter(value: str) -> str | None:
    """The HDF5 filter of a ``--compression`` choice (``none`` → None)."""
    return None if value == "none" else value


compression_option = click.option(
    "--compression",
    type=click.Choice(["lzf", "gzip", "none"]),
    default=str(schema.DEFAULT_COMPRESSION).lower(),
    show_default=True,
    help="HDF5 filter: none is fastest, lzf about 2x smaller, gzip smallest.",
)
"""The ``--compression`` option of the commands that write a store."""
