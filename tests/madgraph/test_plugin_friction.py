"""madsbi in a virtual environment, MadGraph started with another Python (no MadGraph needed).

``install-plugin`` records madsbi's environment beside the shim; MadGraph's Python of the same
version then finds madsbi through it, another version is refused with the command that starts
MadGraph correctly, and ``madsbi mg5 doctor`` prints the exact fix.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import madsbi
from madsbi.cli.mg5 import mg5
from madsbi.madgraph.doctor import diagnose
from madsbi.madgraph.install import install_plugin, install_pythonpath
from madsbi.madgraph.plugin_shim import ENVIRONMENT_FILE

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


def fake_mg5(root: Path) -> Path:
    """A directory with what install-plugin and doctor look at."""
    for sub in ("madgraph/various", "madgraph/interface", "PLUGIN", "bin"):
        (root / sub).mkdir(parents=True)
    for sub in ("madgraph", "madgraph/various", "madgraph/interface", "PLUGIN"):
        (root / sub / "__init__.py").write_text("")
    (root / "bin" / "mg5_aMC").write_text("#! /usr/bin/env python3\n")
    (root / "VERSION").write_text("version = 3.5.7\ndate = 2024-11-29\n")
    (root / "madgraph" / "various" / "misc.py").write_text(FAKE_MISC)
    (root / "madgraph" / "interface" / "reweight_interface.py").write_text(FAKE_REWEIGHT)
    return root


@pytest.fixture
def system_python(tmp_path: Path) -> str:
    """An interpreter of this Python's version that cannot import madsbi by itself.

    This Python without its site directories (``-I -S``): what the system ``python3`` is to
    a madsbi installed in a virtual environment.
    """
    wrapper = tmp_path / "system-python3"
    wrapper.write_text(f"#!/bin/sh\nexec '{sys.executable}' -I -S \"$@\"\n")
    wrapper.chmod(0o755)
    probe = subprocess.run(
        [str(wrapper), "-c", "import madsbi"], capture_output=True, text=True, check=False
    )
    assert probe.returncode != 0
    assert "No module named 'madsbi'" in probe.stderr
    return str(wrapper)


def _record(root: Path) -> Path:
    return root / "PLUGIN" / "madsbi" / ENVIRONMENT_FILE


def test_install_records_the_environment(tmp_path: Path) -> None:
    root = fake_mg5(tmp_path / "MG5")
    install_plugin(root)
    record = json.loads(_record(root).read_text())
    assert record["python"] == sys.executable
    assert record["python_version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert record["madsbi_version"] == madsbi.__version__
    assert record["site_dirs"]
    assert all(Path(d).is_dir() for d in record["site_dirs"] + record["paths"])
    target = install_pythonpath(tmp_path / "pp")
    assert (target / "MG5aMC_PLUGIN" / "madsbi" / ENVIRONMENT_FILE).is_file()
    assert not [p for p in _record(root).parent.iterdir() if p.name.startswith(".")]


def test_same_version_python_finds_madsbi_through_the_record(
    tmp_path: Path, system_python: str
) -> None:
    root = fake_mg5(tmp_path / "MG5")
    install_plugin(root)
    report = diagnose(root, python=system_python)
    assert report.ok, report.format()
    (plugin,) = report.probe["plugins"]
    assert plugin["madsbi_found"] == f"added from {_record(root)}"
    assert report.probe["madsbi"]["version"] == madsbi.__version__
    assert report.probe["interface"] == "MadSBIReweightInterface"
    assert f"finds madsbi:  added from {_record(root)}" in report.format()
    # The reweight factory itself, as MadGraph calls it, in that Python.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import PLUGIN.madsbi as shim; "
        "print(shim._find_madsbi()); import madsbi; print(madsbi.__version__)"
    )
    done = subprocess.run(
        [system_python, "-c", code, str(root)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["added", "from", str(_record(root)), madsbi.__version__]


def test_other_python_version_is_refused_with_the_fix(tmp_path: Path, system_python: str) -> None:
    root = fake_mg5(tmp_path / "MG5")
    install_plugin(root)
    record = json.loads(_record(root).read_text())
    record["python_version"] = "3.99"
    record["python"] = "/opt/venv/bin/python"
    _record(root).write_text(json.dumps(record))
    report = diagnose(root, python=system_python)
    assert not report.ok
    (problem,) = [p for p in report.problems if "not importable" in p]
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert (
        f"madsbi is installed for Python 3.99 (/opt/venv/bin/python), but MadGraph runs "
        f"Python {running}" in problem
    )
    assert f"/opt/venv/bin/python {root / 'bin' / 'mg5_aMC'}" in problem
    assert f"{system_python} -m pip install madsbi" in problem
    assert "has madsbi's version 3.99" in problem
    result = CliRunner().invoke(mg5, ["doctor", "--mg5-dir", str(root), "--python", system_python])
    assert result.exit_code == 1
    assert f"/opt/venv/bin/python {root / 'bin' / 'mg5_aMC'}" in result.output


def test_without_a_record_doctor_prints_the_fix(tmp_path: Path, system_python: str) -> None:
    root = fake_mg5(tmp_path / "MG5")
    install_plugin(root)
    _record(root).unlink()
    report = diagnose(root, python=system_python)
    assert not report.ok
    (problem,) = [p for p in report.problems if "not importable" in p]
    assert "is missing or unreadable" in problem
    assert f"{sys.executable} {root / 'bin' / 'mg5_aMC'}" in problem
    assert f"{system_python} -m pip install madsbi" in problem
    assert f"madsbi mg5 install-plugin --mg5-dir {root}" in problem


def test_record_pointing_nowhere_is_reported(tmp_path: Path, system_python: str) -> None:
    root = fake_mg5(tmp_path / "MG5")
    install_plugin(root)
    record = json.loads(_record(root).read_text())
    record["site_dirs"], record["paths"] = [str(tmp_path / "gone")], []
    _record(root).write_text(json.dumps(record))
    report = diagnose(root, python=system_python)
    assert not report.ok
    assert any("even with the environment recorded in" in p for p in report.problems)
