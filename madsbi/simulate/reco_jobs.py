"""The reco simulation as many jobs.

Row ranges of the parton store run as Dask tasks (the
``madsbi produce`` cluster: local by default, dask-jobqueue on a batch system), each writing
one shard atomically; shards merge into one store equal to a one-process run's.

Resumable: a job whose shard exists is not run again, and a rerun with other settings is
refused (the settings are recorded in ``reco.json`` beside the shards).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._progress import progress_bar
from madsbi.errors import ConfigError, InputError, StoreExistsError
from madsbi.events import schema
from madsbi.events.merge import merge_stores
from madsbi.events.store import EventStore
from madsbi.processes import DEFAULT_PROCESS
from madsbi.production.cluster import import_distributed, open_client
from madsbi.production.plan import ClusterSettings
from madsbi.simulate.reco import RecoConfig, RunStatistics, run_statistics, simulate_reco

SETTINGS_FILE = "reco.json"


@dataclass(frozen=True)
class RecoJob:
    """Rows ``start .. stop`` of the input, written to ``shard``."""

    index: int
    start: int
    stop: int
    shard: Path


def split_rows(start: int, stop: int, n_jobs: int) -> list[tuple[int, int]]:
    """``n_jobs`` contiguous, near-equal row ranges covering ``start .. stop``."""
    if n_jobs < 1 or stop - start < n_jobs:
        raise InputError(f"jobs: expected 1 <= jobs <= {stop - start} events, got {n_jobs}")
    edges = np.linspace(start, stop, n_jobs + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def _run_job(
    store: str,
    job: RecoJob,
    config: RecoConfig,
    mean: list[float],
    std: list[float],
    chunk_size: int,
    options: dict[str, Any],
) -> str:
    stats = RunStatistics(np.array(mean), np.array(std))
    simulate_reco(
        store,
        job.shard,
        config,
        start=job.start,
        stop=job.stop,
        stats=stats,
        chunk_size=chunk_size,
        shard_id=f"{Path(store).stem}-reco-job{job.index}-rows{job.start}-{job.stop}",
        passed_only=bool(options["passed_only"]),
        compression=options["compression"],
    )
    return str(job.shard)


@contextlib.contextmanager
def _client(settings: ClusterSettings) -> Iterator[Any]:
    """A Dask client; a local cluster gets its dashboard on a free port (no clash on 8787)."""
    if settings.kind != "local":
        with open_client(settings) as client:
            yield client
        return
    distributed = import_distributed()
    with (
        distributed.LocalCluster(
            n_workers=settings.n_workers,
            threads_per_worker=settings.threads_per_worker,
            processes=settings.processes,
            dashboard_address=":0",
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


def _check_settings(folder: Path, settings: dict[str, Any]) -> None:
    path = folder / SETTINGS_FILE
    if path.exists():
        recorded = json.loads(path.read_text())
        if isinstance(recorded.get("config"), dict):
            # Shards made before the selection was a setting applied the W±Z one.
            recorded["config"].setdefault("selection", DEFAULT_PROCESS)
            # ... and before detector variations and shifts were settings, none were made.
            recorded["config"].setdefault("variations", [])
            recorded["config"].setdefault("shifts", [])
        if recorded != settings:
            raise ConfigError(
                f"{path}: the shards in {folder} were made with other settings "
                f"({recorded}); use another folder or remove it"
            )
    else:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=1, sort_keys=True))


def run_reco_jobs(
    store: str | Path,
    out: str | Path,
    config: RecoConfig,
    *,
    n_jobs: int,
    start: int = 0,
    stop: int | None = None,
    chunk_size: int = 1000,
    cluster: ClusterSettings | None = None,
    overwrite: bool = False,
    progress: bool = False,
    passed_only: bool = False,
    compression: str | None = schema.DEFAULT_COMPRESSION,
) -> Path:
    """Run the reco simulation as ``n_jobs`` Dask jobs and merge their shards into ``out``.

    Shards live in ``<out>.shards/``; a rerun skips jobs whose shard exists. ``passed_only``
    and ``compression`` as in :func:`~madsbi.simulate.reco.simulate_reco`.

    Parameters
    ----------
    cluster : ClusterSettings, optional
        Where the jobs run (default: a local cluster of 2 worker processes); ``None`` with
        ``n_jobs == 1`` runs in this process.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise StoreExistsError(
            f"{out} exists; pass overwrite=True (CLI: --overwrite) to replace it"
        )
    with EventStore(store) as parton:
        n_total = parton.n_events()
        stop = n_total if stop is None else stop
        if not 0 <= start < stop <= n_total:
            raise InputError(f"rows: expected 0 <= start < stop <= {n_total}, got {start}, {stop}")
        stats = run_statistics(parton, start, stop)
    folder = out.with_name(out.name + ".shards")
    settings = {
        "store": str(Path(store).resolve()),
        "config": asdict(config),
        "rows": [start, stop],
        "n_jobs": n_jobs,
        "passed_only": passed_only,
    }
    _check_settings(folder, json.loads(json.dumps(settings)))
    jobs = [
        RecoJob(i, a, b, folder / f"reco-{i:05d}.h5")
        for i, (a, b) in enumerate(split_rows(start, stop, n_jobs))
    ]
    todo = [j for j in jobs if not j.shard.exists()]
    mean, std = stats.mean.tolist(), stats.std.tolist()
    options: dict[str, Any] = {"passed_only": passed_only, "compression": compression}
    with progress_bar(len(jobs), "reco jobs", unit="job", enabled=progress) as bar:
        bar.update(len(jobs) - len(todo))
        if todo and cluster is None and n_jobs == 1:
            _run_job(str(store), todo[0], config, mean, std, chunk_size, options)
            bar.update(1)
        elif todo:
            with _client(cluster or ClusterSettings()) as client:
                futures = [
                    client.submit(
                        _run_job,
                        str(store),
                        job,
                        config,
                        mean,
                        std,
                        chunk_size,
                        options,
                        pure=False,
                    )
                    for job in todo
                ]
                for future in import_distributed().as_completed(futures):
                    future.result()
                    bar.update(1)
    shards = [j.shard for j in jobs]
    return merge_stores(
        out, shards, overwrite=overwrite, progress=progress, compression=compression
    )
