"""``madsbi toy``: the analytic toy model of the paper's Sec. 3."""

from __future__ import annotations

from pathlib import Path

import click

from madsbi.simulate.toy import generate_toy_store


@click.group()
def toy() -> None:
    """Toy model (two Gaussians, paper Sec. 3)."""


@toy.command()
@click.option("--alpha", type=float, required=True, help="Separation of the Gaussians.")
@click.option("--theta", type=float, required=True, help="θ at which events are generated.")
@click.option("-n", "n_events", type=int, required=True, help="Number of events.")
@click.option("--theta0", type=float, default=0.0, show_default=True, help="Reference θ0.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def generate(
    alpha: float,
    theta: float,
    n_events: int,
    theta0: float,
    seed: int,
    overwrite: bool,
    quiet: bool,
    out: Path,
) -> None:
    """Generate toy events (parton z, reco x, exact coefficients) into the store OUT."""
    generate_toy_store(
        out,
        alpha=alpha,
        theta=theta,
        n_events=n_events,
        theta0=theta0,
        seed=seed,
        overwrite=overwrite,
        progress=not quiet,
    )
    click.echo(f"wrote {out}: {n_events:,} toy events at θ = {theta:g} (α = {alpha:g})")
