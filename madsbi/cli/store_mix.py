"""``madsbi store embed`` and ``madsbi store mix``: background stores joining an analysis."""

from __future__ import annotations

from pathlib import Path

import click

from madsbi._paths import check_output_file
from madsbi.cli._options import compression_filter, compression_option
from madsbi.events.tempfiles import exit_status_on_signal


@click.command()
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--parameters",
    required=True,
    help="Target parameters in θ order, name or name:block:code, e.g. cHWB,cW:SMEFT:2,cHq3.",
)
@click.option(
    "--like",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A store of the target space (e.g. a signal shard): blocks, codes, ranges, θ0.",
)
@compression_option
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def embed(
    source: Path,
    output: Path,
    parameters: str,
    like: Path | None,
    compression: str,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Copy SOURCE into a larger parameter space; terms of the added parameters are zero.

    A ZZ store over (cHWB, cHq3) becomes a (cHWB, cW, cHq3) store: σ(θ) and every event's
    weight are unchanged for every θ, whatever the added parameters are. A θ-independent
    store (no parameters) embeds as constant coefficients.
    """
    from madsbi.events.embed import EMBEDDED_PARAMETERS, embed_store
    from madsbi.events.store import EventStore

    check_output_file(output, what="store embed: OUTPUT")
    with exit_status_on_signal():
        path = embed_store(
            source,
            output,
            parameters,
            like=like,
            overwrite=overwrite,
            compression=compression_filter(compression),
            progress=not quiet,
        )
    with EventStore(path) as written:
        meta = written.meta
        added = meta.attributes.get(EMBEDDED_PARAMETERS, "none")
        click.echo(
            f"wrote {path}: parameters {list(meta.space.names)} (added: {added}), "
            f"σ(θ0) = {written.cross_section(meta.space.theta0_array)[0]:.6g} pb"
        )


@click.command()
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--luminosity", type=float, required=True, help="Integrated luminosity in fb⁻¹.")
@click.option("--seed", type=int, required=True, help="Seed of the counts, draws and shuffle.")
@click.option(
    "--at",
    "at",
    help="Reweight θ-dependent stores to this θ, e.g. cHWB=1,cW=0.1,cHq3=0.1 (default: θ_gen).",
)
@click.option(
    "--names",
    help=(
        "One name per input, comma-separated (e.g. signal,signal,zz_4l: the analysis's "
        "components), kept in the hidden truth only (default: by process text)."
    ),
)
@click.option(
    "--asimov",
    is_flag=True,
    help=(
        "Asimov data: every passed entry with its weight at θ (no Poisson draw); madsbi fit "
        "then scales the mixture's σ_fid to its --luminosity."
    ),
)
@compression_option
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
def mix(
    output: Path,
    inputs: tuple[Path, ...],
    luminosity: float,
    seed: int,
    at: str | None,
    names: str | None,
    asimov: bool,
    compression: str,
    overwrite: bool,
) -> None:
    """Draw unweighted pseudo-data from reco stores (one per process) into OUTPUT.

    Poisson(σ_fid(θ) L) events from each input's passed entries (weighted stores by
    acceptance–rejection; with replacement, and a warning, only when a store is too small),
    shuffled, without process labels; fit OUTPUT with madsbi fit --data-mode counts.
    With --asimov every passed entry is kept with its weight at θ instead: the expected data,
    which madsbi fit reads as Asimov data at its own --luminosity.

    Each event's source (input, row, exact parent coefficients) is kept apart in /truth/mix,
    truth for validation only: fits never read it as data; only madsbi fit's oracle methods
    (--method oracle, --method truth_learned_d) do.
    """
    from madsbi.events.mix import mix_stores

    check_output_file(output, what="store mix: OUTPUT")
    with exit_status_on_signal():
        report = mix_stores(
            output,
            inputs,
            luminosity=luminosity,
            seed=seed,
            at=at,
            names=None if names is None else [n.strip() for n in names.split(",")],
            asimov=asimov,
            overwrite=overwrite,
            compression=compression_filter(compression),
        )
    for item in report.inputs:
        note = " (with replacement)" if item.with_replacement else ""
        click.echo(
            f"  {item.path}: σ_fid = {item.sigma_fid * 1000:.6g} fb, ν = {item.expected:.2f}, "
            f"drawn {item.drawn}{note}, n_eff = {item.effective_size:.0f}"
        )
    kind = "weighted entries (Asimov)" if asimov else f"events at {luminosity:g} fb⁻¹"
    click.echo(f"wrote {report.path}: {report.n_events} {kind}")
