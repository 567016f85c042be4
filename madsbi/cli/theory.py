"""``madsbi basis``: choose a well-conditioned morphing basis for an analysis range."""

from __future__ import annotations

import json
import math

import click

from madsbi.errors import InputError
from madsbi.theory.basis import optimise_basis


def _parse_range(text: str) -> tuple[str, float, float]:
    """``NAME=LOW,HIGH`` with a non-empty name and finite LOW < HIGH."""
    name, equals, bounds = text.partition("=")
    parts = bounds.split(",")
    name = name.strip()
    if not equals or not name or len(parts) != 2:
        raise InputError(f"--param: expected NAME=LOW,HIGH, got {text!r}")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise InputError(f"--param {name}: expected numbers LOW,HIGH, got {bounds!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputError(f"--param {name}: expected finite LOW,HIGH, got {bounds!r}")
    if not low < high:
        raise InputError(f"--param {name}: expected LOW < HIGH, got {low:g},{high:g}")
    return name, low, high


def _parse_ranges(texts: tuple[str, ...]) -> list[tuple[str, float, float]]:
    """Every ``--param``, each parameter once."""
    parsed = [_parse_range(t) for t in texts]
    names = [p[0] for p in parsed]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"--param: {repeated} given more than once; give each parameter one range")
    return parsed


def _parse_theta0(text: str, n: int) -> list[float]:
    """``--theta0``: ``n`` comma-separated finite numbers."""
    try:
        centre = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"--theta0: expected {n} comma-separated numbers, got {text!r}") from None
    if len(centre) != n:
        raise InputError(f"--theta0: expected {n} values, got {len(centre)}")
    if not all(math.isfinite(v) for v in centre):
        raise InputError(f"--theta0: expected finite values, got {text!r}")
    return centre


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
    parsed = _parse_ranges(params)
    names = [p[0] for p in parsed]
    box = [[p[1], p[2]] for p in parsed]
    centre = [0.0] * len(names) if theta0 is None else _parse_theta0(theta0, len(names))
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
