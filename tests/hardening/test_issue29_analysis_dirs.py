"""Issue 29 #5 and #8: untrusted and damaged analysis directories.

#5: file names in ``analysis.json`` (estimator paths, split file, rate file) were joined to
the directory without checks, so ``../x``, absolute names and symbolic links made
``load_analysis``/``madsbi fit`` read outside it and ``madsbi analysis-trim`` *write*
outside its destination. #8: a damaged directory gave raw ``FileNotFoundError``,
``JSONDecodeError``, ``KeyError``, ``AttributeError``, ``IndexError``, torch size-mismatch and
``allow_pickle`` tracebacks, and an unknown ``projection.kind`` was taken as the default.
Checked against a8482b3, where every case here fails (a raw error, a wrong load, or a file
written outside the destination).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import madsbi
from madsbi.analysis.data import read_store
from madsbi.analysis.save import RateEvents, StoreRecord, write_analysis
from madsbi.analysis.trim import trim_analysis
from madsbi.cli.main import cli
from madsbi.errors import CheckpointError, MadSBIError, MissingFileError, StoreFormatError
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.trainer import TrainingConfig
from madsbi.nn.build import NetworkConfig

from helpers.wz import convert_wz_1k

FEATURES = ["log_s", "log_minus_t", "charge"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_wz_1k(tmp_path_factory.mktemp("wz"))


@pytest.fixture(scope="module")
def good(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small valid analysis (one tiny derivative estimator, 400 rate events)."""
    torch.manual_seed(0)
    events = read_store(store, FEATURES, need_coefficients=True)
    assert events.coefficients is not None
    x = events.features(FEATURES)
    sample = HypothesisSample.build(x, events.coefficients, events.weights / events.weights.mean())
    network = NetworkConfig(kind="ensemble", hidden=(8,), members=2, repulsion=1.0)
    derivative = DerivativeEstimator(events.theta0, x.shape[1], network, targets=[1, 2, 4])
    training = TrainingConfig(epochs=1, batch_size=256, patience=0, seed=1)
    derivative.fit(sample, training, progress=False)
    test = np.arange(600, 1000)
    weights = events.weights[test] / events.weights[test].sum() * 16.0
    record = StoreRecord(str(store), events.sha256, events.process, 1000, (0, 0, 0), 16.0, test)
    return write_analysis(
        tmp_path_factory.mktemp("good") / "analysis",
        estimators={"derivative": derivative},
        parameters=["cHWB", "cW", "cHq3"],
        theta0=events.theta0,
        features=FEATURES,
        projection="keep_reference",
        stores=[record],
        rate_events=RateEvents(
            {k: o[test] for k, o in events.observables.items()}, events.coefficients[test], weights
        ),
        split={"seed": 1},
        defaults={
            "luminosity_fb": 300.0,
            "rate_factor": 0.014,
            "ranges": [[-2, 2], [-0.5, 0.5], [-0.5, 0.5]],
            "limit_points": 11,
        },
        config={},
    )


def _copy(good: Path, tmp_path: Path) -> Path:
    out = tmp_path / "inbox" / "analysis"
    shutil.copytree(good, out)
    return out


def _edit(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        manifest = json.loads((path / "analysis.json").read_text())
        change(manifest)
        (path / "analysis.json").write_text(json.dumps(manifest))

    return apply


def _set(keys: str, value: Any) -> Callable[[Path], None]:
    def change(manifest: dict[str, Any]) -> None:
        *parents, last = keys.split(".")
        node = manifest
        for key in parents:
            node = node[key]
        node[last] = value

    return _edit(change)


def _delete(keys: str) -> Callable[[Path], None]:
    def change(manifest: dict[str, Any]) -> None:
        *parents, last = keys.split(".")
        node = manifest
        for key in parents:
            node = node[key]
        del node[last]

    return _edit(change)


def _write(name: str, data: bytes) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        (path / name).write_bytes(data)

    return apply


def _remove(name: str) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        (path / name).unlink()

    return apply


def _npz(name: str, change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        with np.load(path / name, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        change(arrays)
        np.savez(path / name, **arrays)

    return apply


def _estimator_json(key: str, value: Any) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        target = path / "estimators" / "derivative" / "estimator.json"
        description = json.loads(target.read_text())
        node = description
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
        target.write_text(json.dumps(description))

    return apply


def _truncate_weights(path: Path) -> None:
    target = path / "estimators" / "derivative" / "weights.pt"
    target.write_bytes(target.read_bytes()[:500])


def _add_feature(path: Path) -> None:
    _set("features", [*FEATURES, "s"])(path)


#: name → (damage, error type, text in the message)
DAMAGE: dict[str, tuple[Callable[[Path], None], type[MadSBIError], str]] = {
    "manifest not JSON": (
        _write("analysis.json", b"{not json"),
        StoreFormatError,
        "not valid JSON",
    ),
    "manifest not UTF-8": (_write("analysis.json", b"\xff\xfe{}"), StoreFormatError, "UTF-8"),
    "manifest a list": (_write("analysis.json", b"[1, 2]"), StoreFormatError, "JSON object"),
    "parameters missing": (_delete("parameters"), StoreFormatError, "'parameters' is missing"),
    "parameters a string": (_set("parameters", "cHWB"), StoreFormatError, "parameters"),
    "theta0 too short": (_set("theta0", [0.0, 0.0]), StoreFormatError, "theta0"),
    "theta0 text": (_set("theta0", ["a", 0, 0]), StoreFormatError, "theta0[0]"),
    "features empty": (_set("features", []), StoreFormatError, "features"),
    "unknown projection kind": (
        _set("projection.kind", "clip"),
        StoreFormatError,
        "projection.kind",
    ),
    "keep_reference not bool": (
        _set("projection.keep_reference", "yes"),
        StoreFormatError,
        "keep_reference",
    ),
    "unknown level": (_set("level", "detector"), StoreFormatError, "level"),
    "unknown poisson rate": (_set("rate_model.poisson", "x"), StoreFormatError, "poisson"),
    "no estimators": (_set("estimators", {}), StoreFormatError, "estimators"),
    "estimator entry a string": (
        _set("estimators.derivative", "estimators/derivative"),
        StoreFormatError,
        "estimators.derivative",
    ),
    "estimator path missing": (
        _delete("estimators.derivative.path"),
        StoreFormatError,
        "estimators.derivative.path",
    ),
    "split stores not a list": (_set("split.stores", {}), StoreFormatError, "split.stores"),
    "ranges missing": (_delete("defaults.ranges"), StoreFormatError, "defaults.ranges"),
    "ranges reversed": (
        _set("defaults.ranges", [[2, -2], [-1, 1], [-1, 1]]),
        StoreFormatError,
        "low < high",
    ),
    "limit_points text": (_set("defaults.limit_points", "many"), StoreFormatError, "limit_points"),
    "luminosity negative": (_set("defaults.luminosity_fb", -1), StoreFormatError, "luminosity"),
    "rate events missing": (_remove("rate_events.npz"), MissingFileError, "rate_model.file"),
    "rate events garbage": (
        _write("rate_events.npz", b"PK\x03\x04garbage"),
        StoreFormatError,
        "not a readable .npz",
    ),
    "rate events pickled": (
        _npz("rate_events.npz", lambda a: a.update(obs_charge=np.array([{}] * 400))),
        StoreFormatError,
        "rate_events.npz",
    ),
    "rate coefficients missing": (
        _npz("rate_events.npz", lambda a: a.pop("coefficients")),
        StoreFormatError,
        "'coefficients' is missing",
    ),
    "rate coefficients of another K": (
        _npz("rate_events.npz", lambda a: a.update(coefficients=a["coefficients"][:, :4])),
        StoreFormatError,
        "coefficients",
    ),
    "rate weights one short": (
        _npz("rate_events.npz", lambda a: a.update(mis_weights=a["mis_weights"][1:])),
        StoreFormatError,
        "rate_events.npz",
    ),
    "rate feature missing": (
        _npz("rate_events.npz", lambda a: a.pop("obs_log_s")),
        StoreFormatError,
        "log_s",
    ),
    "split missing": (_remove("split.npz"), MissingFileError, "split.file"),
    "split without test_0": (
        _npz("split.npz", lambda a: a.pop("test_0")),
        StoreFormatError,
        "test_0",
    ),
    "split indices outside the store": (
        _npz("split.npz", lambda a: a.update(test_0=a["test_0"] + 900)),
        StoreFormatError,
        "outside",
    ),
    "split indices float": (
        _npz("split.npz", lambda a: a.update(test_0=a["test_0"] * 1.0)),
        StoreFormatError,
        "integer",
    ),
    "estimator.json not JSON": (
        _write("estimators/derivative/estimator.json", b"{"),
        CheckpointError,
        "estimator.json",
    ),
    "estimator weights missing": (
        _remove("estimators/derivative/weights.pt"),
        MadSBIError,
        "estimators/derivative",
    ),
    "estimator weights truncated": (_truncate_weights, CheckpointError, "derivative"),
    "estimator weights of another size": (
        _estimator_json("network.hidden", [16]),
        CheckpointError,
        "estimators/derivative",
    ),
    "estimator inputs not the features": (_add_feature, CheckpointError, "4 features"),
    "estimator theta0 not the manifest's": (
        _set("theta0", [0.5, 0.0, 0.0]),
        CheckpointError,
        "expands around",
    ),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_analysis_is_a_typed_error_naming_the_file(
    good: Path, tmp_path: Path, case: str
) -> None:
    damage, error, text = DAMAGE[case]
    path = _copy(good, tmp_path)
    damage(path)
    with pytest.raises(error, match=None) as caught:
        madsbi.load_analysis(path)
    message = str(caught.value)
    assert text in message, message
    assert str(path) in message, message


@pytest.mark.parametrize("case", ["manifest a list", "rate coefficients missing", "split missing"])
def test_damaged_analysis_fit_is_one_line(
    good: Path, store: Path, tmp_path: Path, case: str
) -> None:
    damage, error, _ = DAMAGE[case]
    path = _copy(good, tmp_path)
    damage(path)
    result = CliRunner().invoke(
        cli, ["fit", str(path), str(store), "--out", str(tmp_path / "fit")], catch_exceptions=False
    )
    assert result.exit_code == 1, result.output
    assert error.__name__ in result.stderr
    assert "Traceback" not in result.output


def test_the_valid_analysis_loads(good: Path, tmp_path: Path) -> None:
    analysis = madsbi.load_analysis(_copy(good, tmp_path))
    assert analysis.methods == ["derivative"]
    assert analysis.test_indices[0].shape == (400,)


# -- #5: names outside the directory ------------------------------------------------------
def _outside_copy(good: Path, tmp_path: Path, name: str) -> Path:
    """A copy of one of the analysis's files outside its directory (a valid one)."""
    target = tmp_path / "elsewhere" / Path(name).name
    target.parent.mkdir(exist_ok=True)
    source = good / name
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy(source, target)
    return target


@pytest.mark.parametrize(
    ("field", "name"),
    [
        ("estimators.derivative.path", "estimators/derivative"),
        ("rate_model.file", "rate_events.npz"),
        ("split.file", "split.npz"),
    ],
)
@pytest.mark.parametrize("form", ["absolute", "dotdot", "symlink"])
def test_names_outside_the_directory_are_refused(
    good: Path, tmp_path: Path, field: str, name: str, form: str
) -> None:
    path = _copy(good, tmp_path)
    outside = _outside_copy(good, tmp_path, name)
    if form == "absolute":
        value = str(outside)
    elif form == "dotdot":
        value = str(Path("..", "..", "elsewhere", outside.name))
    else:
        (path / "link").symlink_to(outside)
        value = "link"
    _set(field, value)(path)
    with pytest.raises(StoreFormatError, match=field.replace(".", r"\.")) as caught:
        madsbi.load_analysis(path)
    assert "outside" in str(caught.value) or "absolute" in str(caught.value)
    with pytest.raises(StoreFormatError, match=field.replace(".", r"\.")):
        trim_analysis(path, tmp_path / "trimmed", rate_events=50)
    assert not (tmp_path / "trimmed").exists()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_trim_never_writes_outside_its_destination(good: Path, tmp_path: Path) -> None:
    """An absolute split name: a8482b3 rewrote that file (``dst / "/abs"`` is ``/abs``)."""
    path = _copy(good, tmp_path)
    victim = _outside_copy(good, tmp_path, "split.npz")
    before = _digest(victim)
    _set("split.file", str(victim))(path)
    result = CliRunner().invoke(
        cli,
        ["analysis-trim", str(path), str(tmp_path / "trimmed"), "--rate-events", "50"],
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    assert "StoreFormatError" in result.stderr
    assert "absolute" in result.stderr
    assert _digest(victim) == before
    assert not (tmp_path / "trimmed").exists()


def test_names_inside_with_dots_still_load(good: Path, tmp_path: Path) -> None:
    path = _copy(good, tmp_path)
    _set("split.file", "estimators/../split.npz")(path)
    assert madsbi.load_analysis(path).test_indices[0].shape == (400,)
