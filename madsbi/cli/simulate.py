"""``madsbi simulate reco``: Pythia 8, FastJet, the parametrised detector and a selection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from madsbi._paths import refuse_output_over_inputs
from madsbi.production.plan import ClusterSettings


@click.group()
def simulate() -> None:
    """Reco-level simulation of parton stores."""


@simulate.command()
@click.argument("store", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Run seed.")
@click.option(
    "--smear/--no-smear",
    default=True,
    show_default=True,
    help="Fractional smearing (training/validation) or one copy per event (test samples).",
)
@click.option(
    "--threshold", type=float, default=0.5, show_default=True, help="Smearing threshold t."
)
@click.option("--max-copies", type=click.IntRange(min=1), default=50, show_default=True)
@click.option(
    "--shower",
    type=click.Choice(["default", "fast"]),
    default="default",
    show_default=True,
    help="Pythia setting: default (MPI on) or fast (MPI off).",
)
@click.option(
    "--card", default="atlas_like", show_default=True, help="Detector card name or TOML path."
)
@click.option("--pythia", "pythia_lines", multiple=True, help="Extra Pythia setting 'Key = value'.")
@click.option(
    "--selection",
    default="wz",
    show_default=True,
    help="Registered process whose reco selection is applied (a background passes W±Z's).",
)
@click.option(
    "--start", type=click.IntRange(min=0), default=0, show_default=True, help="First input row."
)
@click.option("--stop", type=click.IntRange(min=1), default=None, help="End row (default: all).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option(
    "--jobs",
    "n_jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Dask jobs (shards in OUT.shards/, resumable, merged into OUT).",
)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--passed-only", is_flag=True, help="Keep only the copies passing every cut (training sets)."
)
@click.option(
    "--compression",
    type=click.Choice(["none", "lzf", "gzip"]),
    default="none",
    show_default=True,
    help="HDF5 filter of the output (compress small or shipped stores).",
)
@click.option(
    "--like",
    "like",
    default=None,
    metavar="ANALYSIS",
    help=(
        "Simulate as the reco analysis ANALYSIS (a directory or shipped name) simulated its "
        "stores (selection, shower, detector card, Pythia lines), unsmeared: data it can fit."
    ),
)
@click.option(
    "--variations",
    default=None,
    metavar="NAMES",
    help=(
        "Detector variations to simulate at ±1σ beside the nominal, paired with it (same "
        "shower, same random numbers), into /reco_variations/<name>_{up,down}: comma-separated "
        "names (lep_scale_e, lep_scale_mu, lep_res, met_scale, met_soft, jet_scale) or 'all'."
    ),
)
@click.option(
    "--shift",
    "shift_items",
    multiple=True,
    metavar="NAME=SIGMAS",
    help="Simulate with a detector nuisance shifted by SIGMAS σ (pseudo-data), e.g. "
    "lep_scale_e=1; repeatable.",
)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def reco(
    store: Path,
    out: Path,
    seed: int,
    smear: bool,
    threshold: float,
    max_copies: int,
    shower: str,
    card: str,
    pythia_lines: tuple[str, ...],
    selection: str,
    start: int,
    stop: int | None,
    chunk_size: int,
    n_jobs: int,
    workers: int,
    passed_only: bool,
    compression: str,
    like: str | None,
    variations: str | None,
    shift_items: tuple[str, ...],
    overwrite: bool,
    quiet: bool,
) -> None:
    """Shower, cluster, detect and select the events of STORE into OUT (with /reco).

    With ``--like ANALYSIS`` the selection, shower, card and Pythia lines are the analysis's
    (recorded in its analysis.json, or read from the reco stores it names) and the events
    are not smeared; those options may then not be given. ``--variations`` adds the paired
    ±1σ detector variations that the card sizes (an event is stored when the nominal or any
    variation selects it, with ``--passed-only``); ``--shift`` moves the nominal instead.
    Needs the extra ``reco`` (pip install 'madsbi[reco]').
    """
    refuse_output_over_inputs(out, [store], what="simulate reco")
    from madsbi.simulate.reco import RecoConfig, simulate_reco
    from madsbi.simulate.reco_jobs import run_reco_jobs

    if like is not None:
        context = click.get_current_context()
        options = {
            "smear": "--smear/--no-smear",
            "shower": "--shower",
            "card": "--card",
            "pythia_lines": "--pythia",
            "selection": "--selection",
        }
        given = [
            flag
            for name, flag in options.items()
            if context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
        ]
        if given:
            raise click.UsageError(f"--like {like} sets {given}: leave them out")
        settings = _like(like)
        smear, shower, card = False, str(settings["shower"]), str(settings["card"])
        pythia_lines = tuple(str(line) for line in settings["pythia"])
        selection = str(settings["selection"])
        click.echo(
            f"like {like}: selection {selection}, shower {shower}, card {card}, "
            f"pythia {list(pythia_lines)}, unsmeared"
        )

    from madsbi.simulate.detector import load_card
    from madsbi.simulate.variations import parse_shifts, parse_variations

    names = () if variations is None else parse_variations(variations, load_card(card))
    config = RecoConfig(
        seed,
        smear,
        threshold,
        max_copies,
        shower,
        card,
        pythia_lines,
        selection=selection,
        variations=names,
        shifts=parse_shifts(shift_items),
    )
    filter_ = None if compression == "none" else compression
    if n_jobs == 1:
        report = simulate_reco(
            store,
            out,
            config,
            start=start,
            stop=stop,
            chunk_size=chunk_size,
            overwrite=overwrite,
            progress=not quiet,
            passed_only=passed_only,
            compression=filter_,
        )
        click.echo(report.describe())
        return
    path = run_reco_jobs(
        store,
        out,
        config,
        n_jobs=n_jobs,
        start=start,
        stop=stop,
        chunk_size=chunk_size,
        cluster=ClusterSettings(n_workers=workers),
        overwrite=overwrite,
        progress=not quiet,
        passed_only=passed_only,
        compression=filter_,
    )
    click.echo(f"wrote {path}")


def _like(analysis: str) -> dict[str, Any]:
    """The simulation settings of an analysis directory or shipped name (manifest only).

    ``analysis.json`` is read and checked by :func:`madsbi.analysis.schema.read_manifest`,
    so a damaged file is a one-line StoreFormatError naming it.
    """
    from madsbi.analysis.names import analysis_path
    from madsbi.analysis.provenance import analysis_simulation
    from madsbi.analysis.schema import read_manifest

    path = analysis_path(analysis)
    return analysis_simulation(read_manifest(path), str(path))


@simulate.command("run")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output folder: train.h5, validation.h5, test.h5 (existing ones are kept).",
)
@click.option("--max-events", type=click.IntRange(min=3), default=None, help="Use the first N.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=None)
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Dask jobs per split.")
@click.option("--workers", type=click.IntRange(min=1), default=None)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run_config_command(
    config: Path,
    out_dir: Path,
    max_events: int | None,
    chunk_size: int | None,
    jobs: int | None,
    workers: int | None,
    quiet: bool,
) -> None:
    """Simulate train/validation (smeared) and test (unsmeared) reco samples from CONFIG.

    CONFIG is a TOML file with [sample], [reco] and [run] tables
    (examples/wz_reco_sim.toml). Needs the extra ``reco``.
    """
    from madsbi.simulate.reco_config import run_config

    summary = run_config(
        config,
        out_dir,
        max_events=max_events,
        chunk_size=chunk_size,
        workers=workers,
        jobs=jobs,
        progress=not quiet,
    )
    for split, entry in summary.items():
        if split != "config":
            click.echo(f"{split}: rows {entry['rows']} {entry['status']}")
    click.echo(f"wrote {out_dir / 'summary.json'}")
