"""Toy studies over seeds (mean ± std of every metric) and the α = 4 learnable-target metric."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from madsbi.cli.main import cli
from madsbi.errors import ConfigError
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.events import schema
from madsbi.events.store import EventStore
from madsbi.simulate.toy import ToyModel
from madsbi.studies.toy import _Study
from madsbi.studies.toy_config import MorphingSettings, ToyStudyConfig
from madsbi.studies.toy_seeds import aggregate, run_toy_seeds, scalar_leaves, seed_config

TINY = """
[study]
alpha = 4.0
methods = ["single_network_morphing", "smearing"]
seeds = [3, 5]
n_test = 500
grid = [-1.5, 1.5, 13]

[data]
n_per_basis = 400

[network]
hidden = [8]
members = 2

[training]
epochs = 1
batch_size = 256
seed = 10
device = "cpu"

[morphing]
repulsion = 5.0            # the two morphing methods only
epochs = 2
single_network_epochs = 3  # the single network only

[smearing]
n_events = 600

[coverage]
enabled = false
"""


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("toy_seeds")
    (root / "tiny.toml").write_text(TINY)
    config = ToyStudyConfig.from_toml(root / "tiny.toml")
    out = root / "out"
    return out, run_toy_seeds(config, out, progress=False, figures=False)


def test_per_seed_entries_and_mean_std(seeds_run: tuple[Path, dict[str, Any]]) -> None:
    out, summary = seeds_run
    assert summary["seeds"] == [3, 5]
    per_seed = [json.loads((out / f"seed_{s}" / "summary.json").read_text()) for s in (3, 5)]
    assert [p["config"]["study"]["seed"] for p in per_seed] == [3, 5]
    assert [p["config"]["training"]["seed"] for p in per_seed] == [13, 15]
    # Different seeds: different samples, different results.
    key = "methods.single_network_morphing.rms_error"
    values = [p["methods"]["single_network_morphing"]["rms_error"] for p in per_seed]
    assert values[0] != values[1]
    metric = summary["metrics"][key]
    assert metric["values"] == values
    assert metric["mean"] == pytest.approx((values[0] + values[1]) / 2, rel=1e-12)
    assert metric["std"] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2), rel=1e-12)
    for name in ("smearing.tail_error_reduction_learnable", "smearing.tail_error_reduction"):
        assert len(summary["metrics"][name]["values"]) == 2
    # The saved file is what the function returned.
    assert json.loads((out / "summary.json").read_text())["metrics"][key] == metric
    # The validation sample (another seed at θ_test): its own error, aggregated over seeds too.
    for p in per_seed:
        for entry in p["methods"].values():
            assert math.isfinite(entry["val_rms_error"])
            assert entry["val_rms_error"] >= 0
            assert entry["val_rms_error"] != entry["rms_error"]
    val_key = "methods.single_network_morphing.val_rms_error"
    val_values = [p["methods"]["single_network_morphing"]["val_rms_error"] for p in per_seed]
    assert summary["metrics"][val_key]["values"] == val_values
    curves = summary["curves"]["single_network_morphing"]
    truth = np.mean([p["analytic_mean_log_r"] for p in per_seed], axis=0)
    np.testing.assert_allclose(curves["analytic_mean_log_r"], truth)


def test_single_network_is_one_at_theta0(seeds_run: tuple[Path, dict[str, Any]]) -> None:
    _, summary = seeds_run
    values = summary["metrics"]["methods.single_network_morphing.mean_log_r_at_theta0"]["values"]
    assert max(abs(v) for v in values) <= 1e-6
    # The scanned curve too: the default projection keeps R̂(x|θ0) = 1 (the full one moved it).
    key = "methods.single_network_morphing.scan_mean_log_r_at_theta0"
    assert max(abs(v) for v in summary["metrics"][key]["values"]) <= 1e-6


def test_morphing_overrides(seeds_run: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """[morphing] repulsion/epochs/runs reach only the morphing methods (else the defaults)."""
    out, _ = seeds_run
    run = out / "seed_3" / "estimators"
    single = json.loads((run / "single_network_morphing" / "all" / "history.json").read_text())
    assert len(single["train_loss"]) == 3  # single_network_epochs over [morphing] epochs
    smearing = sorted(run.glob("rtt_*/*/history.json"))
    assert len(smearing) == 2
    for path in smearing:
        assert len(json.loads(path.read_text())["train_loss"]) == 1
    (tmp_path / "tiny.toml").write_text(TINY)
    config = ToyStudyConfig.from_toml(tmp_path / "tiny.toml")
    study = _Study(config, tmp_path / "study", progress=False)
    assert study._morphing_network().repulsion == 5.0
    assert study._morphing_training().epochs == 2
    assert config.network.repulsion == 100.0
    assert config.training.epochs == 1
    plain = dataclasses.replace(config, morphing=MorphingSettings())
    study = _Study(plain, tmp_path / "plain", progress=False)
    assert study._morphing_network() is plain.network
    assert study._morphing_training() is plain.training
    pooled = dataclasses.replace(config, morphing=dataclasses.replace(config.morphing, runs=2))
    training = _Study(pooled, tmp_path / "pooled", progress=False)._morphing_training()
    assert (training.runs, training.epochs, pooled.training.runs) == (2, 2, 1)
    for key, value in (
        ("repulsion", -1.0),
        ("epochs", 0),
        ("runs", 0),
        ("single_network_epochs", 0),
    ):
        with pytest.raises(ConfigError, match=f"morphing. {key}"):
            MorphingSettings(**{key: value})


def test_learnable_tail_metric_direct(seeds_run: tuple[Path, dict[str, Any]]) -> None:
    out, _ = seeds_run
    run = out / "seed_3"
    summary = json.loads((run / "summary.json").read_text())
    sm = summary["smearing"]
    with EventStore(run / "data" / "smearing_theta0.h5") as store:
        parton = store.read(schema.PARTON, ["features", "coefficients"])
    z, c = parton["features"][:, 0], parton["coefficients"]
    target = 2.0 * c[:, 2] / c[:, 0]
    model = ToyModel(4.0)
    x_tail = np.asarray(sm["x_tail"])
    # E[R_θθ(z)|x] = Σ_e R(z_e) K(x − z_e) / Σ_e K(x − z_e), one x at a time.
    direct = np.array(
        [
            sum(
                t * math.exp(-0.5 * ((x - ze) / model.smearing) ** 2)
                for t, ze in zip(target, z, strict=True)
            )
            / sum(math.exp(-0.5 * ((x - ze) / model.smearing) ** 2) for ze in z)
            for x in x_tail
        ]
    )
    np.testing.assert_allclose(sm["learnable_tail"], direct, rtol=1e-9)
    for label, key in (("original", "original"), ("fractional smearing", "smeared")):
        est = DerivativeEstimator.load(run / "estimators" / f"rtt_{key}" / "final")
        learned = est.second_derivative(x_tail).mean(0)
        expected = float(np.sqrt(np.mean((learned - direct) ** 2)))
        got = sm["datasets"][label]["tail_rms_error_learnable"]
        assert got == pytest.approx(expected, rel=1e-6)
    reduction = sm["tail_error_reduction_learnable"]
    assert reduction == pytest.approx(
        sm["datasets"]["original"]["tail_rms_error_learnable"]
        / sm["datasets"]["fractional smearing"]["tail_rms_error_learnable"]
    )


def test_aggregate_and_leaves() -> None:
    summaries = [
        {"methods": {"a": {"rms_error": 1.0, "train_seconds": 3.0, "q": [0.0] * 20}}, "x": True},
        {"methods": {"a": {"rms_error": 3.0, "train_seconds": 9.0, "q": [1.0] * 20}}, "x": False},
    ]
    metrics = aggregate(summaries)
    assert set(metrics) == {"methods.a.rms_error"}
    expected = {"values": [1.0, 3.0], "mean": 2.0, "std": math.sqrt(2)}
    assert metrics["methods.a.rms_error"] == expected
    assert dict(scalar_leaves({"c": {"fractions": [0.5, 0.9]}})) == {
        "c.fractions.0": 0.5,
        "c.fractions.1": 0.9,
    }
    assert aggregate(summaries[:1])["methods.a.rms_error"]["std"] == 0.0


def test_seed_config_and_errors(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(TINY)
    config = ToyStudyConfig.from_toml(tmp_path / "c.toml")
    one = seed_config(config, 7)
    assert (one.study.seed, one.study.seeds, one.training.seed) == (7, (), 17)
    (tmp_path / "d.toml").write_text(TINY.replace("seeds = [3, 5]", "seeds = [3, 3]"))
    with pytest.raises(ConfigError, match="seeds: expected distinct seeds"):
        ToyStudyConfig.from_toml(tmp_path / "d.toml")
    (tmp_path / "e.toml").write_text(TINY.replace("seeds = [3, 5]", "seeds = [-1]"))
    with pytest.raises(ConfigError, match="seeds"):
        ToyStudyConfig.from_toml(tmp_path / "e.toml")
    (tmp_path / "f.toml").write_text(TINY.replace("seeds = [3, 5]", 'projection = "psd"'))
    with pytest.raises(ConfigError, match=r"\[study\] projection: expected one of"):
        ToyStudyConfig.from_toml(tmp_path / "f.toml")
    result = CliRunner().invoke(
        cli, ["toy", "run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "o"), "--seeds", "x"]
    )
    assert result.exit_code != 0
    assert "--seeds" in result.output
