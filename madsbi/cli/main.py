"""Entry point of the ``madsbi`` command."""

from __future__ import annotations

from typing import Any

import click

from madsbi import __version__
from madsbi.cli.binn import binn
from madsbi.cli.fit import fit
from madsbi.cli.mg5 import mg5
from madsbi.cli.produce import produce
from madsbi.cli.run import run
from madsbi.cli.simulate import simulate
from madsbi.cli.store import store
from madsbi.cli.theory import basis
from madsbi.cli.toy import toy
from madsbi.cli.trim import analysis_trim
from madsbi.errors import MadSBIError


class _Group(click.Group):
    """Turns madsbi errors into one clean line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MadSBIError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="madsbi")
def cli() -> None:
    """madsbi: simulation-based inference for MadGraph5_aMC@NLO events."""


cli.add_command(analysis_trim)
cli.add_command(basis)
cli.add_command(binn)
cli.add_command(fit)
cli.add_command(mg5)
cli.add_command(produce)
cli.add_command(run)
cli.add_command(simulate)
cli.add_command(store)
cli.add_command(toy)


def main() -> None:
    """Console-script entry point."""
    cli()
