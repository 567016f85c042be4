"""``madsbi produce``: run a MadGraph gridpack as many Dask jobs and merge the shards."""

from __future__ import annotations

from pathlib import Path

import click

from madsbi.errors import MadSBIError
from madsbi.production.plan import CLUSTER_KINDS, ProductionPlan
from madsbi.production.runner import produce as run_production


@click.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (overrides [production] output_dir).",
)
@click.option(
    "--jobs",
    "n_jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Number of jobs (overrides [production] n_jobs).",
)
@click.option(
    "--events-per-job",
    type=click.IntRange(min=1),
    default=None,
    help="Events per job (overrides [production] events_per_job).",
)
@click.option(
    "--workers",
    "n_workers",
    type=click.IntRange(min=1),
    default=None,
    help="Dask workers (overrides [cluster] n_workers).",
)
@click.option(
    "--threads",
    "threads",
    type=click.IntRange(min=1),
    default=None,
    help="Jobs per worker at a time (overrides [cluster] threads_per_worker).",
)
@click.option(
    "--cluster",
    "kind",
    type=click.Choice(CLUSTER_KINDS),
    default=None,
    help="Where the jobs run (overrides [cluster] kind).",
)
@click.option(
    "--job",
    "job",
    default=None,
    help="'gridpack' or 'package.module:function' (overrides [production] job).",
)
@click.option("--no-merge", is_flag=True, help="Produce the shards only.")
@click.option("--overwrite", is_flag=True, help="Replace the merged store if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def produce(
    config: Path,
    out: Path | None,
    n_jobs: int | None,
    events_per_job: int | None,
    n_workers: int | None,
    threads: int | None,
    kind: str | None,
    job: str | None,
    no_merge: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Produce events from a gridpack as many jobs with distinct seeds, then merge them.

    CONFIG is a TOML file with [production], [convert] and [cluster] tables. Jobs whose
    shard exists are skipped, so running again after a failure redoes only the failed jobs.
    """
    try:
        plan = ProductionPlan.from_toml(config)
        production = {
            k: v
            for k, v in (
                ("output_dir", None if out is None else str(out)),
                ("n_jobs", n_jobs),
                ("events_per_job", events_per_job),
                ("job", job),
            )
            if v is not None
        }
        cluster = {
            k: v
            for k, v in (("n_workers", n_workers), ("threads_per_worker", threads), ("kind", kind))
            if v is not None
        }
        plan = plan.replace(**production).with_cluster(**cluster)
        report = run_production(
            plan, merge=not no_merge, overwrite=overwrite, progress=not quiet, log=click.echo
        )
    except MadSBIError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    click.echo(
        f"ran {len(report.ran)} jobs, skipped {len(report.skipped)} with existing shards "
        f"({report.seconds:.1f} s)"
    )
    if report.merged is not None:
        click.echo(f"wrote {report.merged}")
