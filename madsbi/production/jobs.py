"""One production job: its specification, the pluggable job function, and the shard handoff.

A job function takes a :class:`JobSpec` and writes an event store at ``spec.output``. It
never sees the final shard name: :func:`run_job` gives it a temporary name beside the shard
and renames the file only after the function returned and the file opens as a store, so a
shard that exists is complete, and a job killed half-way leaves no shard behind.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from madsbi.errors import MadSBIError, StoreFormatError
from madsbi.events.convert import ConvertSettings
from madsbi.production.plan import ProductionPlan


@dataclass(frozen=True)
class JobSpec:
    """Everything one job needs; picklable, so it travels to Dask workers.

    Attributes
    ----------
    index, seed, n_events : int
        Job number, its random seed and the events it asks for.
    output : Path
        Where the job function writes its store (a temporary name; see :func:`run_job`).
    shard_id, sample_id : str
        Provenance written into the store (``ShardInfo.shard_id``, ``StoreMeta.sample_id``).
    scratch : Path
        A folder of the job's own for intermediate files.
    log : Path
        Where the job writes the output of external programs.
    gridpack : Path or None
        The gridpack, for the gridpack job.
    convert : ConvertSettings
        How to turn the job's LHE file into a store.
    timeout : float
        Seconds the job may run (0: no limit).
    keep_scratch : bool
        Keep ``scratch`` after success.
    """

    index: int
    seed: int
    n_events: int
    output: Path
    shard_id: str
    sample_id: str
    scratch: Path
    log: Path
    gridpack: Path | None = None
    convert: ConvertSettings = field(default_factory=ConvertSettings)
    timeout: float = 0.0
    keep_scratch: bool = False


@dataclass(frozen=True)
class JobResult:
    """What a finished job reports back: its index, seed, shard and wall time.

    ``reused`` is true when the shard existed when the task started, so nothing ran: Dask
    recomputes a finished task whose result was held by a worker that died later, and the
    job must not be redone.
    """

    index: int
    seed: int
    shard: Path
    seconds: float
    reused: bool = False


JobFunction = Callable[[JobSpec], object]


class JobError(MadSBIError, RuntimeError):
    """A production job failed; the message names the job, its seed and where to look."""


def job_specs(plan: ProductionPlan) -> list[JobSpec]:
    """The specification of every job of ``plan``, in index order."""
    p = plan.production
    out = plan.output_dir
    gridpack = Path(p.gridpack) if p.gridpack else None
    return [
        JobSpec(
            index=i,
            seed=plan.seed(i),
            n_events=p.events_per_job,
            output=plan.shard_path(i),
            shard_id=f"{p.name}-job{i:05d}-seed{plan.seed(i)}",
            sample_id=p.name,
            scratch=out / "scratch" / f"job-{i:05d}",
            log=out / "logs" / f"job-{i:05d}.log",
            gridpack=gridpack,
            convert=plan.convert,
            timeout=p.timeout,
            keep_scratch=p.keep_scratch,
        )
        for i in range(p.n_jobs)
    ]


def run_job(spec: JobSpec, job: JobFunction) -> JobResult:
    """Run ``job`` for ``spec`` and move its store into place as the shard ``spec.output``.

    Runs on a Dask worker. The job writes ``.<shard>.part-<pid>-<hex>`` beside the shard;
    only a store that opens is renamed into place. If the shard exists already, nothing runs.

    Raises
    ------
    JobError
        If the job raised or wrote no readable store; the message names job, seed and log.
    """
    from madsbi.events.store import EventStore

    started = time.perf_counter()
    shard = spec.output
    if shard.is_file():
        return JobResult(spec.index, spec.seed, shard, 0.0, reused=True)
    shard.parent.mkdir(parents=True, exist_ok=True)
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    part = shard.with_name(f".{shard.name}.part-{os.getpid()}-{secrets.token_hex(4)}")
    label = f"job {spec.index} (seed {spec.seed})"
    try:
        try:
            job(replace(spec, output=part))
        except Exception as exc:
            raise JobError(
                f"{label} failed: {type(exc).__name__}: {exc} (log: {spec.log})"
            ) from exc
        if not part.is_file():
            raise JobError(f"{label}: the job function returned without writing {part}")
        try:
            with EventStore(part):
                pass
        except (StoreFormatError, OSError) as exc:
            raise JobError(f"{label}: the job wrote an unreadable store ({exc})") from exc
        os.replace(part, shard)
    finally:
        part.unlink(missing_ok=True)
    return JobResult(spec.index, spec.seed, shard, time.perf_counter() - started)
