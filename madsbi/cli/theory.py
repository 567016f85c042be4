"""``madsbi basis``: choose a well-conditioned morphing basis for an analysis range."""

from __future__ import annotations

import json

import click

from madsbi.errors import InputError
from madsbi.theory.basis import optimise_basis


def _parse_range(text: str) -> tuple[str, float, float]:
    name, _, bounds = text.partition("=")
    low, _, high = bounds.partition(",")
    try:
        return name.strip(), float(low), float(high)
    except ValueError:
        raise InputError(f"--param: expected NAME=LOW,HIGH, got {text!r}") from None


@click.command()
@click.option(
    "--param",
    "params",
    multiple=True,
    required=True,
    metavar="NAME=LOW,HIGH",
    help="A parameter and its analysis range; repeat for each parameter.",
)
@click.option("--theta0", default=None, help="Comma-separated reference point (default: 0).")
@click.option("--no-theta0", is_flag=True, help="Do not force θ0 into the basis.")
@click.option("--levels", type=int, default=5, show_default=True, help="Grid levels per axis.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def basis(
    params: tuple[str, ...], theta0: str | None, no_theta0: bool, levels: int, as_json: bool
) -> None:
    """Choose K morphing basis points that keep the weights a(θ) small over the ranges."""
    parsed = [_parse_range(p) for p in params]
    names = [p[0] for p in parsed]
    box = [[p[1], p[2]] for p in parsed]
    centre = [0.0] * len(names) if theta0 is None else [float(v) for v in theta0.split(",")]
    if len(centre) != len(names):
        raise InputError(f"--theta0: expected {len(names)} values, got {len(centre)}")
    choice = optimise_basis(centre, box, include_theta0=not no_theta0, levels=levels)
    points = choice.basis.points.tolist()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "parameters": names,
                    "theta0": centre,
                    "points": points,
                    "condition_number": choice.condition_number,
                    "expected_squared_weight": choice.expected_squared_weight,
                },
                indent=2,
            )
        )
        return
    click.echo(f"K = {len(points)} basis points for {', '.join(names)} (θ0 = {centre})")
    for i, point in enumerate(points):
        coords = ", ".join(f"{n}={v:g}" for n, v in zip(names, point, strict=True))
        click.echo(f"  b{i:02d}  {coords}")
    click.echo(f"cond(W) = {choice.condition_number:.4g}")
    click.echo(f"E[Σ_b a_b(θ)²] over the box = {choice.expected_squared_weight:.4g}")
