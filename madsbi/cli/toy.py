"""``madsbi toy``: the analytic toy model of the paper's Sec. 3."""

from __future__ import annotations

from pathlib import Path

import click

from madsbi._outdir import locked_output_dir
from madsbi._paths import check_output_file
from madsbi.cli._options import set_threads, study_options
from madsbi.cli._resources import check_needs, toy_generate_needs, toy_study_needs
from madsbi.events.tempfiles import exit_status_on_signal
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
    check_output_file(out, what="toy generate: OUT")
    if n_events >= 1:  # else generate_toy_store refuses it by name
        check_needs(toy_generate_needs(n_events), out, what="toy generate")
    with exit_status_on_signal():
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


def _parse_seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated integers such as 1,2,3,4, got {text!r}", param_hint="--seeds"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise click.BadParameter(
            f"expected distinct integers >= 0, got {text!r}", param_hint="--seeds"
        )
    return seeds


@toy.command()
@study_options
@click.option(
    "--seeds",
    "seeds_text",
    default=None,
    help="Run once per seed (e.g. 1,2,3,4; overrides [study] seeds) and write mean ± std.",
)
def run(
    config: Path,
    out_dir: Path,
    threads: int,
    no_figures: bool,
    quiet: bool,
    seeds_text: str | None,
) -> None:
    """Run the toy study CONFIG (TOML) end to end: figures and DIR/summary.json."""
    from madsbi.studies.toy import run_toy_study
    from madsbi.studies.toy_config import ToyStudyConfig

    settings = ToyStudyConfig.from_toml(config)
    seeds = _parse_seeds(seeds_text)
    check_needs(toy_study_needs(settings), out_dir, what="toy run")
    set_threads(threads)
    if seeds is not None or settings.study.seeds:
        from madsbi.studies.toy_seeds import run_toy_seeds

        with locked_output_dir(out_dir):
            result = run_toy_seeds(
                settings, out_dir, seeds, progress=not quiet, figures=not no_figures
            )
        click.echo(
            f"toy study α = {settings.study.alpha:g}, seeds {result['seeds']} → "
            f"{out_dir / 'summary.json'}"
        )
        for key, metric in result["metrics"].items():
            if key.endswith((".rms_error", "tail_error_reduction", "_reduction_learnable")):
                values = ", ".join(f"{v:.3g}" for v in metric["values"])
                click.echo(f"  {key:48s} {metric['mean']:.3g} ± {metric['std']:.2g}  ({values})")
        return
    with locked_output_dir(out_dir):
        summary = run_toy_study(settings, out_dir, progress=not quiet, figures=not no_figures)
    click.echo(f"toy study α = {settings.study.alpha:g} → {out_dir / 'summary.json'}")
    for name, entry in summary["methods"].items():
        click.echo(
            f"  {name:32s} rms_error {entry['rms_error']:.3g} "
            f"({100 * entry['relative_rms_error']:.2f} % of the analytic range), "
            f"band covers {100 * entry['band_coverage']:.0f} % of θ points, "
            f"trained in {entry['train_seconds']:.0f} s"
        )
    if "smearing" in summary:
        click.echo(
            f"  R_θθ tail error reduction by fractional smearing: "
            f"{summary['smearing']['tail_error_reduction']:.2f}× (tail RMS error with "
            f"infinitely many copies, the parton-statistics floor: "
            f"{summary['smearing']['tail_rms_error_infinite_smearing']:.3g})"
        )
    for name, entry in summary.get("coverage", {}).items():
        parts = ", ".join(
            f"γ = {g:g}: {f:.3f} ± {e:.3f}"
            for g, f, e in zip(entry["gammas"], entry["fractions"], entry["errors"], strict=True)
        )
        click.echo(f"  coverage ({name}): {parts}")
