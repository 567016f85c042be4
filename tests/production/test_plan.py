"""Production plans from TOML: unknown keys and bad values refused by name, seeds, paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from madsbi.errors import ConfigError, MissingFileError
from madsbi.production import JobSpec, ProductionPlan, job_specs, resolve_job
from madsbi.production.gridpack import gridpack_job
from madsbi.production.plan import MAX_SEED

GOOD = """
[production]
name = "wz"
n_jobs = 3
events_per_job = 500
base_seed = 40
output_dir = "prod"
gridpack = "gridpacks/wz.tar.gz"

[convert]
parameters = ["cHWB", "cW"]

[cluster]
kind = "slurm"
n_workers = 8
jobqueue = { cores = 1, memory = "2GB", job_extra_directives = ["--qos=short"] }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(text)
    return path


def test_plan_from_toml(tmp_path: Path) -> None:
    plan = ProductionPlan.from_toml(write(tmp_path, GOOD))
    # relative paths are taken relative to the TOML file
    assert plan.output_dir == tmp_path / "prod"
    assert Path(plan.production.gridpack) == tmp_path / "gridpacks" / "wz.tar.gz"
    assert plan.convert.parameters == ("cHWB", "cW")
    assert plan.cluster.kind == "slurm"
    assert plan.cluster.jobqueue["job_extra_directives"] == ["--qos=short"]
    assert plan.merged_path == tmp_path / "prod" / "wz.h5"


def test_seeds_are_distinct_and_deterministic(tmp_path: Path) -> None:
    plan = ProductionPlan.from_toml(write(tmp_path, GOOD)).replace(n_jobs=1000)
    specs = job_specs(plan)
    seeds = [s.seed for s in specs]
    assert seeds == list(range(40, 1040))
    assert [s.seed for s in job_specs(plan)] == seeds
    assert len({s.output for s in specs}) == len({s.shard_id for s in specs}) == 1000
    assert specs[7].output == tmp_path / "prod" / "shards" / "shard-00007.h5"
    assert specs[7].shard_id == "wz-job00007-seed47"
    assert all(isinstance(s, JobSpec) and s.n_events == 500 for s in specs)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("n_jobs = 3", "n_jobs = 3\nnjobs = 4"), r"\[production\]: unknown key\(s\) \['njobs'\]"),
        (("kind = ", "workers = 2\nkind = "), r"\[cluster\]: unknown key\(s\) \['workers'\]"),
        (("[convert]", "[convrt]"), r"unknown section\(s\) \['convrt'\]"),
        (('kind = "slurm"', 'kind = "lsf"'), r"\[cluster\] kind: expected one of .*'lsf'"),
        (("n_jobs = 3", "n_jobs = 0"), r"\[production\] n_jobs: expected an integer >= 1, got 0"),
        (("base_seed = 40", f"base_seed = {MAX_SEED}"), r"base_seed: seeds run up to"),
        (("base_seed = 40", "base_seed = 0"), r"base_seed: expected an integer >= 1, got 0"),
        (('name = "wz"', 'name = "a/b"'), r"\[production\] name: expected a plain file stem"),
        (('gridpack = "gridpacks/wz.tar.gz"', ""), r"gridpack: required when job = 'gridpack'"),
        (('name = "wz"', 'name = "wz"\njob = "nocolon"'), r"job: expected 'gridpack' or"),
        (("n_workers = 8", "n_workers = 8.5"), r"\[cluster\] n_workers: expected an integer"),
        (("[cluster]", 'compression = "zstd"\n[cluster]'), r"\[convert\] compression"),
        (("jobqueue = {", "jobqueue = 3\nx = {"), r"unknown key\(s\) \['x'\]"),
    ],
)
def test_bad_plans_are_refused_by_name(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    old, new = edit
    assert old in GOOD
    with pytest.raises(ConfigError, match=message):
        ProductionPlan.from_toml(write(tmp_path, GOOD.replace(old, new, 1)))


def test_missing_production_table_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[production\] table is missing"):
        ProductionPlan.from_toml(write(tmp_path, "[cluster]\nkind = 'local'\n"))
    with pytest.raises(MissingFileError, match=r"nowhere\.toml"):
        ProductionPlan.from_toml(tmp_path / "nowhere.toml")


def test_resolve_job() -> None:
    assert resolve_job("gridpack") is gridpack_job
    assert resolve_job("madsbi.production.gridpack:gridpack_job") is gridpack_job
    with pytest.raises(ConfigError, match=r"cannot import 'no_such_module_xyz'"):
        resolve_job("no_such_module_xyz:run")
    with pytest.raises(ConfigError, match=r"has no callable 'nothing'"):
        resolve_job("madsbi.production.gridpack:nothing")
    with pytest.raises(ConfigError, match=r"expected 'package.module:function'"):
        resolve_job("gridpack_job")


def test_batch_cluster_without_dask_jobqueue_names_the_extra() -> None:
    import importlib.util

    from madsbi.errors import OptionalDependencyError
    from madsbi.production.cluster import open_client
    from madsbi.production.plan import ClusterSettings

    if importlib.util.find_spec("dask_jobqueue") is not None:
        pytest.skip("dask-jobqueue is installed")
    with (
        pytest.raises(OptionalDependencyError, match=r"'slurm' needs dask-jobqueue.*jobqueue\]"),
        open_client(ClusterSettings(kind="slurm")),
    ):
        pass
