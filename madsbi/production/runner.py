"""Running a production: submit the missing jobs to Dask, collect failures, merge the shards.

Resumable by construction: a job whose shard exists is not submitted again (shards appear
only complete, see :func:`madsbi.production.jobs.run_job`), and a failed job never
removes another job's shard.
"""

from __future__ import annotations

import importlib
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from madsbi._progress import progress_bar
from madsbi.errors import ConfigError, StoreExistsError
from madsbi.events.merge import merge_stores
from madsbi.production.cluster import import_distributed, open_client
from madsbi.production.gridpack import gridpack_job
from madsbi.production.jobs import JobError, JobFunction, JobResult, JobSpec, job_specs
from madsbi.production.plan import GRIDPACK_JOB, ProductionPlan

#: Written into the output folder at the first run; a resumed run must match it.
PLAN_FILE = "production.json"


@dataclass(frozen=True)
class JobFailure:
    """A job that did not produce its shard."""

    index: int
    seed: int
    error: str

    def describe(self) -> str:
        """One line: the job, its seed and what went wrong."""
        return f"job {self.index} (seed {self.seed}): {self.error}"


class ProductionError(JobError):
    """Some jobs failed; their shards are missing, all other shards are kept.

    Attributes
    ----------
    failures : tuple of JobFailure
        The failed jobs, by index.
    """

    def __init__(self, message: str, failures: Sequence[JobFailure]) -> None:
        super().__init__(message)
        self.failures = tuple(failures)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.failures))


@dataclass(frozen=True)
class ProductionReport:
    """What :func:`produce` did.

    Attributes
    ----------
    ran, skipped : tuple of int
        Jobs whose shards this run produced, and jobs whose shard existed before it.
    results : tuple of JobResult
        The jobs run now.
    merged : Path or None
        The merged store (``None`` with ``merge=False``).
    seconds : float
        Wall time.
    """

    ran: tuple[int, ...]
    skipped: tuple[int, ...]
    results: tuple[JobResult, ...] = field(repr=False)
    merged: Path | None
    seconds: float


def check_plan_file(plan: ProductionPlan) -> None:
    """Record the plan in ``<output_dir>/production.json``, or check a resumed run against it.

    Raises
    ------
    ConfigError
        If the folder holds a production with other seeds, events per job, job function,
        gridpack or conversion settings; the message names the first differing setting.
    """
    path = plan.output_dir / PLAN_FILE
    current = plan.fingerprint()
    if path.is_file():
        try:
            recorded = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not a madsbi production record ({exc})") from None
        for key in sorted(set(current) | set(recorded)):
            if current.get(key) != recorded.get(key):
                raise ConfigError(
                    f"{plan.output_dir} holds shards of another production: {key} was "
                    f"{recorded.get(key)!r}, the plan now says {current.get(key)!r}; use a new "
                    "output folder (or restore the setting to resume)"
                )
        return
    plan.output_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{PLAN_FILE}.tmp-{secrets.token_hex(4)}")
    tmp.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def _failure(spec: JobSpec, exc: BaseException) -> JobFailure:
    if isinstance(exc, JobError):
        text = str(exc)
        prefix = f"job {spec.index} (seed {spec.seed})"
        text = text.removeprefix(prefix).removeprefix(": ").removeprefix(" failed: ")
    else:
        # KilledWorker and friends: Dask's own errors, raised when the worker process died.
        text = f"{type(exc).__name__}: {exc} (the worker running it died; log: {spec.log})"
    return JobFailure(spec.index, spec.seed, text)


def run_jobs(
    specs: Sequence[JobSpec],
    job: JobFunction,
    client: Any,
    *,
    retries: int = 0,
    progress: bool = True,
) -> tuple[list[JobResult], list[JobFailure]]:
    """Run ``specs`` on a Dask ``client``; results and failures, both sorted by index."""
    distributed = import_distributed()
    token = secrets.token_hex(4)
    by_key: dict[str, JobSpec] = {}
    futures = []
    for spec in specs:
        key = f"madsbi-produce-{spec.index:05d}-{token}"
        by_key[key] = spec
        futures.append(client.submit(_run, spec, job, key=key, retries=retries, pure=False))
    results: list[JobResult] = []
    failures: list[JobFailure] = []
    with progress_bar(len(specs), "jobs", unit="job", enabled=progress) as bar:
        for future in distributed.as_completed(futures):
            spec = by_key[future.key]
            if future.status == "error":
                failures.append(_failure(spec, future.exception()))
            else:
                # "finished", or a future whose result was lost with its worker and that the
                # scheduler recomputes ("lost"/"pending"): result() waits for it, and raises
                # what the recomputation raised.
                try:
                    results.append(future.result())
                except Exception as exc:
                    failures.append(_failure(spec, exc))
            future.release()
            bar.update(1)
    results.sort(key=lambda r: r.index)
    failures.sort(key=lambda f: f.index)
    return results, failures


def resolve_job(job: str | JobFunction) -> JobFunction:
    """The job function named by ``job``: ``"gridpack"``, ``"module:function"`` or a callable.

    Raises
    ------
    ConfigError
        If the module cannot be imported or has no such callable.
    """
    if callable(job):
        return job
    if job == GRIDPACK_JOB:
        return gridpack_job
    module_name, sep, attr = job.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"job: expected 'package.module:function', got {job!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"job {job!r}: cannot import {module_name!r} ({exc})") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise ConfigError(f"job {job!r}: module {module_name!r} has no callable {attr!r}")
    result: JobFunction = function
    return result


def _run(spec: JobSpec, job: JobFunction) -> JobResult:
    # Module-level, so that Dask pickles it by reference.
    from madsbi.production.jobs import run_job

    return run_job(spec, job)


def produce(
    plan: ProductionPlan,
    *,
    job: str | JobFunction | None = None,
    client: Any = None,
    merge: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> ProductionReport:
    """Run the jobs of ``plan`` whose shards are missing, then merge all shards.

    Parameters
    ----------
    plan : ProductionPlan
        What to produce.
    job : str or callable, optional
        Overrides ``[production] job``: ``"gridpack"``, ``"module:function"`` or a callable
        taking a :class:`~madsbi.production.jobs.JobSpec`.
    client : distributed.Client, optional
        Run on this client instead of opening the cluster ``plan.cluster`` describes. Its
        scheduler should run with ``distributed.scheduler.worker-saturation = 1.0`` (as
        madsbi's own clusters do), so that a worker that dies takes only its running jobs
        with it.
    merge : bool
        Merge the shards into ``<output_dir>/<name>.h5`` once all exist.
    overwrite : bool
        Replace an existing merged store.
    progress : bool
        Show a progress bar over finished jobs.
    log : callable, optional
        Receives one-line messages (jobs skipped, the merged store).

    Returns
    -------
    ProductionReport

    Raises
    ------
    ProductionError
        If any job failed: names each failed job with its seed and error. The shards of the
        jobs that succeeded are kept; run again to redo only the missing ones.
    StoreExistsError
        If the merged store exists and ``overwrite`` is false (checked before any job runs).
    StoreMismatchError
        If the shards describe different samples (processes, bases, cards, ...).
    ConfigError
        If the output folder holds a production with different settings, or the job
        function cannot be imported.
    """
    started = time.perf_counter()
    say = log or (lambda _message: None)
    function = resolve_job(job if job is not None else plan.production.job)
    if merge and plan.merged_path.exists() and not overwrite:
        raise StoreExistsError(
            f"{plan.merged_path} exists; pass overwrite=True (CLI: --overwrite) to replace it"
        )
    check_plan_file(plan)
    specs = job_specs(plan)
    todo = [s for s in specs if not s.output.exists()]
    skipped = tuple(s.index for s in specs if s.output.exists())
    if skipped:
        say(f"{len(skipped)} of {len(specs)} shards exist already; running the other {len(todo)}")
    results: list[JobResult] = []
    failures: list[JobFailure] = []
    if todo:
        retries = plan.cluster.retries
        if client is not None:
            results, failures = run_jobs(todo, function, client, retries=retries, progress=progress)
        else:
            with open_client(plan.cluster) as own:
                results, failures = run_jobs(
                    todo, function, own, retries=retries, progress=progress
                )
    if failures:
        lines = "\n".join(f"  {f.describe()}" for f in failures)
        raise ProductionError(
            f"{len(failures)} of {len(specs)} jobs failed; the {len(specs) - len(failures)} "
            f"finished shards are kept in {plan.shard_dir} and a new run redoes only the "
            f"failed jobs:\n{lines}",
            failures,
        )
    merged = None
    if merge:
        merged = merge_stores(
            plan.merged_path,
            [s.output for s in specs],
            overwrite=overwrite,
            compression=plan.convert.compression,
            progress=progress,
        )
        say(f"merged {len(specs)} shards into {merged}")
    return ProductionReport(
        ran=tuple(r.index for r in results),
        skipped=skipped,
        results=tuple(results),
        merged=merged,
        seconds=time.perf_counter() - started,
    )
