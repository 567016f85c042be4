"""Event production on many cores or a batch system (``madsbi produce``).

A :class:`ProductionPlan` (TOML) lists n jobs with distinct seeds; :func:`produce` runs the
jobs whose shards are missing through Dask, each writing ``shards/shard-<i>.h5`` atomically,
and merges the shards with :func:`madsbi.events.merge.merge_stores`.
"""

from __future__ import annotations

from madsbi.events.convert import ConvertSettings
from madsbi.production.jobs import JobError, JobResult, JobSpec, job_specs, run_job
from madsbi.production.plan import ClusterSettings, ProductionPlan, ProductionSettings
from madsbi.production.runner import (
    JobFailure,
    ProductionError,
    ProductionReport,
    produce,
    resolve_job,
)

__all__ = [
    "ClusterSettings",
    "ConvertSettings",
    "JobError",
    "JobFailure",
    "JobResult",
    "JobSpec",
    "ProductionError",
    "ProductionPlan",
    "ProductionReport",
    "ProductionSettings",
    "job_specs",
    "produce",
    "resolve_job",
    "run_job",
]
