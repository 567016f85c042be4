"""``madsbi binn``: the Bayesian invertible network studies of bellagente2022."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from madsbi._outdir import locked_output_dir
from madsbi.cli._options import set_threads, study_options
from madsbi.cli._resources import binn_study_needs, check_needs


@click.group()
def binn() -> None:
    """Bayesian invertible networks with uncertainties (bellagente2022)."""


def _toy_lines(summary: dict[str, Any]) -> list[str]:
    lines = summary["lines"]
    fit = lines["fit"]
    out = [
        f"  density within {summary['config']['evaluation']['band_sigmas']:g}σ_pred of the "
        f"truth at {100 * lines['coverage']:.1f} % of {lines['n_points']} points",
        f"  σ_pred({lines['sigma_at']['x']:g}) = {lines['sigma_at']['sigma']:.4f} "
        f"± {lines['sigma_at']['spread_over_lines']:.4f} (p = {lines['sigma_at']['density']:.3f})",
    ]
    if "mu" in fit:
        out.append(
            f"  ring fit: μ = {fit['mu']:.3f} ± {fit['mu_fit_error']:.3f}, "
            f"Δμ (eq. 31) = {fit['delta_mu']:.4f}"
        )
    else:
        terms = ", ".join(
            f"{k} = {v:.4f}"
            for k, v in fit.items()
            if k.startswith("delta") and not k.endswith("error")
        )
        out.append(f"  fit (eq. {fit['equation']}): {terms}")
    return out


@binn.command()
@study_options
def run(config: Path, out_dir: Path, threads: int, no_figures: bool, quiet: bool) -> None:
    """Run the BINN study CONFIG (TOML): figures and DIR/summary.json.

    A study whose sizes cannot fit in the memory or free disk (``n_samples = 10**12``
    evaluated after training) is refused before the training starts, with the numbers.
    """
    from madsbi.studies.binn import run_binn_study
    from madsbi.studies.binn_config import BINNStudyConfig

    settings = BINNStudyConfig.from_toml(config)
    check_needs(binn_study_needs(settings), out_dir, what="binn run")
    set_threads(threads)
    with locked_output_dir(out_dir):
        summary = run_binn_study(settings, out_dir, progress=not quiet, figures=not no_figures)
    kind = summary["kind"]
    click.echo(f"BINN study {kind} → {out_dir / 'summary.json'} ({summary['wall_seconds']:.0f} s)")
    if kind == "training_size":
        for n, sigma in zip(summary["sizes"], summary["sigma_at"], strict=True):
            click.echo(f"  {n:>9,} events: σ_pred = {sigma:.4f}")
        click.echo(f"  decreasing with the training size: {summary['sigma_decreasing']}")
    elif kind == "drell_yan":
        for name, entry in summary["observables"].items():
            click.echo(
                f"  {name:5s}: {100 * entry['coverage_binn']:.0f} % of bins within the BINN "
                f"band ({100 * entry['coverage_binn_and_training']:.0f} % with training stat.)"
            )
    else:
        for line in _toy_lines(summary):
            click.echo(line)
