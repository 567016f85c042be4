"""Plugin shim, install-plugin and doctor on a fake MadGraph directory (no MadGraph needed)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import madsbi
from madsbi.cli.mg5 import mg5
from madsbi.errors import InputError, MissingFileError
from madsbi.madgraph.doctor import diagnose
from madsbi.madgraph.install import install_plugin, install_pythonpath, mg5_version
from madsbi.madgraph.plugin_shim import LATEST_VALIDATED, MINIMAL_VERSION, shim_source

FAKE_MISC = """
def is_plugin_supported(obj):
    v = (3, 5, 7)
    return tuple(obj.minimal_mg5amcnlo_version) <= v <= tuple(obj.maximal_mg5amcnlo_version)
"""
FAKE_REWEIGHT = """
class ReweightInterface:
    def __init__(self, *args, **kwargs):
        self.args = args
"""


def fake_mg5(root: Path, version: str = "3.5.7") -> Path:
    """A directory with what install-plugin and doctor look at."""
    (root / "madgraph" / "various").mkdir(parents=True)
    (root / "madgraph" / "interface").mkdir(parents=True)
    (root / "PLUGIN").mkdir()
    (root / "PLUGIN" / "__init__.py").write_text("")
    (root / "bin").mkdir()
    (root / "bin" / "mg5_aMC").write_text("#! /usr/bin/env python3\n")
    (root / "VERSION").write_text(f"version = {version}\ndate = 2024-11-29\n")
    for sub in ("madgraph", "madgraph/various", "madgraph/interface"):
        (root / sub / "__init__.py").write_text("")
    (root / "madgraph" / "various" / "misc.py").write_text(FAKE_MISC)
    (root / "madgraph" / "interface" / "reweight_interface.py").write_text(FAKE_REWEIGHT)
    return root


def test_shim_declares_versions_and_imports_nothing_at_import() -> None:
    text = shim_source("9.9.9")
    namespace: dict[str, object] = {}
    exec(compile(text, "shim", "exec"), namespace)
    assert namespace["minimal_mg5amcnlo_version"] == MINIMAL_VERSION
    assert namespace["latest_validated_version"] == LATEST_VALIDATED
    assert tuple(namespace["maximal_mg5amcnlo_version"]) >= LATEST_VALIDATED  # type: ignore[arg-type]
    new_reweight = namespace["new_reweight"]
    assert isinstance(new_reweight, dict)
    assert list(new_reweight) == ["madsbi"]
    assert callable(new_reweight["madsbi"])
    tree = ast.parse(text)
    top_level_imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert top_level_imports == []
    assert "9.9.9" in text


def test_install_into_mg5(tmp_path: Path) -> None:
    root = fake_mg5(tmp_path / "MG5")
    path = install_plugin(root)
    assert path == root / "PLUGIN" / "madsbi" / "__init__.py"
    assert "new_reweight" in path.read_text()
    assert madsbi.__version__ in path.read_text()
    again = install_plugin(root)  # our own shim is replaced without --force
    assert again.read_text() == path.read_text()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


def test_install_refuses_foreign_plugin_and_old_mg5(tmp_path: Path) -> None:
    root = fake_mg5(tmp_path / "MG5")
    (root / "PLUGIN" / "madsbi").mkdir()
    foreign = root / "PLUGIN" / "madsbi" / "__init__.py"
    foreign.write_text("# someone else's plugin\n")
    with pytest.raises(InputError, match="not written by madsbi"):
        install_plugin(root)
    assert foreign.read_text() == "# someone else's plugin\n"
    install_plugin(root, force=True)
    assert "new_reweight" in foreign.read_text()
    old = fake_mg5(tmp_path / "old", version="3.4.2")
    with pytest.raises(InputError, match=r"3\.4\.2 is too old"):
        install_plugin(old)
    with pytest.raises(MissingFileError, match="not a MadGraph5_aMC@NLO directory"):
        install_plugin(tmp_path / "nothing")


def test_mg5_version(tmp_path: Path) -> None:
    assert mg5_version(fake_mg5(tmp_path / "a", "3.6.0")) == (3, 6, 0)


def test_pythonpath_alternative(tmp_path: Path) -> None:
    target = install_pythonpath(tmp_path / "plugins")
    assert (target / "MG5aMC_PLUGIN" / "__init__.py").is_file()
    assert "new_reweight" in (target / "MG5aMC_PLUGIN" / "madsbi" / "__init__.py").read_text()


def test_cli_install_plugin(tmp_path: Path) -> None:
    root = fake_mg5(tmp_path / "MG5")
    result = CliRunner().invoke(mg5, ["install-plugin", "--mg5-dir", str(root)])
    assert result.exit_code == 0, result.output
    assert (root / "PLUGIN" / "madsbi" / "__init__.py").is_file()
    assert "doctor" in result.output
    result = CliRunner().invoke(mg5, ["install-plugin", "--pythonpath-dir", str(tmp_path / "pp")])
    assert result.exit_code == 0, result.output
    assert "export PYTHONPATH=" in result.output
    result = CliRunner().invoke(mg5, ["install-plugin"])
    assert result.exit_code != 0
    assert "--mg5-dir" in result.output


def test_doctor_ok_on_fake_mg5(tmp_path: Path) -> None:
    root = fake_mg5(tmp_path / "MG5")
    install_plugin(root)
    report = diagnose(root, python=sys.executable)
    assert report.ok, report.format()
    assert report.probe["madsbi"]["version"] == madsbi.__version__
    (plugin,) = report.probe["plugins"]
    assert plugin["new_reweight"] == ["madsbi"]
    assert plugin["supported"] is True
    assert report.probe["interface"] == "MadSBIReweightInterface"
    text = report.format()
    assert "madsbi there:    yes" in text
    assert sys.executable in text


def test_doctor_shows_hidden_errors(tmp_path: Path) -> None:
    root = fake_mg5(tmp_path / "MG5")
    report = diagnose(root, python=sys.executable)
    assert not report.ok
    assert any("no plugin" in p for p in report.problems)
    (root / "PLUGIN" / "madsbi").mkdir()
    (root / "PLUGIN" / "madsbi" / "__init__.py").write_text("raise RuntimeError('broken shim')\n")
    report = diagnose(root, python=sys.executable)
    assert any("silently skip" in p and "broken shim" in p for p in report.problems)
    result = CliRunner().invoke(mg5, ["doctor", "--mg5-dir", str(root), "--python", sys.executable])
    assert result.exit_code == 1
    assert "broken shim" in result.output


def test_doctor_with_missing_python(tmp_path: Path) -> None:
    root = fake_mg5(tmp_path / "MG5")
    install_plugin(root)
    report = diagnose(root, python=str(tmp_path / "no-such-python"))
    assert not report.ok
    assert any("cannot run MadGraph's Python" in p for p in report.problems)
