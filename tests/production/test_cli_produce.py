"""``madsbi produce`` through click: a run, a refused rerun, a resumed run, bad configs."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from produce_fakes import runs

from madsbi.cli.produce import produce
from madsbi.events.store import EventStore

CONFIG = """
[production]
name = "cli"
n_jobs = 3
events_per_job = 25
base_seed = 5
output_dir = "out"
job = "produce_fakes:write_shard"

[cluster]
n_workers = 2
processes = false
"""


def test_produce_runs_merges_and_resumes(tmp_path: Path) -> None:
    config = tmp_path / "plan.toml"
    config.write_text(CONFIG)
    runner = CliRunner()
    out = tmp_path / "elsewhere"
    result = runner.invoke(produce, [str(config), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "ran 3 jobs, skipped 0" in result.output
    assert f"wrote {out / 'cli.h5'}" in result.output
    with EventStore(out / "cli.h5") as store:
        assert store.n_events() == 75
    assert not (tmp_path / "out").exists()

    again = runner.invoke(produce, [str(config), "--out", str(out), "--quiet"])
    assert again.exit_code == 1
    assert "StoreExistsError" in again.output
    assert "--overwrite" in again.output

    (out / "shards" / "shard-00001.h5").unlink()
    resumed = runner.invoke(
        produce, [str(config), "--out", str(out), "--quiet", "--overwrite", "--workers", "1"]
    )
    assert resumed.exit_code == 0, resumed.output
    assert "2 of 3 shards exist already; running the other 1" in resumed.output
    assert "ran 1 jobs, skipped 2" in resumed.output
    assert runs(out) == {0: 1, 1: 2, 2: 1}


def test_produce_refuses_bad_config_by_name(tmp_path: Path) -> None:
    config = tmp_path / "plan.toml"
    config.write_text(CONFIG.replace("n_workers = 2", "n_worker = 2"))
    result = CliRunner().invoke(produce, [str(config)])
    assert result.exit_code == 1
    assert "ConfigError: [cluster]: unknown key(s) ['n_worker']" in result.output
    missing = CliRunner().invoke(produce, [str(tmp_path / "none.toml")])
    assert missing.exit_code == 1
    assert "MissingFileError" in missing.output
    assert "none.toml" in missing.output
