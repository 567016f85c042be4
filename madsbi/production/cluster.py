"""Dask clusters for production: a local one by default, dask-jobqueue for batch systems."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

from madsbi.errors import OptionalDependencyError
from madsbi.production.plan import ClusterSettings

#: dask-jobqueue class of each batch-system kind.
JOBQUEUE_CLASSES = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "htcondor": "HTCondorCluster"}


def import_distributed() -> Any:
    """``dask.distributed``, or an error that names the extra to install."""
    try:
        import distributed
    except ImportError:
        raise OptionalDependencyError(
            "madsbi produce needs dask.distributed: pip install 'madsbi[hpc]'"
        ) from None
    return distributed


def _jobqueue_cluster(settings: ClusterSettings) -> Any:
    try:
        # Imported by name: dask-jobqueue ships no type information.
        dask_jobqueue = importlib.import_module("dask_jobqueue")
    except ImportError:
        raise OptionalDependencyError(
            f"[cluster] kind = {settings.kind!r} needs dask-jobqueue: "
            "pip install 'madsbi[jobqueue]'"
        ) from None
    cls = getattr(dask_jobqueue, JOBQUEUE_CLASSES[settings.kind])
    kwargs = dict(settings.jobqueue)
    # One batch job per worker by default; each runs threads_per_worker production jobs.
    kwargs.setdefault("processes", 1)
    kwargs.setdefault("cores", settings.threads_per_worker)
    cluster = cls(**kwargs)
    cluster.scale(jobs=settings.n_workers)
    return cluster


@contextlib.contextmanager
def open_client(settings: ClusterSettings) -> Iterator[Any]:
    """A ``distributed.Client`` on the cluster ``settings`` describe; closed on exit.

    Raises
    ------
    OptionalDependencyError
        If ``dask.distributed`` (extra ``hpc``) or ``dask-jobqueue`` (extra ``jobqueue``)
        is not installed.
    """
    distributed = import_distributed()
    import dask

    # Hand a worker a job only when a thread is free: jobs run for minutes to hours, so
    # queueing them on workers gains nothing, and a job queued on a worker that dies would
    # count that death against itself (Dask's allowed-failures) without having run.
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        if settings.kind == "local":
            cluster = distributed.LocalCluster(
                n_workers=settings.n_workers,
                threads_per_worker=settings.threads_per_worker,
                processes=settings.processes,
                dashboard_address=":0",
            )
        else:
            cluster = _jobqueue_cluster(settings)
    with cluster, distributed.Client(cluster) as client:
        yield client
