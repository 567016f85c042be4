"""Job functions for the production tests: write small synthetic shards, die, or fail.

Importable by Dask worker processes (the test folder is on ``sys.path`` and spawned
workers inherit it). Each run leaves a marker file ``<output_dir>/markers/job-<i>-<hex>``,
so a test can count how often each job ran.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from madsbi.events.meta import ShardInfo
from madsbi.production import JobSpec

from helpers.stores import make_meta, random_parton, write_store


def marker_dir(spec: JobSpec) -> Path:
    """``<output_dir>/markers`` (scratch is ``<output_dir>/scratch/job-<i>``)."""
    return spec.scratch.parent.parent / "markers"


def runs(output_dir: Path) -> dict[int, int]:
    """How many times each job index ran (started) under ``output_dir``."""
    counts: dict[int, int] = {}
    folder = output_dir / "markers"
    for path in folder.glob("job-*") if folder.is_dir() else ():
        index = int(path.name.split("-")[1])
        counts[index] = counts.get(index, 0) + 1
    return counts


def _mark(spec: JobSpec) -> None:
    folder = marker_dir(spec)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"job-{spec.index}-{secrets.token_hex(4)}").touch()


def _write(spec: JobSpec, process: str = "test: two parameters") -> None:
    rng = np.random.default_rng(spec.seed)
    meta = dataclasses.replace(make_meta(process=process), sample_id=spec.sample_id)
    write_store(
        spec.output,
        meta,
        [random_parton(rng, spec.n_events)],
        shard=ShardInfo(spec.shard_id, spec.n_events, seed=spec.seed, source="fake"),
        overwrite=True,
    )


def write_shard(spec: JobSpec) -> None:
    """A well-behaved job: a synthetic shard whose events are drawn from the job's seed."""
    _mark(spec)
    _write(spec)


def die_once(spec: JobSpec) -> None:
    """Job 1 kills its worker process on its first attempt; every other attempt succeeds."""
    _mark(spec)
    flag = marker_dir(spec).parent / "died-once"
    if spec.index == 1 and not flag.exists():
        flag.touch()
        os._exit(1)
    _write(spec)


def job2_always_dies(spec: JobSpec) -> None:
    """Job 2 kills its worker process on every attempt."""
    _mark(spec)
    if spec.index == 2:
        os._exit(1)
    _write(spec)


def job2_raises(spec: JobSpec) -> None:
    """Job 2 raises half-way, after writing part of its output."""
    _mark(spec)
    if spec.index == 2:
        spec.output.write_bytes(b"half a store")
        raise RuntimeError("simulated generator crash")
    _write(spec)


def job1_other_process(spec: JobSpec) -> None:
    """Job 1 writes a shard of another process, which the merge must refuse."""
    _mark(spec)
    _write(spec, process="test: another process" if spec.index == 1 else "test: two parameters")


def writes_nothing(spec: JobSpec) -> None:
    """Returns without writing its store."""
    _mark(spec)


def cluster_fixture() -> Any:
    """A module-scoped fixture: ``distributed.Client`` on 2 local worker processes.

    A task whose worker dies is rescheduled once (``allowed-failures = 1``); a second death
    makes it fail with ``KilledWorker``. Use as ``client = cluster_fixture()`` in a module.
    """

    @pytest.fixture(scope="module")
    def client() -> Iterator[Any]:
        dask = pytest.importorskip("dask")
        distributed = pytest.importorskip("distributed")
        settings = {
            "distributed.scheduler.allowed-failures": 1,
            "distributed.scheduler.worker-saturation": 1.0,  # as madsbi's own clusters
        }
        with dask.config.set(settings):
            cluster = distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
            )
            with cluster, distributed.Client(cluster) as c:
                yield c

    return client
