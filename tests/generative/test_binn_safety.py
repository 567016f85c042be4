"""Saved models and checkpoints are read weights-only: a crafted pickle never runs, a truncated
or corrupt file is a CheckpointError naming it (never silently retrained over)."""

from __future__ import annotations

import ast
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from madsbi.cli.main import cli
from madsbi.errors import CheckpointError
from madsbi.estimators.io import WEIGHTS_NAME, load_estimator, save_estimator
from madsbi.estimators.losses import weighted_mse
from madsbi.estimators.network import seeded_network
from madsbi.estimators.trainer import CHECKPOINT_NAME, TrainingConfig, fit
from madsbi.generative.binn import (
    BINNHistory,
    BINNTraining,
    build_inn,
    load_model,
    save_model,
    train_inn,
)
from madsbi.generative.inn import INNConfig
from madsbi.nn.build import NetworkConfig


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class _Payload:
    """Unpickling this object opens (and so creates) the marker file: code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _crafted(kind: str, path: Path, marker: Path) -> None:
    """Write a file whose unpickling would create ``marker``, in torch's or pickle's format."""
    if kind == "torch_zip":
        torch.save({"state": {}, "fingerprint": _Payload(marker)}, path)
    else:
        path.write_bytes(pickle.dumps({"state": _Payload(marker)}, protocol=2))


def _tiny_model(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 2))
    config = INNConfig(n_blocks=2, hidden=8, n_layers=1)
    model = build_inn(x, config, seed=1)
    history = train_inn(model, x, BINNTraining(n_updates=3, batch_size=128))
    fingerprint = {"toy": "gauss", "n": 400}
    path = tmp_path / "models" / "gauss.pt"
    save_model(model, path, fingerprint, history)
    return path, fingerprint


@pytest.mark.parametrize("kind", ["torch_zip", "legacy_pickle"])
def test_crafted_model_file_is_refused_and_never_runs(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "models" / "kicker.pt"
    path.parent.mkdir()
    _crafted(kind, path, marker)
    with pytest.raises(CheckpointError, match=r"kicker\.pt: refused to load") as info:
        load_model(path, {"anything": 1})
    assert "weights_only" not in str(info.value)  # never advise the unsafe way out
    assert not marker.exists()


def test_crafted_model_file_stops_binn_run_before_training(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    out = tmp_path / "out"
    (out / "models").mkdir(parents=True)
    crafted = out / "models" / "kicker.pt"
    _crafted("torch_zip", crafted, marker)
    config = tmp_path / "kicker.toml"
    config.write_text(
        '[study]\nkind = "kicker"\nn_train = 500\n[network]\nn_blocks = 1\nhidden = 4\n'
        "n_layers = 1\n[training]\nn_updates = 2\n"
    )
    result = CliRunner().invoke(cli, ["binn", "run", str(config), "--out", str(out), "--quiet"])
    assert result.exit_code == 1
    assert "CheckpointError" in result.output
    assert str(crafted) in result.output
    assert not marker.exists()
    assert crafted.read_bytes()  # not silently retrained over
    assert not (out / "summary.json").exists()


def test_saved_model_round_trip_and_no_temporary_left(tmp_path: Path) -> None:
    path, fingerprint = _tiny_model(tmp_path)
    loaded = load_model(path, fingerprint)
    assert loaded is not None
    model, history = loaded
    assert isinstance(history, BINNHistory)
    assert history.n_train == 400
    assert load_model(path, {**fingerprint, "n": 401}) is None  # other data: retrain
    assert sorted(p.name for p in path.parent.iterdir()) == ["gauss.pt"]
    x = torch.zeros(3, 2, dtype=torch.float64)
    assert bool(torch.all(torch.isfinite(model.log_prob(x))))


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.97])
def test_truncated_model_file_names_the_file(tmp_path: Path, keep: float) -> None:
    path, fingerprint = _tiny_model(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: int(keep * len(data))])
    with pytest.raises(CheckpointError, match=r"gauss\.pt: cannot be read \(truncated or corrupt"):
        load_model(path, fingerprint)


def test_model_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match=r"m\.pt: expected a madsbi checkpoint"):
        load_model(path, {})
    torch.save({"state": {}}, path)
    with pytest.raises(CheckpointError, match=r"m\.pt: not a madsbi checkpoint of this kind"):
        load_model(path, {})


def _fit(checkpoint_dir: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(-1.0, 1.0, size=(200, 1))
    data = {
        "x": torch.tensor(x, dtype=torch.float32),
        "y": torch.tensor(2.0 * x, dtype=torch.float32),
        "weight": torch.ones(200),
    }
    network = seeded_network(NetworkConfig(kind="mlp", hidden=(4,), members=1), 1, 1, 0)
    fit(
        network,
        lambda p, b: weighted_mse(p, b["y"], b["weight"]),
        data,
        TrainingConfig(epochs=2, batch_size=64, device="cpu"),
        checkpoint_dir=checkpoint_dir,
        progress=False,
    )


def test_trainer_checkpoint_truncated_or_crafted(tmp_path: Path) -> None:
    directory = tmp_path / "derivative"
    _fit(directory)
    path = directory / CHECKPOINT_NAME
    assert sorted(p.name for p in directory.iterdir()) == [CHECKPOINT_NAME, "history.json"]
    _fit(directory)  # resuming a finished training works
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt: cannot be read"):
        _fit(directory)
    marker = tmp_path / "pwned"
    _crafted("torch_zip", path, marker)
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt: refused to load"):
        _fit(directory)
    assert not marker.exists()


def test_estimator_weights_crafted(tmp_path: Path) -> None:
    network = seeded_network(NetworkConfig(kind="mlp", hidden=(4,), members=1), 1, 1, 0)
    save_estimator(tmp_path, {"kind": "derivative"}, {"f": network})
    description, states = load_estimator(tmp_path, "derivative")
    assert description["kind"] == "derivative"
    assert set(states) == {"f"}
    marker = tmp_path / "pwned"
    _crafted("legacy_pickle", tmp_path / WEIGHTS_NAME, marker)
    with pytest.raises(CheckpointError, match=r"weights\.pt: refused to load"):
        load_estimator(tmp_path, "derivative")
    assert not marker.exists()


def test_estimator_description_truncated(tmp_path: Path) -> None:
    network = seeded_network(NetworkConfig(kind="mlp", hidden=(4,), members=1), 1, 1, 0)
    save_estimator(tmp_path, {"kind": "derivative"}, {"f": network})
    description = tmp_path / "estimator.json"
    description.write_text(description.read_text()[:10])
    with pytest.raises(CheckpointError, match=r"estimator\.json: cannot be read \(truncated"):
        load_estimator(tmp_path, "derivative")
    description.write_text("[1, 2]")
    with pytest.raises(CheckpointError, match=r"estimator\.json: expected a JSON object"):
        load_estimator(tmp_path, "derivative")


def _torch_load_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "load"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "torch"
    ]


def test_every_torch_file_is_read_through_the_weights_only_loader() -> None:
    """``torch.load`` is called only in :mod:`madsbi._checkpoint`, with weights_only=True."""
    package = Path(__file__).resolve().parents[2] / "madsbi"
    calls = {
        str(path.relative_to(package)): found
        for path in package.rglob("*.py")
        if (found := _torch_load_calls(path))
    }
    assert sorted(calls) == ["_checkpoint.py"]
    for call in calls["_checkpoint.py"]:
        flags = {k.arg: k.value for k in call.keywords}
        assert isinstance(flags["weights_only"], ast.Constant)
        assert flags["weights_only"].value is True
