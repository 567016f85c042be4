"""The gridpack job on a fake gridpack (a run.sh that writes a reweighted LHE file), and on
a real MadGraph gridpack (``MG5_GRIDPACK``, or built from ``MG5_DIR``)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from produce_fakes import cluster_fixture

from madsbi.errors import MissingFileError
from madsbi.events.store import EventStore
from madsbi.production import JobError, ProductionPlan, job_specs, produce, run_job
from madsbi.production.gridpack import gridpack_job
from madsbi.theory.polynomial import polynomial_features_reference

DATA = Path(__file__).parents[1] / "data"

#: Writes the template's first $1 events as events.lhe.gz, with iseed set to $2 in the run
#: card and the header's event count set to $1, and records its arguments.
RUN_SH = """#!/bin/bash
set -euo pipefail
echo "$1 $2" > arguments.txt
gunzip -c template.lhe.gz \\
  | sed -e "s/^ *[0-9]* = iseed/ $2 = iseed/" \\
        -e "s/^#  Number of Events *: *[0-9]*/#  Number of Events        :       $1/" \\
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
    # SIGKILL is delivered when the child is next scheduled: allow a loaded machine a moment.
    deadline = time.monotonic() + 10.0
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
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


MG5_MODEL = "SMEFTsim_U35_MwScheme_UFO"
MG5_HOLDOUT = (0.3, -0.7, 0.5)
MG5_BASIS = {
    "p00_sm": (0, 0, 0),
    "p01_cHWB_p1": (1, 0, 0),
    "p02_cHWB_m1": (-1, 0, 0),
    "p03_cW_p1": (0, 1, 0),
    "p04_cW_m1": (0, -1, 0),
    "p05_cHq3_p1": (0, 0, 1),
    "p06_cHq3_m1": (0, 0, -1),
    "p07_cHWB_cW_p1": (1, 1, 0),
    "p08_cHWB_cHq3_p1": (1, 0, 1),
    "p09_cW_cHq3_p1": (0, 1, 1),
}


def build_mg5_gridpack(mg5: Path, work: Path) -> Path:
    """A WZ parton gridpack launched with ``reweight=madsbi`` (settings in madsbi_card.dat)."""
    from madsbi.madgraph.install import install_plugin

    restrict = mg5 / "models" / MG5_MODEL / "restrict_madsbi_WZ.dat"
    if not restrict.exists():
        pytest.skip(f"needs {restrict} (SMEFTsim with the madsbi_WZ restriction)")
    install_plugin(mg5)
    proc = work / "WZ"
    mg5_aMC = [sys.executable, str(mg5 / "bin" / "mg5_aMC")]
    (work / "gen.mg5").write_text(
        "set automatic_html_opening False\nset auto_convert_model True\n"
        f"import model {MG5_MODEL}-madsbi_WZ\ngenerate p p > w+ z NP<=1\noutput {proc} -nojpeg\n"
    )
    done = subprocess.run([*mg5_aMC, "gen.mg5"], cwd=work, capture_output=True, text=True)
    assert (proc / "bin" / "madevent").is_file(), (done.stdout + done.stderr)[-3000:]
    (proc / "Cards" / "madsbi_card.dat").write_text(
        "parameter cHWB SMEFT 9 -1 1\nparameter cW SMEFT 2 -1 1\nparameter cHq3 SMEFT 25 -1 1\n"
        "basis explicit\n"
        + "".join(f"basis_point {n} {t[0]} {t[1]} {t[2]}\n" for n, t in MG5_BASIS.items())
        + "point own_holdout {} {} {}\nlhe_weights on\nsample_id wz_gridpack\n".format(*MG5_HOLDOUT)
    )
    (proc / "Cards" / "reweight_card.dat").write_text("change rwgt_dir rwgt\n")
    (work / "launch.mg5").write_text(
        f"set automatic_html_opening False\nlaunch {proc} -n gp\nshower=OFF\ndetector=OFF\n"
        "analysis=OFF\nmadspin=OFF\nreweight=madsbi\ndone\nset gridpack True\n"
        "set ebeam1 6800\nset ebeam2 6800\nset pdlabel nn23lo1\nset use_syst False\n"
        "set nb_core 1\nset run_mode 0\nset param_card SMEFT 2 0.0\n"
        "set param_card SMEFT 9 0.0\nset param_card SMEFT 25 0.0\ndone\n"
    )
    done = subprocess.run([*mg5_aMC, "launch.mg5"], cwd=work, capture_output=True, text=True)
    gridpack = proc / "gp_gridpack.tar.gz"
    assert gridpack.is_file(), (done.stdout + done.stderr)[-3000:]
    return gridpack


@pytest.mark.mg5
def test_real_gridpack(tmp_path: Path) -> None:
    """A MadGraph gridpack with reweight=madsbi: two jobs of 200 events on two Dask workers.

    MadGraph's run.sh does not reweight; the job runs the gridpack's madevent with
    ``reweight --plugin=madsbi`` itself. ``MG5_GRIDPACK`` may name a gridpack of the SMEFT WZ
    process (examples/wz) built with ``set gridpack True`` and ``lhe_weights on``.
    """
    gridpack = os.environ.get("MG5_GRIDPACK")
    built = not gridpack
    if not gridpack:
        mg5_dir = os.environ.get("MG5_DIR")
        if not mg5_dir:
            pytest.skip("set MG5_GRIDPACK or MG5_DIR")
        (tmp_path / "build").mkdir()
        gridpack = str(build_mg5_gridpack(Path(mg5_dir), tmp_path / "build"))
    plan = ProductionPlan.from_mapping(
        {
            "production": {
                "name": "mg5",
                "n_jobs": 2,
                "events_per_job": 200,
                "base_seed": 1,
                "output_dir": str(tmp_path / "out"),
                "gridpack": gridpack,
            },
            "cluster": {"n_workers": 2},
        }
    )
    report = produce(plan, progress=False)
    assert report.ran == (0, 1)
    assert report.merged is not None
    with EventStore(report.merged) as merged:
        meta = merged.meta
        data = merged.read("parton", ["coefficients", "rwgt"])
        names = merged.column_names("parton", "rwgt")
        assert merged.n_events() == 400
    assert [(s.shard_id, s.seed, s.n_events) for s in meta.shards] == [
        ("mg5-job00000-seed1", 1, 200),
        ("mg5-job00001-seed2", 2, 200),
    ]
    assert [p.lower() for p in meta.space.names] == ["chwb", "cw", "chq3"]
    assert data["coefficients"].shape == (400, 10)
    if built:
        assert list(meta.basis_ids) == list(MG5_BASIS)
    # different seeds, different events
    assert np.intersect1d(data["coefficients"][:200, 0], data["coefficients"][200:, 0]).size == 0
    held_out: dict[str, tuple[float, ...]] = {}
    for shard in meta.shards:
        checks = [c for c in json.loads(shard.report)["holdouts"] if c["weight_id"] in names]
        print(f"{shard.shard_id}: held-out checks {checks}")
        assert checks
        for check in checks:
            assert check["max_rel_error"] <= 1e-10
            held_out[check["weight_id"]] = tuple(check["theta"])
        # run.sh left the events unweighted; the job reweighted them with madevent
        log = (tmp_path / "out" / "logs" / f"job-{shard.seed - 1:05d}.log").read_text()
        assert "madsbi_reweight.me" in log
        assert "madsbi: wrote" in log
    if built:
        assert held_out == {"own_holdout": MG5_HOLDOUT}
    for weight_id, theta in held_out.items():
        phi = polynomial_features_reference(np.array([theta]), meta.space.theta0_array)[0]
        holdout = data["rwgt"][:, names.index(weight_id)]
        rel = np.abs(data["coefficients"] @ phi - holdout) / np.abs(holdout)
        print(f"gridpack production: {weight_id} max relative deviation {rel.max():.3g}")
        assert rel.max() <= 1e-10
