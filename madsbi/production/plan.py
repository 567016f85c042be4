"""The production plan: what ``madsbi produce`` runs, read from a TOML file.

A plan has three tables: ``[production]`` (what to produce and where), ``[convert]`` (how
each job's LHE file becomes a shard: the fields of
:class:`madsbi.events.convert.ConvertSettings`) and ``[cluster]`` (where the jobs run). Unknown keys
are refused by name (:func:`madsbi.config.build`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from madsbi._paths import same_file
from madsbi.config import build, check_sections, read_toml
from madsbi.errors import ConfigError, InputError
from madsbi.events.convert import ConvertSettings

#: MadGraph's RANMAR seeding maps iseed onto (ij, kl) without repeats only below this value
#: (``ranmar.f``: "iseed can be between 0 and 30081*30081"); 0 means "pick one", which would
#: make a job irreproducible, so job seeds lie in ``1 .. MAX_SEED``.
MAX_SEED = 30081 * 30081

#: Cluster kinds: a local ``dask.distributed`` cluster or a dask-jobqueue batch system.
CLUSTER_KINDS = ("local", "slurm", "pbs", "htcondor")

#: The job that runs a MadGraph gridpack (:func:`madsbi.production.gridpack.gridpack_job`).
GRIDPACK_JOB = "gridpack"


@dataclass(frozen=True)
class ProductionSettings:
    """The ``[production]`` table.

    Attributes
    ----------
    name : str
        Sample id written into every shard (shards merge only if they share it) and the
        stem of the merged store ``<output_dir>/<name>.h5``.
    n_jobs, events_per_job : int
        Number of jobs and the events each one asks for.
    base_seed : int
        Job ``i`` uses seed ``base_seed + i`` (distinct, reproducible).
    output_dir : str
        Holds ``shards/``, ``scratch/``, ``logs/`` and the merged store.
    job : str
        ``"gridpack"`` or an importable ``"package.module:function"`` taking a
        :class:`~madsbi.production.jobs.JobSpec`.
    gridpack : str
        Gridpack tarball (``.tar.gz``) or unpacked directory; needed by the gridpack job.
    timeout : float
        Seconds one job may run (0: no limit).
    keep_scratch : bool
        Keep each job's unpacked gridpack after success (it is always kept after a failure).
    reweighting : bool
        False: a θ-independent production (a SM background such as Z+jets from a gridpack
        without a reweight card): each job's LHE file, which carries no ``<rwgt>`` weights,
        is converted with ``reweighting = False`` (``store convert --no-reweighting``), its
        coefficients the event weight at every θ. The plan's ``[convert] reweighting`` is
        set to match (a plan that asks for both is refused).
    """

    name: str = "production"
    n_jobs: int = 1
    events_per_job: int = 10_000
    base_seed: int = 1
    output_dir: str = "production"
    job: str = GRIDPACK_JOB
    gridpack: str = ""
    timeout: float = 0.0
    keep_scratch: bool = False
    reweighting: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.reweighting, bool):
            raise ConfigError(
                f"[production] reweighting: expected true or false, got {self.reweighting!r}"
            )
        for name in ("n_jobs", "events_per_job", "base_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"[production] {name}: expected an integer >= 1, got {value!r}")
        last = self.base_seed + self.n_jobs - 1
        if last > MAX_SEED:
            raise ConfigError(
                f"[production] base_seed: seeds run up to base_seed + n_jobs - 1 = {last}, "
                f"above MadGraph's limit {MAX_SEED}; "
                f"choose base_seed <= {MAX_SEED - self.n_jobs + 1}"
            )
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ConfigError(f"[production] name: expected a plain file stem, got {self.name!r}")
        if self.job != GRIDPACK_JOB and ":" not in self.job:
            raise ConfigError(
                f"[production] job: expected 'gridpack' or 'package.module:function', "
                f"got {self.job!r}"
            )
        if self.job == GRIDPACK_JOB and not self.gridpack:
            raise ConfigError("[production] gridpack: required when job = 'gridpack'")
        if not isinstance(self.timeout, int | float) or self.timeout < 0:
            raise ConfigError(f"[production] timeout: expected seconds >= 0, got {self.timeout!r}")


@dataclass(frozen=True)
class ClusterSettings:
    """The ``[cluster]`` table.

    Attributes
    ----------
    kind : str
        ``local`` (``dask.distributed.LocalCluster``) or ``slurm``, ``pbs``, ``htcondor``
        (``dask_jobqueue``; extra ``jobqueue``).
    n_workers : int
        Local worker processes, or batch workers requested from the queue.
    threads_per_worker : int
        Jobs one worker runs at a time.
    retries : int
        Times Dask resubmits a job that raised; a worker that dies is rescheduled by Dask
        itself (up to ``distributed.scheduler.allowed-failures`` times).
    processes : bool
        Local workers as processes (isolates a crashing job) or threads.
    jobqueue : mapping
        Keyword arguments of the dask-jobqueue cluster class (``cores``, ``memory``,
        ``queue``, ``walltime``, ``account``, ``job_extra_directives``, ...).
    """

    kind: str = "local"
    n_workers: int = 2
    threads_per_worker: int = 1
    retries: int = 0
    processes: bool = True
    jobqueue: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in CLUSTER_KINDS:
            raise ConfigError(f"[cluster] kind: expected one of {CLUSTER_KINDS}, got {self.kind!r}")
        for name, low in (("n_workers", 1), ("threads_per_worker", 1), ("retries", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"[cluster] {name}: expected an integer >= {low}, got {value!r}")
        if not isinstance(self.jobqueue, Mapping):
            raise ConfigError(
                f"[cluster] jobqueue: expected a table, got {type(self.jobqueue).__name__}"
            )


@dataclass(frozen=True)
class ProductionPlan:
    """A whole production: ``[production]``, ``[convert]`` and ``[cluster]``."""

    production: ProductionSettings
    convert: ConvertSettings = field(default_factory=ConvertSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)

    def __post_init__(self) -> None:
        self._check_gridpack_path()
        if not self.production.reweighting and self.convert.reweighting:
            # One switch: a θ-independent production converts without reweighting.
            object.__setattr__(
                self, "convert", dataclasses.replace(self.convert, reweighting=False)
            )

    def _check_gridpack_path(self) -> None:
        """The gridpack must be none of the files a production writes, replaces or clears."""
        if not self.production.gridpack:
            return
        pack = Path(self.production.gridpack)
        where = f"[production] gridpack {pack}"
        how = same_file(self.merged_path, pack)
        if how is not None:
            raise ConfigError(
                f"{where} is the merged store {self.merged_path} ({how}): merging would "
                "replace the gridpack; choose another [production] name or output_dir"
            )
        real = Path(os.path.realpath(pack))
        for folder in (self.shard_dir, self.output_dir / "scratch", self.output_dir / "logs"):
            inside = Path(os.path.realpath(folder))
            if real == inside or inside in real.parents:
                raise ConfigError(
                    f"{where} lies in {folder}, which the production writes and clears; move "
                    "the gridpack out of the output folder's shards/, scratch/ and logs/"
                )
        out = Path(os.path.realpath(self.output_dir))
        if pack.is_dir() and (out == real or real in out.parents):
            raise ConfigError(
                f"{where}: the output folder {self.output_dir} lies inside this unpacked "
                "gridpack, so every job would copy the gridpack into itself; choose an "
                "output_dir (CLI: --out) outside it"
            )

    @classmethod
    def from_mapping(
        cls, document: Mapping[str, Any], *, base_dir: Path | None = None
    ) -> ProductionPlan:
        """Build a plan from parsed TOML; relative paths are taken relative to ``base_dir``.

        Raises
        ------
        ConfigError
            For unknown sections or keys, a missing ``[production]`` table, or bad values.
        """
        doc = dict(document)
        check_sections(doc, {"production", "convert", "cluster"}, "production plan")
        if "production" not in doc:
            raise ConfigError("production plan: the [production] table is missing")
        production = build(ProductionSettings, doc["production"], "production")
        if base_dir is not None:
            production = _relative_to(production, base_dir)
        try:
            convert = build(ConvertSettings, doc.get("convert"), "convert")
        except InputError as exc:  # the events-owned settings name the field, not the table
            raise ConfigError(f"[convert] {exc}") from None
        if not production.reweighting and (doc.get("convert") or {}).get("reweighting") is True:
            raise ConfigError(
                "[production] reweighting = false (a θ-independent production) contradicts "
                "[convert] reweighting = true; drop one of them"
            )
        return cls(
            production=production,
            convert=convert,
            cluster=build(ClusterSettings, doc.get("cluster"), "cluster"),
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> ProductionPlan:
        """Read a plan from a TOML file; relative paths are relative to the file's folder."""
        path = Path(path)
        return cls.from_mapping(read_toml(path), base_dir=path.resolve().parent)

    def replace(self, **production: Any) -> ProductionPlan:
        """A copy with ``[production]`` fields changed (checked again)."""
        return dataclasses.replace(
            self, production=dataclasses.replace(self.production, **production)
        )

    def with_cluster(self, **cluster: Any) -> ProductionPlan:
        """A copy with ``[cluster]`` fields changed (checked again)."""
        return dataclasses.replace(self, cluster=dataclasses.replace(self.cluster, **cluster))

    # -- derived -------------------------------------------------------------------------

    def seed(self, index: int) -> int:
        """The random seed of job ``index`` (``base_seed + index``)."""
        if not 0 <= index < self.production.n_jobs:
            raise ConfigError(f"job index: expected 0 .. {self.production.n_jobs - 1}, got {index}")
        return self.production.base_seed + index

    @property
    def output_dir(self) -> Path:
        """The production's output folder."""
        return Path(self.production.output_dir)

    @property
    def shard_dir(self) -> Path:
        """Where the shards go."""
        return self.output_dir / "shards"

    def shard_path(self, index: int) -> Path:
        """The shard of job ``index``: ``<output_dir>/shards/shard-<index>.h5``."""
        return self.shard_dir / f"shard-{index:05d}.h5"

    @property
    def merged_path(self) -> Path:
        """The merged store ``<output_dir>/<name>.h5``."""
        return self.output_dir / f"{self.production.name}.h5"

    def fingerprint(self) -> dict[str, Any]:
        """The settings that decide what a shard contains; a resumed run must keep them.

        ``n_jobs`` is not among them: raising it adds jobs without changing earlier ones.
        """
        p = self.production
        return {
            "name": p.name,
            "events_per_job": p.events_per_job,
            "base_seed": p.base_seed,
            "job": p.job,
            "gridpack": str(Path(p.gridpack).resolve()) if p.gridpack else "",
            "convert": _convert_fingerprint(self.convert),
        }


#: The ``[convert]`` fields of the first productions: always recorded. Later fields are
#: recorded only when they differ from their defaults, so older productions still resume.
_FIRST_CONVERT_FIELDS = ("parameters", "basis_ids", "holdout_tolerance", "keep_rwgt", "compression")


def _convert_fingerprint(settings: ConvertSettings) -> dict[str, Any]:
    """The conversion settings as JSON values (``compression`` None recorded as "none")."""
    current = json.loads(json.dumps(dataclasses.asdict(settings)))
    default = json.loads(json.dumps(dataclasses.asdict(ConvertSettings())))
    recorded = {k: v for k, v in current.items() if k in _FIRST_CONVERT_FIELDS or v != default[k]}
    recorded["compression"] = recorded["compression"] or "none"
    return recorded


def _relative_to(production: ProductionSettings, base: Path) -> ProductionSettings:
    def fix(value: str) -> str:
        return value if not value or Path(value).is_absolute() else str((base / value).resolve())

    return dataclasses.replace(
        production, output_dir=fix(production.output_dir), gridpack=fix(production.gridpack)
    )
