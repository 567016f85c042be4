"""``madsbi fit``: fit a data store with a trained analysis (a directory or a shipped name)."""

from __future__ import annotations

import warnings
from pathlib import Path

import click


@click.command()
@click.argument("analysis")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output directory: fit.json and the q figures.",
)
@click.option("--luminosity", type=float, default=None, help="fb⁻¹ (default: the analysis's).")
@click.option(
    "--rate-factor",
    type=float,
    default=None,
    help="Factor on the parton cross-section (default: the analysis's).",
)
@click.option(
    "--data-mode",
    type=click.Choice(["counts", "asimov"]),
    default=None,
    help=(
        "counts: every event is one observed event (a fractionally smeared reco store is "
        "refused); asimov: MC weights (smearing weights included) scaled to the luminosity. "
        "Default: counts for a store without a process (real data, pseudo-data of madsbi "
        "store mix), asimov for an MC store; the output says which."
    ),
)
@click.option(
    "--select",
    "select",
    multiple=True,
    help="NAME=VALUE or NAME=LOW,HIGH (repeatable), applied to data and rate model.",
)
@click.option("--at", "at", multiple=True, help="Report q and p at NAME=VALUE,... (repeatable).")
@click.option(
    "--range",
    "ranges",
    multiple=True,
    help=(
        "The θ box of NAME: NAME=LOW,HIGH (repeatable, one per parameter). Default: the "
        "trained range, widened to hold every --at point."
    ),
)
@click.option(
    "--profile",
    type=click.Choice(["fixed", "profiled"]),
    default="profiled",
    show_default=True,
    help="Intervals with the other parameters profiled, or fixed at θ0.",
)
@click.option(
    "--method",
    "methods",
    multiple=True,
    help="Methods to fit (repeatable): the analysis's learned ones (mlp, lgatr), exact (data "
    "with coefficients, signal-only analyses), pooled (analyses built with --pooled), oracle "
    "and truth_learned_d (labelled data from store mix). Default: the learned ones, pooled, "
    "and exact where it is a truth.",
)
@click.option("--points-2d", type=int, default=21, show_default=True)
@click.option("--points-profile", type=int, default=41, show_default=True)
@click.option(
    "--stat-only",
    is_flag=True,
    help="Ignore the nuisance parameters (statistics-only intervals).",
)
@click.option(
    "--fix",
    "fix",
    multiple=True,
    help="NAME=VALUE: hold nuisance NAME at α = VALUE instead of profiling it (repeatable).",
)
@click.option(
    "--nuisance",
    "nuisances",
    multiple=True,
    help=(
        "NAME=SIZE: a log-normal normalisation nuisance of relative size SIZE (lumi=0.02) on "
        "every process, profiled; replaces the analysis's nuisance of that name (repeatable)."
    ),
)
@click.option("--no-figures", is_flag=True, help="Skip the PNG figures.")
def fit(
    analysis: str,
    data: Path,
    out_dir: Path,
    luminosity: float | None,
    rate_factor: float | None,
    data_mode: str | None,
    select: tuple[str, ...],
    at: tuple[str, ...],
    ranges: tuple[str, ...],
    profile: str,
    methods: tuple[str, ...],
    points_2d: int,
    points_profile: int,
    stat_only: bool,
    fix: tuple[str, ...],
    nuisances: tuple[str, ...],
    no_figures: bool,
) -> None:
    """Fit DATA (an event store) with ANALYSIS: DIR/fit.json and q figures.

    ANALYSIS is an analysis directory (OUT/analysis of ``madsbi run``) or the name of a
    shipped analysis. A store the analysis was trained on is fitted on its test split only.
    A reco-level analysis (``madsbi run examples/wz_reco.toml``) reads the passed /reco
    entries of DATA and selects on /reco/x columns. Best fits and interval ends on the edge
    of the box, and data outside the training range, are warned about on stderr (and
    recorded in fit.json: at_box_edge, data.outside_training_range); a categorical feature
    value the training never saw (a charge sum) is an error.

    Nuisance parameters declared by the analysis (analysis.json "nuisances") or added with
    --nuisance are profiled at every point; fit.json then holds each one's pull and post-fit
    constraint, its impact on every 68 % interval, and the stat-only intervals next to the
    full ones. The output directory is checked before the fit.

    Defaults: the data mode from the store (counts for a store without a process: real
    data or pseudo-data; asimov for an MC store; the output says which and why) and profiled
    intervals (``--profile fixed`` keeps the other parameters at θ0).
    """
    from madsbi.analysis import load_analysis
    from madsbi.analysis.box import parse_ranges
    from madsbi.analysis.fit_options import check_output_dir, check_positive
    from madsbi.analysis.plots import fit_figures
    from madsbi.errors import MadSBIWarning
    from madsbi.studies._common import write_json

    check_positive(luminosity, "--luminosity")
    check_positive(rate_factor, "--rate-factor")
    check_output_dir(out_dir, "--out")
    loaded = load_analysis(analysis)
    box = parse_ranges(ranges, loaded.parameters) if ranges else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MadSBIWarning)
        result = loaded.fit(
            data,
            methods=list(methods) or None,
            data_mode=data_mode,
            luminosity=luminosity,
            rate_factor=rate_factor,
            select=select,
            at=at,
            ranges=box,
            profile=profile,
            points_2d=points_2d,
            points_profile=points_profile,
            nuisances=nuisances,
            stat_only=stat_only,
            fix=fix,
        )
    for entry in caught:
        if issubclass(entry.category, MadSBIWarning):
            click.echo(f"{entry.category.__name__}: {entry.message}", err=True)
        else:
            warnings.warn_explicit(entry.message, entry.category, entry.filename, entry.lineno)
    document = result.to_dict()
    out_dir.mkdir(parents=True, exist_ok=True)
    if not no_figures:
        document["figures"] = [p.name for p in fit_figures(document, out_dir)]
    write_json(out_dir / "fit.json", document)
    data_info = document["data"]
    click.echo(
        f"{data_info['n_events']:,} events ({data_info['mode']}; {data_info['events_used']}) → "
        f"{out_dir / 'fit.json'}"
    )
    click.echo(f"  data mode {data_info['mode']}: {data_info['mode_reason']}")
    click.echo(f"  intervals {profile} (--profile)")
    widened = document["settings"]["box"]["widened_for_at"]
    if widened:
        sides = {p: document["settings"]["ranges"][loaded.parameters.index(p)] for p in widened}
        text = ", ".join(f"{p} [{lo:g}, {hi:g}]" for p, (lo, hi) in sides.items())
        click.echo(f"  box widened to hold the --at points: {text}")
    for name, best in document["best_fit"].items():
        text = ", ".join(f"{p} = {v:+.4g}" for p, v in best.items())
        click.echo(f"  {name:16s} best fit {text}")
    first = next(iter(document["rate_mc_error"]))
    error = document["rate_mc_error"][first]["best_fit"]
    click.echo(
        f"  rate model MC error at the {first} best fit: σ̂ {100 * error['sigma_relative']:.2g} %, "
        f"ρ̂ {100 * error['ratio_relative']:.2g} % (n_eff {error['n_eff']:,.0f})"
    )
    for name, pulls in document.get("nuisances", {}).items():
        text = ", ".join(
            f"{k} = {v['pull']:+.3g} ± {v['constraint']:.3g}" + (" (fixed)" if v["fixed"] else "")
            for k, v in pulls.items()
        )
        click.echo(f"  {name:16s} nuisances {text}")
    for label, entry in document["points"].items():
        for name in entry["q"]:
            q, p = entry["q"][name], entry["p_value"][name]
            click.echo(f"  {label}: {name:16s} q = {q:.4g}, p = {p:.3g}")
