"""Overlay analyses (``--overlay``): background components or nuisances on top of a trained
analysis, naming it as their base instead of copying its trained files.

The overlay and the full copy are built with the same seed from the same stores, so their
components are the same networks and every fit must agree exactly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import madsbi
from madsbi.analysis.fit import choose_methods
from madsbi.analysis.overlay import BASE_KEY, derived, files_root, manifest_sha256
from madsbi.analysis.schema import read_manifest
from madsbi.analysis.trim import trim_analysis
from madsbi.cli.main import cli
from madsbi.errors import CheckpointError, InputError, StoreFormatError
from madsbi.simulate.reco import shipped_reco_path

BSM = shipped_reco_path("wz_reco_bsm_test")
SM = shipped_reco_path("wz_reco_test")
FIT = {
    "methods": ["mlp"],
    "at": ["cHWB=1,cW=0.1,cHq3=0.1"],
    "points_1d": 11,
    "points_2d": 3,
    "profile": "fixed",
}

pytestmark = pytest.mark.filterwarnings(
    "ignore::madsbi.errors.TrainingSupportWarning", "ignore::madsbi.errors.BoxEdgeWarning"
)


def _backgrounds(source: str | Path, out: Path, *extra: str) -> None:
    torch.set_num_threads(1)
    result = CliRunner().invoke(
        cli,
        [
            "analysis-backgrounds", str(source), str(out), "--background", f"bkg_a={BSM}",
            "--signal", str(SM), "--classifier-epochs", "2", "--ratio-epochs", "2",
            "--hidden", "8", "--seed", "3", *extra,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("overlay")
    base = root / "base"
    shutil.copytree(madsbi.analysis.analysis_path("wz_reco_paper"), base)
    _backgrounds(base, root / "copy")
    _backgrounds(base, root / "over", "--overlay")
    _backgrounds("wz_reco_paper", root / "over_shipped", "--overlay")
    return {"base": base, "copy": root / "copy", "over": root / "over",
            "over_shipped": root / "over_shipped"}  # fmt: skip


def _files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


def test_an_overlay_holds_only_what_it_adds_and_names_its_base(built: dict[str, Path]) -> None:
    over, base = built["over"], built["base"]
    files = _files(over)
    assert files == {f for f in _files(built["copy"]) if f.startswith("components/")} | {
        "analysis.json"
    }
    manifest = read_manifest(over)
    assert manifest[BASE_KEY] == {"analysis": "../base", "manifest_sha256": manifest_sha256(base)}
    assert files_root(over, manifest) == over / "../base"
    shipped = read_manifest(built["over_shipped"])[BASE_KEY]
    assert shipped["analysis"] == "wz_reco_paper"
    copy = read_manifest(built["copy"])
    assert BASE_KEY not in copy
    assert {k: v for k, v in manifest.items() if k != BASE_KEY} == copy


def test_an_overlay_fits_exactly_like_the_full_copy(built: dict[str, Path]) -> None:
    fits = [
        madsbi.load_analysis(built[k]).fit(BSM, **FIT) for k in ("copy", "over", "over_shipped")
    ]
    q = [f.methods["mlp"].points[0]["q"] for f in fits]
    assert np.isfinite(q[0])
    assert q[1] == q[0]
    assert q[2] == q[0]
    for f in fits[1:]:
        np.testing.assert_array_equal(f.methods["mlp"].best_fit, fits[0].methods["mlp"].best_fit)
        assert f.to_dict()["components"] == fits[0].to_dict()["components"]


def test_a_changed_base_is_an_error_naming_it(built: dict[str, Path], tmp_path: Path) -> None:
    base = tmp_path / "base"
    shutil.copytree(built["base"], base)
    over = tmp_path / "over"
    shutil.copytree(built["over"], over)
    madsbi.load_analysis(over)  # its base ../base is the copy, unchanged so far
    manifest = json.loads((base / "analysis.json").read_text())
    manifest["defaults"]["luminosity_fb"] = 1.0
    (base / "analysis.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="another version of its base"):
        madsbi.load_analysis(over)
    shutil.rmtree(base)
    with pytest.raises(CheckpointError, match="neither a directory next to it"):
        madsbi.load_analysis(over)


def test_an_overlay_of_an_overlay_names_the_same_base(
    built: dict[str, Path], tmp_path: Path
) -> None:
    out, entry = derived(built["over"], tmp_path / "again", overlay=False)
    assert entry is not None
    assert entry["manifest_sha256"] == manifest_sha256(built["base"])
    assert (out / entry["analysis"]).resolve() == built["base"].resolve()
    assert _files(out) == _files(built["over"]) - {"analysis.json"}


def test_overlay_errors(built: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="give a destination"):
        derived(built["base"], None, overlay=True)
    with pytest.raises(InputError, match="is an overlay"):
        trim_analysis(built["over"], tmp_path / "trimmed", rate_events=10)
    manifest = json.loads((built["over"] / "analysis.json").read_text())
    bad = tmp_path / "bad"
    shutil.copytree(built["over"], bad)
    for value, match in [
        ({"analysis": "/abs/path", "manifest_sha256": "0" * 64}, "base.analysis"),
        ({"analysis": "wz_reco_paper", "manifest_sha256": "xyz"}, "base.manifest_sha256"),
    ]:
        manifest[BASE_KEY] = value
        (bad / "analysis.json").write_text(json.dumps(manifest))
        with pytest.raises(StoreFormatError, match=match):
            madsbi.load_analysis(bad)


def test_the_shipped_background_analysis_is_an_overlay_on_wz_reco_paper() -> None:
    from madsbi.analysis.components import load_components
    from madsbi.analysis.names import shipped_analyses_dir

    analysis = madsbi.load_analysis("wz_reco_bkg")
    assert analysis.files == shipped_analyses_dir() / "wz_reco_paper"
    assert set(analysis.methods) == {"mlp", "lgatr"}
    size = sum(p.stat().st_size for p in analysis.path.rglob("*") if p.is_file())
    assert size < 2_000_000
    loaded = load_components(analysis)
    assert loaded is not None
    assert [b.name for b in loaded.backgrounds] == ["zz_4l"]
    assert loaded.backgrounds[0].estimator is not None  # θ-dependent: its own ratio


def test_exact_is_no_truth_of_a_mixture() -> None:
    mixture = madsbi.load_analysis("wz_reco_bkg")
    with pytest.raises(InputError, match="oracle"):
        mixture.fit(BSM, methods=["mlp", "exact"], points_1d=3, points_2d=2, profile="fixed")
    with pytest.raises(InputError, match="oracle"):
        choose_methods(mixture, ["exact"], with_coefficients=True)
    # by default: the learned methods (and pooled: the shipped mixture has it), "exact" only
    # for an analysis without components
    assert choose_methods(mixture, None, with_coefficients=True) == ["mlp", "lgatr", "pooled"]
    signal_only = madsbi.load_analysis("wz_reco_paper")
    assert choose_methods(signal_only, None, with_coefficients=True) == ["mlp", "lgatr", "exact"]
    assert choose_methods(signal_only, None, with_coefficients=False) == ["mlp", "lgatr"]
    with pytest.raises(InputError, match="nope"):
        choose_methods(signal_only, ["nope"], with_coefficients=True)
