"""``madsbi simulate run CONFIG``: splits, seeds, smearing per split, resuming, config errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from madsbi.cli.main import cli
from madsbi.errors import ConfigError
from madsbi.events import open_store, schema
from madsbi.simulate.reco_config import RecoSimConfig

EXAMPLE = Path(__file__).parents[2] / "examples" / "wz_reco_sim.toml"

CONFIG = """
[sample]
store = "wz_leptonic"
train = 0.5
validation = 0.25
seed = 3

[reco]
shower = "fast"
max_copies = 2
"""


def test_example_config_reads():
    config = RecoSimConfig.from_toml(EXAMPLE)
    assert config.sample.store == "wz_leptonic"
    assert config.reco.threshold == pytest.approx(0.5)


def test_run_writes_three_splits_and_resumes(tmp_path):
    path = tmp_path / "reco.toml"
    path.write_text(CONFIG)
    out = tmp_path / "out"
    args = ["simulate", "run", str(path), "--out", str(out), "--max-events", "8", "--quiet"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = {}
    for split in ("train", "validation", "test"):
        with open_store(out / f"{split}.h5") as store:
            reco = store.read(schema.RECO, ["smearing_weight", "parent"])
            rows[split] = store.n_events(schema.PARTON)
            recorded = json.loads(str(store.meta.attributes["reco_config"]))
            assert store.meta.attributes["reco_process"] == "wz"
        assert recorded["seed"] == 3 + ("train", "validation", "test").index(split)
        assert recorded["selection"] == "wz"  # the default [reco] selection
        if split == "test":
            np.testing.assert_array_equal(reco["smearing_weight"], 1.0)
    assert rows == {"train": 4, "validation": 2, "test": 2}
    stamp = (out / "train.h5").stat().st_mtime_ns
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert "skipped" in again.output
    assert (out / "train.h5").stat().st_mtime_ns == stamp


def test_config_errors_name_table_and_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG.replace("train = 0.5", "train = 0.9"))
    with pytest.raises(ConfigError, match=r"bad.toml.*\[sample\] train, validation"):
        RecoSimConfig.from_toml(path)
    path.write_text(CONFIG + "\n[run]\nchunks = 3\n")
    with pytest.raises(ConfigError, match=r"\[run\]: unknown key\(s\) \['chunks'\]"):
        RecoSimConfig.from_toml(path)
    path.write_text(CONFIG + 'selection = "zz"\n')
    with pytest.raises(ConfigError, match=r"\[reco\] selection: .*\['wz'.*got 'zz'"):
        RecoSimConfig.from_toml(path)


def test_shards_recorded_before_the_selection_setting_resume_as_wz(tmp_path):
    from dataclasses import asdict

    from madsbi.simulate.reco import RecoConfig
    from madsbi.simulate.reco_jobs import SETTINGS_FILE, _check_settings

    config = asdict(RecoConfig(seed=1, shower="fast"))
    settings = {"store": "s.h5", "config": config, "rows": [0, 4], "n_jobs": 2}
    legacy = {**settings, "config": {k: v for k, v in config.items() if k != "selection"}}
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(legacy))
    _check_settings(tmp_path, json.loads(json.dumps(settings)))  # no error: W±Z was implied
    other = {**settings, "config": {**config, "selection": "other"}}
    with pytest.raises(ConfigError, match="other settings"):
        _check_settings(tmp_path, json.loads(json.dumps(other)))
