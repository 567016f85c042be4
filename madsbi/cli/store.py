"""``madsbi store``: convert LHE files, inspect and merge event stores."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import click

from madsbi._paths import check_output_file
from madsbi.cli._options import compression_filter, compression_option
from madsbi.cli.store_mix import embed, mix
from madsbi.errors import InputError
from madsbi.events.convert import ConvertSettings, convert_lhe
from madsbi.events.inspect import describe_store, format_description
from madsbi.events.merge import merge_stores
from madsbi.events.recentre import recentre_store
from madsbi.events.store import EventStore
from madsbi.events.tempfiles import exit_status_on_signal
from madsbi.events.verify import verify_store


def _split(value: str | None, option: str) -> tuple[str, ...] | None:
    """A comma-separated list; an option given but empty is refused by name."""
    if value is None:
        return None
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise InputError(f"{option}: expected a comma-separated list of names, got {value!r}")
    return items


def _positive(value: float, option: str) -> float:
    """A finite number > 0 (nan would switch a check off, a negative one fail it always)."""
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{option}: expected a finite number > 0, got {value!r}")
    return value


@click.group()
def store() -> None:
    """Event stores: convert, inspect, verify, merge, recentre, embed, mix."""


@store.command()
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--parameters", help="Comma-separated parameter names (default: all varied).")
@click.option("--basis", "basis_ids", help="Comma-separated weight ids of the K basis points.")
@click.option("--sample-id", default="", help="Sample id shared by the shards of one production.")
@click.option("--shard-id", default=None, help="Id of this shard (default: file name and seed).")
@click.option(
    "--max-events",
    type=click.IntRange(min=1),
    default=None,
    help="Convert only the first N events.",
)
@click.option(
    "--holdout-tolerance",
    type=float,
    default=None,
    help="Allowed held-out deviation relative to each event's largest weight "
    f"[default: {ConvertSettings.holdout_tolerance:g}].",
)
@compression_option
@click.option("--no-rwgt", is_flag=True, help="Do not keep the raw <rwgt> weights.")
@click.option(
    "--no-reweighting",
    is_flag=True,
    help="For a file without reweighting weights (a SM background): a θ-independent store, "
    "every event's coefficients its weight at every θ, for the --parameters given.",
)
@click.option(
    "--theta0",
    default=None,
    help="Reference point of the coefficients, e.g. cHWB=0,cW=0,cHq3=0 or 0,0,0 "
    "(default: the param card's point, where the events were generated).",
)
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def convert(
    source: Path,
    output: Path,
    parameters: str | None,
    basis_ids: str | None,
    sample_id: str,
    shard_id: str | None,
    max_events: int | None,
    holdout_tolerance: float | None,
    compression: str,
    no_rwgt: bool,
    no_reweighting: bool,
    theta0: str | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Convert a MadGraph LHE file (with <rwgt> weights) into an event store.

    A file without reweighting weights is refused unless --no-reweighting asks for a
    θ-independent store.
    """
    check_output_file(output, what="store convert: OUTPUT")
    settings = ConvertSettings(
        parameters=_split(parameters, "--parameters"),
        basis_ids=_split(basis_ids, "--basis"),
        theta0=theta0,
        compression=compression_filter(compression),
        keep_rwgt=not no_rwgt,
        reweighting=not no_reweighting,
    )
    if holdout_tolerance is not None:
        settings = replace(
            settings, holdout_tolerance=_positive(holdout_tolerance, "--holdout-tolerance")
        )
    with exit_status_on_signal():
        report = convert_lhe(
            source,
            output,
            settings,
            sample_id=sample_id,
            shard_id=shard_id,
            max_events=max_events,
            overwrite=overwrite,
            progress=not quiet,
        )
    rate = report.decompressed_bytes / 1e6 / max(report.seconds, 1e-9)
    kind = ", θ-independent (no reweighting)" if report.theta_independent else ""
    click.echo(
        f"wrote {output}: {report.n_events:,} events, parameters {list(report.parameters)}"
        f"{kind}, basis cond(W) = {report.condition_number:.4g} ({report.seconds:.2f} s, "
        f"{rate:.0f} MB/s of LHE text)"
    )
    for check in report.holdouts:
        click.echo(
            f"  held-out {check['weight_id']:<16} max rel {check['max_rel_error']:.2e}  "
            f"rel-to-largest {check['max_rel_to_largest']:.2e}  "
            f"σ rel {check['cross_section_rel_error']:.2e}"
        )
    for wid, why in report.excluded_weights.items():
        click.echo(f"  not used: {wid} ({why})")


@store.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "--no-verify", is_flag=True, help="Do not read the event data back through its checksums."
)
def inspect(path: Path, as_json: bool, no_verify: bool) -> None:
    """Describe an event store: events, parameters, basis, σ, fields, provenance."""
    info = describe_store(path, verify=not no_verify)
    click.echo(json.dumps(info, indent=2) if as_json else format_description(info))


@store.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def verify(path: Path) -> None:
    """Read every event dataset back through its checksums.

    The structure is checked first (required datasets, dtypes, shapes, equal lengths, no
    external links). Exit status 0: every chunk matched its checksum; 1: a dataset is
    corrupt or breaks the schema (named); 2: the store has no checksums (written by an older
    madsbi), so it cannot be verified.
    """
    report = verify_store(path)
    click.echo(report.summary())
    if not report.ok:
        raise SystemExit(2)


@store.command()
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--theta0",
    required=True,
    help="New reference point, e.g. cHWB=0,cW=0,cHq3=0 or values in parameter order.",
)
@compression_option
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def recentre(
    source: Path, output: Path, theta0: str, compression: str, overwrite: bool, quiet: bool
) -> None:
    """Copy SOURCE to OUTPUT with the coefficients expanded around another θ0.

    σ(θ) and every event's weight as a function of θ stay the same; /meta/theta_gen keeps
    the generation point and /parton/weight the weights there.
    """
    check_output_file(output, what="store recentre: OUTPUT")
    with exit_status_on_signal():
        path = recentre_store(
            source,
            output,
            theta0,
            overwrite=overwrite,
            compression=compression_filter(compression),
            progress=not quiet,
        )
    with EventStore(path) as written:
        meta = written.meta
        click.echo(
            f"wrote {path}: θ0 = {meta.space.theta0} (generated at θ_gen = {meta.theta_gen}), "
            f"σ(θ0) = {written.cross_section(meta.space.theta0_array)[0]:.6g} pb"
        )


@store.command()
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@compression_option
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def merge(
    output: Path, inputs: tuple[Path, ...], compression: str, overwrite: bool, quiet: bool
) -> None:
    """Merge shards with identical metadata into OUTPUT."""
    check_output_file(output, what="store merge: OUTPUT")
    with exit_status_on_signal():
        path = merge_stores(
            output,
            inputs,
            overwrite=overwrite,
            compression=compression_filter(compression),
            progress=not quiet,
        )
    click.echo(f"wrote {path} from {len(inputs)} stores")


for _command in (embed, mix):  # madsbi.cli.store_mix
    store.add_command(_command)
