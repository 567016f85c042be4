"""The reco chain on the shipped W⁺Z store: reproducibility across chunkings and jobs,
/reco round trip, smearing weights, bad input (Pythia's fast setting, a few events)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from madsbi.data import sample_path
from madsbi.errors import ConfigError, InputError, OptionalDependencyError, StoreExistsError
from madsbi.events import open_store, schema
from madsbi.processes import wz
from madsbi.production.plan import ClusterSettings
from madsbi.simulate.reco import RecoConfig, plan_chunk, run_statistics, simulate_reco
from madsbi.simulate.reco_jobs import run_reco_jobs
from madsbi.simulate.shower import ShowerResult
from madsbi.simulate.smearing import regroup_survivors

CONFIG = RecoConfig(seed=5, smear=True, threshold=0.5, max_copies=3, shower="fast")
N = 12


@pytest.fixture(scope="module")
def wz_store():
    return sample_path("wz_leptonic")


@pytest.fixture(scope="module")
def one_process(wz_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("reco") / "one.h5"
    report = simulate_reco(wz_store, out, CONFIG, stop=N, chunk_size=N)
    return out, report


def _datasets(path):
    with open_store(path) as store:
        return {
            (g, f): store.read(g, [f])[f]
            for g in (schema.PARTON, schema.RECO)
            for f in store.fields(g)
        }


def _assert_identical(a, b):
    da, db = _datasets(a), _datasets(b)
    assert da.keys() == db.keys()
    for key in da:
        assert da[key].dtype == db[key].dtype, key
        assert np.array_equal(da[key], db[key]), key


def test_reco_round_trip_and_inspect(one_process):
    out, report = one_process
    with open_store(out) as store:
        assert store.column_names(schema.RECO, "x") == list(wz.OBSERVABLES)
        assert store.column_names(schema.RECO, "cuts") == list(wz.CUTS)
        reco = store.read(schema.RECO)
        parton = store.read(schema.PARTON)
        assert store.n_events(schema.PARTON) == N
    assert reco.n_events == report.n_copies
    assert reco["momentum"].shape == (report.n_copies, 4, 4)
    assert reco["cuts"].dtype == np.uint8
    np.testing.assert_array_equal(
        reco["weight"], parton["weight"][reco["parent"]] * reco["smearing_weight"]
    )
    assert report.shower_failures == 0
    assert reco["cuts"][:, 0].all()
    assert int(reco["cuts"].all(axis=1).sum()) == report.n_passed


def test_smearing_weights_sum_to_one_per_parent(one_process):
    out, _ = one_process
    with open_store(out) as store:
        reco = store.read(schema.RECO, ["parent", "smearing_weight", "copy_index"])
    groups = regroup_survivors(reco["parent"], N, reco["smearing_weight"])
    np.testing.assert_allclose(groups.weight_sum, 1.0, rtol=1e-12)
    assert (groups.counts >= 1).all()
    assert groups.counts.max() > 1  # the tail events were split


def test_copies_do_not_depend_on_the_chunking(wz_store, one_process, tmp_path):
    out, _ = one_process
    chunked = tmp_path / "chunked.h5"
    simulate_reco(wz_store, chunked, CONFIG, stop=N, chunk_size=5)
    _assert_identical(out, chunked)


def test_two_jobs_merge_to_the_one_process_run(wz_store, one_process, tmp_path):
    out, _ = one_process
    merged = tmp_path / "merged.h5"
    cluster = ClusterSettings(n_workers=1, processes=False)
    run_reco_jobs(wz_store, merged, CONFIG, n_jobs=2, stop=N, chunk_size=4, cluster=cluster)
    _assert_identical(out, merged)
    # resumable: a rerun finds both shards and only merges
    shards = sorted((tmp_path / "merged.h5.shards").glob("reco-*.h5"))
    assert len(shards) == 2
    stamps = [s.stat().st_mtime_ns for s in shards]
    run_reco_jobs(wz_store, merged, CONFIG, n_jobs=2, stop=N, cluster=cluster, overwrite=True)
    assert [s.stat().st_mtime_ns for s in shards] == stamps
    with pytest.raises(StoreExistsError, match=r"merged\.h5 exists"):
        run_reco_jobs(wz_store, merged, CONFIG, n_jobs=2, stop=N, cluster=cluster)
    other = RecoConfig(seed=6, max_copies=3, shower="fast")
    with pytest.raises(ConfigError, match="other settings"):
        run_reco_jobs(wz_store, merged, other, n_jobs=2, stop=N, cluster=cluster, overwrite=True)


def test_plan_does_not_depend_on_the_split(wz_store):
    with open_store(wz_store) as store:
        stats = run_statistics(store, 0, 40)
        c = store.read(schema.PARTON, ["coefficients"], 0, 40)["coefficients"]
    whole = plan_chunk(c, 0, CONFIG, stats)
    parts = [plan_chunk(c[a:b], a, CONFIG, stats) for a, b in ((0, 17), (17, 40))]
    np.testing.assert_array_equal(whole.seed, np.concatenate([p.seed for p in parts]))
    np.testing.assert_array_equal(whole.counts, np.concatenate([p.counts for p in parts]))


def test_unsmeared_runs_have_one_copy_per_event(wz_store, tmp_path):
    out = tmp_path / "test.h5"
    report = simulate_reco(wz_store, out, RecoConfig(seed=1, smear=False, shower="fast"), stop=4)
    assert report.n_copies == 4
    with open_store(out) as store:
        np.testing.assert_array_equal(
            store.read(schema.RECO, ["smearing_weight"])["smearing_weight"], 1.0
        )


def test_other_processes_are_refused_by_name(tmp_path):
    with pytest.raises(InputError, match=r"drell_yan.h5.*W±Z"):
        simulate_reco(sample_path("drell_yan"), tmp_path / "x.h5", CONFIG, stop=2)
    assert not (tmp_path / "x.h5").exists()
    # W⁺Z without decays: the right process, but no leptons in the record
    with pytest.raises(InputError, match=r"wz_parton.h5: event 0 has 0 charged leptons"):
        simulate_reco(sample_path("wz_parton"), tmp_path / "y.h5", CONFIG, stop=2)


def test_missing_pythia_names_the_extra(wz_store, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pythia8mc", None)
    with pytest.raises(OptionalDependencyError, match=r"madsbi\[reco\]"):
        simulate_reco(wz_store, tmp_path / "x.h5", CONFIG, stop=2)


def test_pythia_settings_apply_and_hadronisation_can_be_off(wz_store, tmp_path):
    config = RecoConfig(seed=2, smear=False, shower="fast", pythia=("HadronLevel:all = off",))
    report = simulate_reco(wz_store, tmp_path / "partons.h5", config, stop=3)
    assert report.shower_failures == 0
    with pytest.raises(InputError, match="Key = value"):
        RecoConfig(pythia=("HadronLevel:all",))


def test_pythia_failures_are_counted_and_the_other_events_kept(wz_store, tmp_path, monkeypatch):
    import madsbi.simulate.reco as reco_module

    real = reco_module.run_shower

    def failing_first(parton, rows, seeds, energies, settings):
        result = real(parton, rows, seeds, energies, settings)
        ok = result.ok.copy()
        ok[0] = False
        fs = result.final_state
        keep = fs.event != 0
        return ShowerResult(fs.select(keep), ok)

    monkeypatch.setattr(reco_module, "run_shower", failing_first)
    out = tmp_path / "failed.h5"
    config = RecoConfig(seed=4, smear=False, shower="fast")
    report = simulate_reco(wz_store, out, config, stop=4, chunk_size=2)
    assert report.shower_failures == 2  # the first copy of each of the two chunks
    with open_store(out) as store:
        reco = store.read(schema.RECO)
    assert reco.n_events == 4
    assert reco["cuts"][:, 0].tolist() == [0, 1, 0, 1]
    assert not reco["cuts"][[0, 2], 1].any()  # no leptons without a shower


def test_cli_runs_one_process_and_jobs(wz_store, tmp_path):
    from click.testing import CliRunner

    from madsbi.cli.main import cli

    base = ["simulate", "reco", str(wz_store)]
    opts = ["--seed", "3", "--shower", "fast", "--max-copies", "2", "--stop", "6", "--quiet"]
    one = CliRunner().invoke(cli, [*base, str(tmp_path / "one.h5"), *opts])
    assert one.exit_code == 0, one.output
    assert "6 events" in one.output
    jobs = CliRunner().invoke(
        cli, [*base, str(tmp_path / "two.h5"), *opts, "--jobs", "2", "--workers", "1"]
    )
    assert jobs.exit_code == 0, jobs.output
    _assert_identical(tmp_path / "one.h5", tmp_path / "two.h5")
    bad = CliRunner().invoke(cli, [*base, str(tmp_path / "x.h5"), "--shower", "slow"])
    assert bad.exit_code != 0
    assert "slow" in bad.output


def test_passed_only_keeps_exactly_the_passing_copies(wz_store, one_process, tmp_path):
    out, report = one_process
    kept = tmp_path / "passed.h5"
    simulate_reco(
        wz_store, kept, CONFIG, stop=N, chunk_size=N, passed_only=True, compression="gzip"
    )
    full, passed = _datasets(out), _datasets(kept)
    mask = full[(schema.RECO, "cuts")].all(axis=1)
    assert passed[(schema.RECO, "x")].shape[0] == int(mask.sum()) == report.n_passed
    for (group, name), values in full.items():
        expected = values[mask] if group == schema.RECO else values
        assert np.array_equal(passed[(group, name)], expected), (group, name)
    with open_store(kept) as store:
        summary = json.loads(store.meta.shards[0].report)
    assert summary["copies"] == report.n_copies
    assert summary["cut_flow"] == pytest.approx(report.cut_flow)


def test_cli_selection_names_a_registered_process(wz_store, tmp_path):
    from click.testing import CliRunner

    from madsbi.cli.main import cli

    args = ["simulate", "reco", str(wz_store), str(tmp_path / "x.h5"), "--selection", "zz"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert "unknown process 'zz'" in result.output
    assert "'wz'" in result.output
    assert not (tmp_path / "x.h5").exists()
