"""``madsbi mg5``: install the MadGraph plugin and check that MadGraph can load it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from madsbi.madgraph.doctor import diagnose
from madsbi.madgraph.install import install_plugin, install_pythonpath, pythonpath_instructions
from madsbi.madgraph.plugin_shim import ENVIRONMENT_FILE


@click.group()
def mg5() -> None:
    """MadGraph5_aMC@NLO plugin (reweight=madsbi): install and diagnose."""


@mg5.command("install-plugin")
@click.option(
    "--mg5-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="MadGraph directory: the shim goes into MG5_DIR/PLUGIN/madsbi.",
)
@click.option(
    "--pythonpath-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Instead, write DIR/MG5aMC_PLUGIN/madsbi and print the PYTHONPATH line.",
)
@click.option("--force", is_flag=True, help="Replace a plugin folder madsbi did not write.")
def install_plugin_cmd(mg5_dir: Path | None, pythonpath_dir: Path | None, force: bool) -> None:
    """Install the thin plugin shim so that MadGraph accepts reweight=madsbi."""
    if mg5_dir is not None and pythonpath_dir is not None:
        raise click.UsageError("give only one of --mg5-dir or --pythonpath-dir")
    if mg5_dir is not None:
        path = install_plugin(mg5_dir, force=force)
        click.echo(f"installed {path}")
        click.echo(
            f"recorded madsbi's environment ({sys.executable}, Python "
            f"{sys.version_info[0]}.{sys.version_info[1]}) in {path.parent / ENVIRONMENT_FILE}: "
            "MadGraph started with another Python of this version finds madsbi through it"
        )
        click.echo(f"check it with: madsbi mg5 doctor --mg5-dir {mg5_dir}")
    elif pythonpath_dir is None:
        raise click.UsageError("give --mg5-dir (or --pythonpath-dir)")
    else:
        target = install_pythonpath(pythonpath_dir, force=force)
        click.echo(f"installed {target / 'MG5aMC_PLUGIN' / 'madsbi' / '__init__.py'}")
        click.echo(pythonpath_instructions(target))


@mg5.command()
@click.option(
    "--mg5-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="MadGraph directory.",
)
@click.option(
    "--python", "python", default=None, help="Interpreter to probe (default: MadGraph's)."
)
def doctor(mg5_dir: Path, python: str | None) -> None:
    """Import the plugin exactly as MadGraph does and print every error it would hide."""
    report = diagnose(mg5_dir, python=python)
    click.echo(report.format())
    if not report.ok:
        raise SystemExit(1)
