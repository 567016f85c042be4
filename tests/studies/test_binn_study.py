"""The BINN studies end to end, tiny: summary, figures, /generated, reuse, CLI, bad configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from madsbi.cli.binn import binn
from madsbi.errors import ConfigError, MissingFileError
from madsbi.events import schema
from madsbi.events.store import EventStore
from madsbi.studies.binn import run_binn_study
from madsbi.studies.binn_config import BINNStudyConfig

from helpers.training import StepCounter

TINY = """
[study]
kind = "{kind}"
n_train = 3000
training_sizes = [500, 2000]
max_events = 2000

[evaluation]
n_draws = 4
n_lines = 3
n_points = 12
n_samples = 2000
n_bins = 10
n_generated = 200

[network]
n_blocks = 2
hidden = 8
n_layers = 1

[training]
n_updates = 30
batch_size = 256
"""


def _config(tmp_path: Path, kind: str, extra: str = "") -> Path:
    path = tmp_path / f"{kind}.toml"
    path.write_text(TINY.format(kind=kind) + extra)
    return path


@pytest.mark.parametrize("kind", ["kicker", "ring"])
def test_toy_study_cli_end_to_end(tmp_path: Path, kind: str, optimizer_steps: StepCounter) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        binn, ["run", str(_config(tmp_path, kind)), "--out", str(out), "--threads", "1", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    # One network of n_updates = 30 weight updates was trained.
    assert optimizer_steps.steps == 30
    assert "points" in result.output
    summary = json.loads((out / "summary.json").read_text())
    lines = summary["lines"]
    assert 0.0 <= lines["coverage"] <= 1.0
    assert lines["n_points"] == 3 * 12
    assert summary["training"]["n_train"] == 3000
    assert summary["training"]["reused_checkpoint"] is False
    if kind == "ring":
        assert np.isfinite(lines["fit"]["mu"])
        assert lines["fit"]["delta_mu"] >= 0
    else:
        assert lines["fit"]["delta_x0"] >= 0
        assert lines["fit"]["delta_x_max"] >= 0
    assert set(summary["marginals"]) >= {"resampled_latent", "fixed_latent", "sigma_at"}
    for figure in summary["figures"]:
        assert Path(figure).stat().st_size > 1000
    with EventStore(out / "generated.h5") as store:
        assert store.n_events(schema.GENERATED) == 200
        assert np.all(store.read(schema.GENERATED, ["sigma_over_p"])["sigma_over_p"] >= 0)
    # A re-run reuses the trained network (no training step) and reproduces the numbers.
    optimizer_steps.steps = 0
    again = run_binn_study(
        BINNStudyConfig.from_toml(_config(tmp_path, kind)), out, progress=False, figures=False
    )
    assert again["training"]["reused_checkpoint"] is True
    assert optimizer_steps.steps == 0
    assert again["lines"]["coverage"] == lines["coverage"]


def test_training_size_study(tmp_path: Path) -> None:
    config = BINNStudyConfig.from_toml(
        _config(
            tmp_path,
            "training_size",
        )
    )
    summary = run_binn_study(config, tmp_path / "out", progress=False, figures=True)
    assert summary["sizes"] == [500, 2000]
    assert len(summary["sigma_at"]) == 2
    assert all(s > 0 for s in summary["sigma_at"])
    per = summary["per_size"]
    assert per["500"]["training"]["n_train"] == 500
    assert per["2000"]["training"]["n_train"] == 2000
    assert (tmp_path / "out" / "figures" / "training_size.png").is_file()


def test_drell_yan_study(tmp_path: Path) -> None:
    config = BINNStudyConfig.from_toml(_config(tmp_path, "drell_yan"))
    summary = run_binn_study(config, tmp_path / "out", progress=False, figures=True)
    assert summary["n_events"] == 2000
    assert set(summary["observables"]) == {"E_e", "px_e", "pT_e", "pz_e", "E_ee", "m_ee"}
    assert "z_peak" in summary["observables"]["m_ee"]
    with EventStore(tmp_path / "out" / "generated.h5") as store:
        assert store.n_events(schema.PARTON) == 50_000
        assert store.column_names(schema.GENERATED, "x") == ["px_em", "py_em", "pz_em", "pz_ep"]
        weights = store.read(schema.GENERATED, ["weight"])["weight"]
        assert np.allclose(weights, store.meta.basis_cross_sections[0])


def test_bad_configs_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[training\]: unknown key\(s\) \['epochs'\]"):
        BINNStudyConfig.from_toml(_config(tmp_path, "kicker", "epochs = 3\n"))
    path = tmp_path / "bad.toml"
    path.write_text('[study]\nkind = "kicker"\n[optimiser]\nlr = 1\n')
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \['optimiser'\]"):
        BINNStudyConfig.from_toml(path)
    path.write_text('[study]\nkind = "banana"\n')
    with pytest.raises(ConfigError, match="kind"):
        BINNStudyConfig.from_toml(path)
    with pytest.raises(MissingFileError):
        BINNStudyConfig.from_toml(tmp_path / "missing.toml")
    result = CliRunner().invoke(binn, ["run", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)


def test_shipped_examples_parse() -> None:
    examples = sorted((Path(__file__).parents[2] / "examples").glob("binn_*.toml"))
    assert {p.stem for p in examples} >= {
        "binn_wedge",
        "binn_kicker",
        "binn_ring",
        "binn_training_size",
        "binn_drell_yan",
    }
    for path in examples:
        BINNStudyConfig.from_toml(path)
