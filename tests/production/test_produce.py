"""``produce`` on a local Dask cluster with fake job functions: shards, merge, killed workers,
failures named with their seeds, and resumed runs that redo only the missing shards."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from produce_fakes import cluster_fixture, runs

from madsbi.errors import ConfigError, StoreExistsError, StoreMismatchError
from madsbi.events.store import EventStore
from madsbi.production import ProductionError, ProductionPlan, produce

N_JOBS = 4
EVENTS = 40
BASE_SEED = 11


client = cluster_fixture()


def make_plan(out: Path, job: str, **production: Any) -> ProductionPlan:
    settings = {
        "name": "fake",
        "n_jobs": N_JOBS,
        "events_per_job": EVENTS,
        "base_seed": BASE_SEED,
        "output_dir": str(out),
        "job": job,
        **production,
    }
    return ProductionPlan.from_mapping({"production": settings, "convert": {"compression": "none"}})


def leftovers(out: Path) -> list[Path]:
    """Temporary files a job or the merge left behind."""
    return [p for p in out.rglob(".*") if ".part-" in p.name or ".tmp-" in p.name]


def test_fresh_run_writes_every_shard_and_merges(tmp_path: Path, client: Any) -> None:
    plan = make_plan(tmp_path, "produce_fakes:write_shard")
    report = produce(plan, client=client, progress=False)
    assert report.ran == (0, 1, 2, 3)
    assert report.skipped == ()
    assert runs(tmp_path) == {0: 1, 1: 1, 2: 1, 3: 1}
    assert report.merged == tmp_path / "fake.h5"
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [
        f"shard-0000{i}.h5" for i in range(N_JOBS)
    ]
    assert leftovers(tmp_path) == []
    weights = []
    for i in range(N_JOBS):
        with EventStore(plan.shard_path(i)) as shard:
            assert shard.meta.shards[0].seed == BASE_SEED + i
            weights.append(shard.read()["weight"])
    with EventStore(report.merged) as merged:
        assert merged.n_events() == N_JOBS * EVENTS
        assert merged.meta.sample_id == "fake"
        assert [s.seed for s in merged.meta.shards] == [BASE_SEED + i for i in range(N_JOBS)]
        assert [s.shard_id for s in merged.meta.shards] == [
            f"fake-job0000{i}-seed{BASE_SEED + i}" for i in range(N_JOBS)
        ]
        np.testing.assert_array_equal(merged.read()["weight"], np.concatenate(weights))
    # distinct seeds give distinct events
    assert not np.array_equal(weights[0], weights[1])


def test_killed_worker_is_rescheduled_and_the_run_completes(tmp_path: Path, client: Any) -> None:
    plan = make_plan(tmp_path, "produce_fakes:die_once")
    report = produce(plan, client=client, progress=False)
    assert (tmp_path / "died-once").is_file()
    assert runs(tmp_path) == {0: 1, 1: 2, 2: 1, 3: 1}
    assert report.ran == (0, 1, 2, 3)
    assert report.merged is not None
    with EventStore(report.merged) as merged:
        assert merged.n_events() == N_JOBS * EVENTS
    assert leftovers(tmp_path) == []


def test_job_that_keeps_killing_its_worker_fails_by_name_and_resume_redoes_only_it(
    tmp_path: Path, client: Any
) -> None:
    plan = make_plan(tmp_path, "produce_fakes:job2_always_dies")
    with pytest.raises(ProductionError, match=r"1 of 4 jobs failed") as info:
        produce(plan, client=client, progress=False)
    message = str(info.value)
    assert re.search(r"job 2 \(seed 13\): KilledWorker", message), message
    assert [(f.index, f.seed) for f in info.value.failures] == [(2, 13)]
    kept = {i: plan.shard_path(i).stat().st_mtime_ns for i in (0, 1, 3)}
    assert not plan.shard_path(2).exists()
    assert not plan.merged_path.exists()
    # died on its first attempt, rescheduled once (allowed-failures = 1), died again
    assert runs(tmp_path) == {0: 1, 1: 1, 2: 2, 3: 1}

    report = produce(plan, job="produce_fakes:write_shard", client=client, progress=False)
    assert report.ran == (2,)
    assert report.skipped == (0, 1, 3)
    assert runs(tmp_path) == {0: 1, 1: 1, 2: 3, 3: 1}
    assert {i: plan.shard_path(i).stat().st_mtime_ns for i in (0, 1, 3)} == kept
    with EventStore(plan.merged_path) as merged:
        assert merged.n_events() == N_JOBS * EVENTS
        assert [s.seed for s in merged.meta.shards] == [11, 12, 13, 14]


def test_job_that_raises_is_retried_then_reported_with_seed_and_log(
    tmp_path: Path, client: Any
) -> None:
    plan = make_plan(tmp_path, "produce_fakes:job2_raises").with_cluster(retries=1)
    with pytest.raises(ProductionError) as info:
        produce(plan, client=client, progress=False)
    failure = info.value.failures[0]
    assert (failure.index, failure.seed) == (2, 13)
    assert "RuntimeError: simulated generator crash" in failure.error
    assert "job-00002.log" in failure.error
    assert runs(tmp_path)[2] == 2  # one retry
    # the half-written output never became a shard, and no temporary file is left
    assert not plan.shard_path(2).exists()
    assert leftovers(tmp_path) == []
    assert all(plan.shard_path(i).is_file() for i in (0, 1, 3))


def test_job_that_writes_nothing_is_a_named_failure(tmp_path: Path, client: Any) -> None:
    plan = make_plan(tmp_path, "produce_fakes:writes_nothing", n_jobs=1)
    with pytest.raises(ProductionError, match=r"job 0 \(seed 11\): the job function returned"):
        produce(plan, client=client, progress=False)


def test_shards_of_different_processes_are_refused_at_merge(tmp_path: Path, client: Any) -> None:
    plan = make_plan(tmp_path, "produce_fakes:job1_other_process")
    with pytest.raises(StoreMismatchError, match=r"shard-00001\.h5") as info:
        produce(plan, client=client, progress=False)
    assert info.value.field == "/meta/process"
    assert all(plan.shard_path(i).is_file() for i in range(N_JOBS))
    assert not plan.merged_path.exists()
    assert leftovers(tmp_path) == []


def test_resume_with_changed_seeds_is_refused_before_running(tmp_path: Path, client: Any) -> None:
    plan = make_plan(tmp_path, "produce_fakes:write_shard", n_jobs=2)
    produce(plan, client=client, progress=False, merge=False)
    with pytest.raises(ConfigError, match=r"base_seed was 11, the plan now says 20"):
        produce(plan.replace(base_seed=20), client=client, progress=False)
    # more jobs with the same seeds is a legitimate extension
    report = produce(plan.replace(n_jobs=3), client=client, progress=False)
    assert (report.ran, report.skipped) == ((2,), (0, 1))
    assert runs(tmp_path) == {0: 1, 1: 1, 2: 1}


def test_existing_merged_store_is_refused_before_any_job_runs(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, "produce_fakes:write_shard")
    plan.merged_path.write_bytes(b"an earlier result")
    with pytest.raises(StoreExistsError, match=r"fake\.h5"):
        produce(plan, client=None, progress=False)
    assert runs(tmp_path) == {}
    assert plan.merged_path.read_bytes() == b"an earlier result"
