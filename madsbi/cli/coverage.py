"""``madsbi coverage``: empirical coverage of a trained analysis (paper App. A, eq. 53)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("analysis")
@click.argument("stores", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output directory: coverage.json and coverage.png.",
)
@click.option("--toys", type=int, default=500, show_default=True, help="Number of toys.")
@click.option(
    "--grid-points",
    type=int,
    default=41,
    show_default=True,
    help="Grid points per parameter over the analysis's ranges (odd: θ0 is one).",
)
@click.option(
    "--method",
    "methods",
    multiple=True,
    help="A trained estimator (repeatable; default: the analysis's first).",
)
@click.option(
    "--truth",
    is_flag=True,
    help="Also the truth: the exact per-event coefficients (fit's 'exact'); with background "
    "components 'oracle' instead, each event's own process and coefficients known.",
)
@click.option("--stat-only", is_flag=True, help="Ignore the analysis's nuisances.")
@click.option("--luminosity", type=float, default=None, help="fb⁻¹ (default: the analysis's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--top-k",
    type=int,
    default=16,
    show_default=True,
    help="Grid points profiled per toy before the certificate check (nuisances only).",
)
@click.option(
    "--threads",
    type=int,
    default=0,
    show_default=True,
    help="Threads of the compiled dense kernel (0: all).",
)
def coverage(
    analysis: str,
    stores: tuple[Path, ...],
    out_dir: Path,
    toys: int,
    grid_points: int,
    methods: tuple[str, ...],
    truth: bool,
    stat_only: bool,
    luminosity: float | None,
    seed: int,
    top_k: int,
    threads: int,
) -> None:
    """Coverage c_γ of ANALYSIS's likelihood from toys at θ0 (the SM), with q over a grid.

    Every toy draws each process's events Poisson(ν_c(θ0)) from its own events at θ0: the
    signal from the analysis's rate events (or from STORES, in their selection, with their
    MC weights), every background component from its events. Declared nuisances are profiled
    per toy, each toy drawing its global observables (constraint centres) from N(0, 1); the
    stat-only coverage of the same toys is reported too (``--stat-only``: only that).
    """
    from madsbi.analysis.coverage import CoverageOptions, analysis_coverage, write_coverage
    from madsbi.analysis.load import load_analysis

    options = CoverageOptions(
        n_toys=toys, grid_points=grid_points, luminosity=luminosity, seed=seed,
        stat_only=stat_only, top_k=top_k, threads=threads,
    )  # fmt: skip
    loaded = load_analysis(analysis)
    truths = ["oracle"] if "components" in loaded.manifest else ["exact"]
    chosen = [*(methods or [loaded.methods[0]]), *(truths if truth else [])]
    document = analysis_coverage(loaded, list(stores), chosen, options)
    paths = write_coverage(document, out_dir)
    for method, entry in document["methods"].items():
        for form, result in entry.items():
            if isinstance(result, dict):
                click.echo(
                    f"{method} {form}: c_0.68 = {result['c_68']:.3f} ± {result['c_68_error']:.3f}"
                    f", c_0.95 = {result['c_95']:.3f} ± {result['c_95_error']:.3f} "
                    f"({entry['seconds']:.1f} s)"
                )
    click.echo("wrote " + ", ".join(str(p) for p in paths))
