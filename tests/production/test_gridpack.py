"""The gridpack job on a fake gridpack (a run.sh that writes a reweighted LHE file), and on
a real MadGraph gridpack when ``MG5_GRIDPACK`` names one."""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from produce_fakes import cluster_fixture

from madsbi.errors import MissingFileError
from madsbi.events.store import EventStore
from madsbi.production import JobError, ProductionPlan, job_specs, produce, run_job
from madsbi.production.gridpack import gridpack_job

DATA = Path(__file__).parents[1] / "data"

#: Writes the template's first $1 events as events.lhe.gz, with iseed set to $2 in the run
#: card, and records its arguments.
RUN_SH = """#!/bin/bash
set -euo pipefail
echo "$1 $2" > arguments.txt
gunzip -c template.lhe.gz \\
  | sed "s/^ *[0-9]* = iseed/ $2 = iseed/" \\
  | awk -v n="$1" '/^<event/ {k++; if (k > n) skip = 1}
                  { if (!skip) print }
                  /<\\/event>/ {skip = 0}' \\
  | gzip > events.lhe.gz
"""


client = cluster_fixture()


def make_gridpack(folder: Path, script: str = RUN_SH, *, rwgt: bool = True) -> Path:
    """A gridpack tarball with ``run.sh`` and the WZ parton LHE excerpt as its template."""
    src = folder / "gridpack-src"
    src.mkdir(parents=True)
    text = gzip.decompress((DATA / "wz_parton_1k.lhe.gz").read_bytes())
    if not rwgt:
        # drop the weight declarations: events then carry weights nobody declared
        head, _, tail = text.partition(b"<initrwgt>")
        text = head + tail.partition(b"</initrwgt>")[2]
    (src / "template.lhe.gz").write_bytes(gzip.compress(text, compresslevel=1))
    (src / "run.sh").write_text(script)
    (src / "run.sh").chmod(0o755)
    tarball = folder / "run_01_gridpack.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        for path in sorted(src.iterdir()):
            archive.add(path, arcname=path.name)
    return tarball


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its reaper counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        pass  # ended, or no /proc
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def make_plan(tmp_path: Path, gridpack: Path, **production: Any) -> ProductionPlan:
    return ProductionPlan.from_mapping(
        {
            "production": {
                "name": "wz",
                "n_jobs": 2,
                "events_per_job": 30,
                "base_seed": 100,
                "output_dir": str(tmp_path / "out"),
                "gridpack": str(gridpack),
                **production,
            },
            "convert": {"compression": "none", "parameters": ["cHWB", "cW"]},
        }
    )


def test_gridpack_job_runs_run_sh_with_count_and_seed_and_converts(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, make_gridpack(tmp_path), keep_scratch=True)
    spec = job_specs(plan)[1]
    result = run_job(spec, gridpack_job)
    assert result.shard == plan.shard_path(1)
    assert (spec.scratch / "arguments.txt").read_text().split() == ["30", "101"]
    with EventStore(result.shard) as store:
        assert store.n_events() == 30
        assert [p.lower() for p in store.meta.space.names] == ["chwb", "cw"]
        assert store.meta.sample_id == "wz"
        (shard,) = store.meta.shards
        assert (shard.shard_id, shard.seed) == ("wz-job00001-seed101", 101)
    assert "run.sh 30 101" in spec.log.read_text()


def test_gridpack_production_end_to_end_on_two_workers(tmp_path: Path, client: Any) -> None:
    plan = make_plan(tmp_path, make_gridpack(tmp_path))
    report = produce(plan, client=client, progress=False)
    assert report.ran == (0, 1)
    # scratch folders are removed after success
    assert not any((tmp_path / "out" / "scratch").iterdir())
    assert report.merged is not None
    with EventStore(report.merged) as merged:
        assert merged.n_events() == 60
        assert [(s.shard_id, s.seed) for s in merged.meta.shards] == [
            ("wz-job00000-seed100", 100),
            ("wz-job00001-seed101", 101),
        ]
    # a second run finds every shard and only merges
    again = produce(plan, client=client, progress=False, overwrite=True)
    assert (again.ran, again.skipped) == ((), (0, 1))


def test_failing_run_sh_names_job_seed_status_and_log(tmp_path: Path) -> None:
    script = "#!/bin/bash\necho 'generation failed' >&2\nexit 3\n"
    plan = make_plan(tmp_path, make_gridpack(tmp_path, script))
    spec = job_specs(plan)[0]
    with pytest.raises(JobError, match=r"job 0 \(seed 100\).*status 3.*job-00000.log"):
        run_job(spec, gridpack_job)
    assert "generation failed" in spec.log.read_text()
    assert not plan.shard_path(0).exists()
    assert (spec.scratch / "run.sh").is_file()  # kept for inspection


def test_run_sh_without_events_is_named(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, make_gridpack(tmp_path, "#!/bin/bash\ntrue\n"))
    with pytest.raises(JobError, match=r"left no events.lhe.gz"):
        run_job(job_specs(plan)[0], gridpack_job)


def test_run_sh_past_the_timeout_is_stopped_with_its_children(tmp_path: Path) -> None:
    script = "#!/bin/bash\nsleep 30 &\necho $! > child.pid\nwait\n"
    plan = make_plan(tmp_path, make_gridpack(tmp_path, script), timeout=0.5)
    spec = job_specs(plan)[0]
    with pytest.raises(JobError, match=r"job 0 \(seed 100\): run.sh ran past the timeout of 0.5 s"):
        run_job(spec, gridpack_job)
    child = int((spec.scratch / "child.pid").read_text())
    assert not running(child)


def test_events_without_rwgt_weights_are_named(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, make_gridpack(tmp_path, rwgt=False))
    with pytest.raises(JobError, match=r"no <rwgt> weights.*reweight=madsbi"):
        run_job(job_specs(plan)[0], gridpack_job)


def test_missing_or_broken_gridpack(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, tmp_path / "nowhere.tar.gz")
    with pytest.raises(JobError, match=r"MissingFileError: gridpack: .*nowhere.tar.gz"):
        run_job(job_specs(plan)[0], gridpack_job)
    with pytest.raises(MissingFileError, match=r"nowhere\.tar\.gz"):
        gridpack_job(job_specs(plan)[0])
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tarball")
    with pytest.raises(JobError, match=r"broken.tar.gz: not a readable tar archive"):
        gridpack_job(job_specs(make_plan(tmp_path, broken))[0])


def test_unpacked_gridpack_folder_is_copied(tmp_path: Path) -> None:
    make_gridpack(tmp_path)
    plan = make_plan(tmp_path, tmp_path / "gridpack-src")
    result = run_job(job_specs(plan)[0], gridpack_job)
    with EventStore(result.shard) as store:
        assert store.n_events() == 30
    assert not (tmp_path / "gridpack-src" / "events.lhe.gz").exists()


@pytest.mark.mg5
def test_real_gridpack(tmp_path: Path) -> None:
    """A MadGraph gridpack built with reweight=madsbi: two jobs of 100 events each."""
    gridpack = os.environ.get("MG5_GRIDPACK")
    if not gridpack:
        pytest.skip("set MG5_GRIDPACK to a gridpack built with reweight=madsbi")
    plan = ProductionPlan.from_mapping(
        {
            "production": {
                "name": "mg5",
                "n_jobs": 2,
                "events_per_job": 100,
                "base_seed": 1,
                "output_dir": str(tmp_path / "out"),
                "gridpack": gridpack,
            },
            "cluster": {"n_workers": 2},
        }
    )
    report = produce(plan, progress=False)
    assert report.merged is not None
    with EventStore(report.merged) as merged:
        assert merged.n_events() >= 150
        assert len(merged.meta.shards) == 2
        assert merged.meta.n_coefficients >= 3
