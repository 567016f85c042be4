"""The toy study end to end (paper Sec. 3), tiny: summary, figures, resuming, CLI, config errors."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from madsbi.cli.main import cli
from madsbi.errors import ConfigError, MadSBIError, MissingFileError
from madsbi.events.store import EventStore
from madsbi.studies.toy import run_toy_study
from madsbi.studies.toy_config import ToyStudyConfig

from helpers.training import StepCounter

TINY = """
[study]
alpha = 1.5
methods = ["derivative", "morphing_aware", "single_network_morphing", "smearing"]
n_test = 1000
grid = [-1.5, 1.5, 31]

[data]
n_derivative = 2000
n_per_basis = 800

[network]
hidden = [8]
members = 2

[training]
epochs = 1
batch_size = 256
device = "cpu"

[smearing]
n_events = 1000

[coverage]
n_toys = 10
expected_events = 200
grid_points = 41
"""

METHODS = (
    "derivative",
    "morphing_aware",
    "single_network_morphing",
    "derivative (original)",
    "derivative (fractional smearing)",
)
FIGURES = (
    "figures/fig1_likelihoods.png",
    "figures/fig2_mean_log_ratio.png",
    "figures/fig3_single_network.png",
    "figures/fig4_target_histogram.png",
    "figures/fig5_learned_second_derivative.png",
    "figures/fig12_coverage.png",
    "figures/fig13_original_dataset.png",
    "figures/fig13_smeared_dataset.png",
    "figures/loss_derivative.png",
    "figures/loss_morphing_aware.png",
)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """One tiny study run from a TOML file: (config path, output directory, summary)."""
    root = tmp_path_factory.mktemp("toy_study")
    config_path = root / "tiny.toml"
    config_path.write_text(TINY)
    out = root / "out"
    summary = run_toy_study(ToyStudyConfig.from_toml(config_path), out, progress=False)
    return config_path, out, summary


def checkpoints(out: Path) -> dict[str, int]:
    return {
        str(p.relative_to(out)): p.stat().st_mtime_ns
        for p in sorted((out / "estimators").rglob("checkpoint.pt"))
    }


def test_summary_has_the_documented_keys(study: tuple[Path, Path, dict[str, Any]]) -> None:
    _, out, returned = study
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"].keys() == set(METHODS)
    n_grid = 31
    assert len(summary["theta_grid"]) == len(summary["analytic_mean_log_r"]) == n_grid
    truth = np.asarray(summary["analytic_mean_log_r"])
    assert truth[15] == pytest.approx(0.0, abs=1e-12)  # ⟨log r(x|θ0, θ0)⟩ = 0
    assert summary["analytic_range"] > 0
    for name, entry in summary["methods"].items():
        for key in ("rms_error", "max_abs_error", "band_coverage", "train_seconds"):
            assert math.isfinite(entry[key]), (name, key)
        assert 0 <= entry["rms_error"] <= entry["max_abs_error"]
        assert 0.0 <= entry["band_coverage"] <= 1.0
        assert entry["train_seconds"] > 0
        assert len(entry["spread"]) == len(entry["mean_log_r"]) == n_grid
        assert np.all(np.asarray(entry["spread"]) >= 0)
        assert entry["n_members"] == 2
        # The stored numbers are the returned ones.
        assert entry["rms_error"] == returned["methods"][name]["rms_error"]
    smearing = summary["smearing"]
    assert math.isfinite(smearing["tail_error_reduction"])
    assert smearing["tail_error_reduction"] > 0
    assert smearing["n_events"] == 1000
    assert smearing["n_copies"] >= 1000
    assert set(smearing["datasets"]) == {"original", "fractional smearing"}
    assert math.isfinite(smearing["tail_rms_error_infinite_smearing"])
    assert smearing["tail_rms_error_infinite_smearing"] > 0
    coverage = summary["coverage"]
    assert set(coverage) == {"analytic", "learned (derivative)"}
    for entry in coverage.values():
        assert entry["gammas"] == [0.68, 0.95]
        assert entry["n_toys"] == 10
        assert all(0.0 <= f <= 1.0 for f in entry["fractions"])
        assert len(entry["errors"]) == 2
    assert summary["config"]["study"]["alpha"] == 1.5
    assert summary["wall_seconds"] > 0


def test_figures_exist(study: tuple[Path, Path, dict[str, Any]]) -> None:
    _, out, summary = study
    listed = summary["figures"]
    assert set(FIGURES) <= set(listed)
    for name in listed:
        path = out / name
        assert path.is_file(), name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_outputs_on_disk(study: tuple[Path, Path, dict[str, Any]]) -> None:
    _, out, _ = study
    for name in ("test", "theta0", "basis0", "basis1", "basis2", "smearing_theta0"):
        assert (out / "data" / f"{name}.h5").is_file(), name
    with EventStore(out / "data" / "test.h5") as store:
        assert store.n_events() == 1000
        assert store.meta.attributes["alpha"] == 1.5
        assert store.meta.attributes["theta_generated"] == 0.6
    for method in ("derivative", "morphing_aware", "single_network_morphing"):
        assert (out / "estimators" / method / "final" / "estimator.json").is_file()
    assert checkpoints(out)
    for path in (out / "estimators").rglob("checkpoint.pt"):
        saved = torch.load(path, weights_only=True)
        assert saved["history"]["finished"]


def test_cli_rerun_does_not_retrain(
    study: tuple[Path, Path, dict[str, Any]], optimizer_steps: StepCounter
) -> None:
    config_path, out, first = study
    before = checkpoints(out)
    data_before = {p.name: p.stat().st_mtime_ns for p in (out / "data").glob("*.h5")}
    result = CliRunner().invoke(cli, ["toy", "run", str(config_path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "summary.json" in result.output
    for name in METHODS:
        assert name in result.output
    assert "coverage (analytic)" in result.output
    again = json.loads((out / "summary.json").read_text())
    # The checkpoints were finished: nothing was trained or rewritten.
    assert checkpoints(out) == before
    for name in METHODS:
        assert again["methods"][name]["train_seconds"] == first["methods"][name]["train_seconds"]
        assert again["methods"][name]["mean_log_r"] == first["methods"][name]["mean_log_r"]
    # Without the figures, a rerun does no work beyond the evaluation: no training step,
    # no data written again.
    quick = run_toy_study(ToyStudyConfig.from_toml(config_path), out, progress=False, figures=False)
    assert "figures" not in quick
    assert checkpoints(out) == before
    assert optimizer_steps.steps == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "data").glob("*.h5")} == data_before


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace("[network]\n", "[network]\nwidht = 3\n"))
    with pytest.raises(ConfigError, match=r"\[network\]: unknown key\(s\) \['widht'\]"):
        ToyStudyConfig.from_toml(path)
    path.write_text(TINY + "\n[netwrok]\nhidden = [4]\n")
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \['netwrok'\]"):
        ToyStudyConfig.from_toml(path)
    path.write_text(TINY.replace('methods = ["derivative"', 'methods = ["derivatives"'))
    with pytest.raises(ConfigError, match=r"\[study\] methods"):
        ToyStudyConfig.from_toml(path)
    path.write_text(TINY.replace("epochs = 1", "epochs = 0"))
    with pytest.raises(ConfigError, match=r"training\.epochs"):
        ToyStudyConfig.from_toml(path)
    path.write_text(TINY.replace("[study]\n", "[study]\nalpha = \n"))
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        ToyStudyConfig.from_toml(path)
    with pytest.raises(MissingFileError, match=r"nothing\.toml"):
        ToyStudyConfig.from_toml(tmp_path / "nothing.toml")
    # Through the CLI: a clean error, not a traceback.
    path.write_text(TINY.replace("[network]\n", "[network]\nwidht = 3\n"))
    result = CliRunner().invoke(cli, ["toy", "run", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "widht" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    result = CliRunner().invoke(cli, ["toy", "run", str(missing), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert str(missing) in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert not (tmp_path / "o").exists()


def test_defaults_are_valid() -> None:
    config = ToyStudyConfig.from_dict({})
    assert config.study.alpha == 1.5
    assert config.network.hidden == (64, 64, 64)
    assert ToyStudyConfig.from_dict({"network": {"hidden": [4, 4]}}).network.hidden == (4, 4)


def test_unknown_coverage_method_is_refused() -> None:
    with pytest.raises(ConfigError, match="method"):
        ToyStudyConfig.from_dict({"coverage": {"method": "derivatve"}})


def test_rerun_with_another_alpha_does_not_reuse_stale_data(
    study: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    config_path, out, _ = study
    copy = tmp_path / "out"
    shutil.copytree(out, copy)  # keep the shared study directory as it is
    config = ToyStudyConfig.from_toml(config_path)
    config = dataclasses.replace(
        config,
        study=dataclasses.replace(config.study, alpha=3.0, methods=("derivative",)),
        coverage=dataclasses.replace(config.coverage, enabled=False),
    )
    try:
        run_toy_study(config, copy, progress=False, figures=False)
    except MadSBIError:
        return  # refusing is fine
    with EventStore(copy / "data" / "test.h5") as store:
        assert store.meta.attributes["alpha"] == 3.0


def test_infinite_smearing_limit_is_the_kernel_weighted_mean_of_the_parton_targets() -> None:
    from madsbi.simulate.toy import ToyModel
    from madsbi.studies.toy import _infinite_smearing

    rng = np.random.default_rng(11)
    model = ToyModel(4.0)
    z, target, x = rng.normal(size=40), rng.exponential(size=40), rng.uniform(-2, 2, 7)
    expected = [
        sum(
            y * math.exp(-0.5 * ((xi - zi) / model.smearing) ** 2)
            for zi, y in zip(z, target, strict=True)
        )
        / sum(math.exp(-0.5 * ((xi - zi) / model.smearing) ** 2) for zi in z)
        for xi in x
    ]
    np.testing.assert_allclose(_infinite_smearing(model, z, target, x), expected, rtol=1e-12)
    # A constant target stays that constant at every x.
    np.testing.assert_allclose(_infinite_smearing(model, z, np.full(40, 2.5), x), 2.5)


def test_flattening_weights_flatten_the_weighted_density_up_to_the_cap() -> None:
    from madsbi.studies.toy import flattening_weights

    rng = np.random.default_rng(3)
    x = rng.exponential(1.0, 20_000)
    weights = rng.uniform(0.5, 1.5, x.size)
    np.testing.assert_array_equal(flattening_weights(x, weights, 1.0), 1.0)
    factors = flattening_weights(x, weights, 50.0, bins=40)
    assert factors.min() == 1.0
    assert factors.max() == 50.0
    density, edges = np.histogram(x, bins=40, weights=weights)
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, 39)
    expected = np.minimum(50.0, density.max() / density[which])
    np.testing.assert_allclose(factors, expected, rtol=1e-12)
    # Where the cap does not bind, every bin carries the same weighted total.
    totals = np.bincount(which, weights=weights * factors, minlength=40)
    unbound = (density > 0) & (density.max() / np.where(density > 0, density, 1.0) < 50.0)
    assert unbound.sum() >= 5
    np.testing.assert_allclose(totals[unbound], density.max(), rtol=1e-9)
