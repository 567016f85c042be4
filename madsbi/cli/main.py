"""Entry point of the ``madsbi`` command.

Every command reports failures the same way (:class:`_Group`): a madsbi error, an operating
system error (a full disk, a file that cannot be read) or an exhausted memory is one line on
stderr and exit status 1; Ctrl-C (SIGINT, a KeyboardInterrupt) is one line and exit status
130, and a SIGTERM that a command handles (while it writes a store) exits with 143. No
traceback is printed unless asked for with ``madsbi --debug`` or the environment variable
``MADSBI_DEBUG=1``.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import traceback
from typing import Any

import click

from madsbi import __version__
from madsbi.cli.backgrounds import analysis_backgrounds
from madsbi.cli.binn import binn
from madsbi.cli.coverage import coverage
from madsbi.cli.fit import fit
from madsbi.cli.mg5 import mg5
from madsbi.cli.nuisances import analysis_nuisances
from madsbi.cli.produce import produce
from madsbi.cli.run import run
from madsbi.cli.simulate import simulate
from madsbi.cli.store import store
from madsbi.cli.theory import basis
from madsbi.cli.toy import toy
from madsbi.cli.trim import analysis_trim
from madsbi.errors import MadSBIError
from madsbi.events.tempfiles import Interrupted

#: Environment variable that, set to anything but ``""`` or ``"0"``, shows tracebacks.
DEBUG_ENV = "MADSBI_DEBUG"
#: Exit status of a command stopped by Ctrl-C (SIGINT), as a shell reports it.
EXIT_INTERRUPTED = 128 + signal.SIGINT
_HINT = "(madsbi --debug, or MADSBI_DEBUG=1, shows the traceback)"


def debug_requested(ctx: click.Context | None = None) -> bool:
    """Whether tracebacks were asked for (``--debug`` or :data:`DEBUG_ENV`)."""
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        return True
    return bool(ctx is not None and ctx.params.get("debug"))


def _interrupted(exc: KeyboardInterrupt, debug: bool) -> SystemExit:
    if debug:
        traceback.print_exc()
    # A store write stopped by SIGINT has already said so (madsbi.events.tempfiles).
    if not isinstance(exc, Interrupted):
        sys.stderr.write("\nmadsbi: interrupted (SIGINT, Ctrl-C); stopped\n")
    return SystemExit(EXIT_INTERRUPTED)


class _Group(click.Group):
    """Turns errors and Ctrl-C into one clean line on stderr (see the module docstring)."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = debug_requested(ctx)
        try:
            return super().invoke(ctx)
        except MadSBIError as exc:
            if debug:
                raise
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
        except KeyboardInterrupt as exc:
            raise _interrupted(exc, debug) from None
        except OSError as exc:
            if debug or exc.errno == errno.EPIPE:  # click handles a closed pipe itself
                raise
            raise click.ClickException(f"{type(exc).__name__}: {exc} {_HINT}") from exc
        except MemoryError as exc:
            if debug:
                raise
            detail = f": {exc}" if str(exc) else ""
            raise click.ClickException(
                f"MemoryError{detail}: the machine's memory ran out; ask for less (fewer "
                f"events, smaller networks, grids or chunks) {_HINT}"
            ) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="madsbi")
@click.option(
    "--debug",
    is_flag=True,
    help=f"Show the full traceback of an error (also: {DEBUG_ENV}=1).",
)
def cli(debug: bool) -> None:
    """madsbi: simulation-based inference for MadGraph5_aMC@NLO events."""


cli.add_command(analysis_backgrounds)
cli.add_command(analysis_nuisances)
cli.add_command(analysis_trim)
cli.add_command(basis)
cli.add_command(binn)
cli.add_command(coverage)
cli.add_command(fit)
cli.add_command(mg5)
cli.add_command(produce)
cli.add_command(run)
cli.add_command(simulate)
cli.add_command(store)
cli.add_command(toy)


def main() -> None:
    """Console-script entry point."""
    try:
        cli()
    except KeyboardInterrupt as exc:  # outside a command (while parsing or starting up)
        raise _interrupted(exc, debug_requested()) from None
