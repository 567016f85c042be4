"""``madsbi mg5 doctor``: import the plugin the way MadGraph does and show what it hides.

MadGraph imports plugins inside ``try/except`` and drops the error, so a broken install just
makes ``reweight=madsbi`` an invalid choice. The doctor runs, in the Python that MadGraph
runs, the same ``__import__('PLUGIN.madsbi')`` and reports every error in full.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from madsbi.errors import BackendError
from madsbi.madgraph.install import (
    PLUGIN_NAME,
    PYTHONPATH_FOLDER,
    mg5_version,
    read_environment_record,
)

#: Run in MadGraph's Python: prints one JSON object.
_PROBE = r"""
import json, os, sys, traceback
mg5 = sys.argv[1]
out = {"python": sys.executable, "python_version": sys.version.split()[0], "plugins": [],
       "errors": []}
sys.path.insert(0, mg5)
dirs = [os.path.join(mg5, "PLUGIN")]
for cand in os.environ.get("PYTHONPATH", "").split(":"):
    if cand and os.path.isdir(os.path.join(cand, "MG5aMC_PLUGIN")):
        dirs.append(os.path.join(cand, "MG5aMC_PLUGIN"))
        if cand not in sys.path:
            sys.path.append(cand)
        break
for d in dirs:
    if not os.path.exists(os.path.join(d, "madsbi", "__init__.py")):
        continue
    name = "%s.madsbi" % os.path.basename(d)
    entry = {"path": os.path.join(d, "madsbi"), "module": name}
    try:
        __import__(name)
        mod = sys.modules[name]
        entry["versions"] = [list(getattr(mod, k, ())) for k in (
            "minimal_mg5amcnlo_version", "maximal_mg5amcnlo_version", "latest_validated_version")]
        entry["new_reweight"] = sorted(getattr(mod, "new_reweight", {}))
        finder = getattr(mod, "_find_madsbi", None)
        if finder is not None:
            try:
                entry["madsbi_found"] = finder()
            except ImportError as exc:
                entry["madsbi_find_error"] = str(exc)
        try:
            import madgraph.various.misc as misc
            entry["supported"] = bool(misc.is_plugin_supported(mod))
        except Exception:
            entry["supported"] = None
            out["errors"].append("checking support with MadGraph:\n" + traceback.format_exc())
    except Exception:
        entry["import_error"] = traceback.format_exc()
    out["plugins"].append(entry)
try:
    import madsbi
    out["madsbi"] = {"version": madsbi.__version__, "file": madsbi.__file__}
except Exception:
    out["madsbi_error"] = traceback.format_exc()
try:
    import madgraph
    out["madgraph"] = madgraph.__file__
    from madsbi.madgraph.interface import interface_class
    out["interface"] = interface_class().__name__
except Exception:
    out["errors"].append("loading the reweight interface:\n" + traceback.format_exc())
print("MADSBI-DOCTOR " + json.dumps(out))
"""


@dataclass
class DoctorReport:
    """What the doctor found.

    Attributes
    ----------
    mg5_dir : Path
        MadGraph's directory.
    mg5_version : str
        Its version.
    python : str
        The interpreter MadGraph runs (from the ``bin/mg5_aMC`` shebang unless given).
    probe : dict
        The JSON the probe printed in that interpreter (empty if it did not run).
    problems : list of str
        Everything that would stop ``reweight=madsbi``, with full tracebacks.
    """

    mg5_dir: Path
    mg5_version: str
    python: str
    probe: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if MadGraph would offer and run ``reweight=madsbi``."""
        return not self.problems

    def format(self) -> str:
        """Human-readable report."""
        lines = [
            f"MadGraph:        {self.mg5_dir} (version {self.mg5_version})",
            f"MadGraph Python: {self.python} ({self.probe.get('python_version', '?')})",
        ]
        if "madsbi" in self.probe:
            info = self.probe["madsbi"]
            lines.append(f"madsbi there:    yes, {info['version']} ({info['file']})")
        else:
            lines.append("madsbi there:    NO")
        for plugin in self.probe.get("plugins", []):
            state = "imports" if "import_error" not in plugin else "FAILS to import"
            lines.append(f"plugin:          {plugin['path']} ({plugin['module']}) {state}")
            if str(plugin.get("madsbi_found", "")).startswith("added from"):
                lines.append(f"  finds madsbi:  {plugin['madsbi_found']}")
            if "new_reweight" in plugin:
                lines.append(f"  new_reweight:  {plugin['new_reweight']}")
                lines.append(
                    f"  versions:      {plugin['versions']} supported={plugin.get('supported')}"
                )
        lines.append(
            "status:          " + ("OK" if self.ok else f"{len(self.problems)} problem(s)")
        )
        for problem in self.problems:
            lines.append("---")
            lines.append(problem.rstrip())
        return "\n".join(lines)


def mg5_python(mg5_dir: Path) -> str:
    """The interpreter ``bin/mg5_aMC`` runs (its shebang, resolved on ``$PATH``)."""
    script = mg5_dir / "bin" / "mg5_aMC"
    first = script.read_text().splitlines()[0] if script.is_file() else ""
    words = first.removeprefix("#!").split()
    if words and Path(words[0]).name == "env":
        words = words[1:]
    if not words:
        return sys.executable
    found = shutil.which(words[0])
    return found or words[0]


def diagnose(
    mg5_dir: str | Path, *, python: str | None = None, timeout: float = 120
) -> DoctorReport:
    """Import the plugin as MadGraph would and collect every problem.

    Parameters
    ----------
    mg5_dir : str or Path
        MadGraph's directory.
    python : str, optional
        Interpreter to probe (default: the one ``bin/mg5_aMC`` names).
    timeout : float
        Seconds the probe may take.

    Raises
    ------
    MissingFileError
        If ``mg5_dir`` is not a MadGraph directory.
    """
    root = Path(mg5_dir).resolve()
    version = ".".join(map(str, mg5_version(root)))
    interpreter = python or mg5_python(root)
    report = DoctorReport(root, version, interpreter)
    if not (root / "PLUGIN" / PLUGIN_NAME / "__init__.py").is_file() and not any(
        (Path(p) / PYTHONPATH_FOLDER / PLUGIN_NAME / "__init__.py").is_file()
        for p in os.environ.get("PYTHONPATH", "").split(":")
        if p
    ):
        report.problems.append(
            f"no plugin: {root / 'PLUGIN' / PLUGIN_NAME} is missing and no "
            f"{PYTHONPATH_FOLDER}/{PLUGIN_NAME} is on $PYTHONPATH; run "
            f"`madsbi mg5 install-plugin --mg5-dir {root}`"
        )
    try:
        done = subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [interpreter, "-c", _PROBE, str(root)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        report.problems.append(f"cannot run MadGraph's Python {interpreter!r}: {exc}")
        return report
    marker = "MADSBI-DOCTOR "
    payload = [ln for ln in done.stdout.splitlines() if ln.startswith(marker)]
    if not payload:
        report.problems.append(
            f"the probe failed in {interpreter} (exit {done.returncode}):\n{done.stderr}"
        )
        return report
    report.probe = json.loads(payload[-1][len(marker) :])
    if "madsbi_error" in report.probe:
        shim_errors = [
            p["madsbi_find_error"]
            for p in report.probe.get("plugins", [])
            if "madsbi_find_error" in p
        ]
        report.problems.append(
            f"madsbi is not importable by MadGraph's Python {interpreter}:\n"
            + "".join(f"{e}\n" for e in shim_errors)
            + report.probe["madsbi_error"]
            + _fix(root, interpreter, report.probe)
        )
    for plugin in report.probe.get("plugins", []):
        if "import_error" in plugin:
            report.problems.append(
                f"MadGraph would silently skip {plugin['path']}:\n{plugin['import_error']}"
            )
        elif "madsbi" not in plugin.get("new_reweight", []):
            report.problems.append(f"{plugin['path']} does not declare new_reweight['madsbi']")
        elif plugin.get("supported") is False:
            report.problems.append(
                f"MadGraph {version} rejects the plugin's version range {plugin['versions']}"
            )
    report.problems.extend(report.probe.get("errors", []))
    return report


def _fix(root: Path, interpreter: str, probe: dict[str, Any]) -> str:
    """The exact commands that make madsbi importable for MadGraph."""
    plugins = [Path(p["path"]) for p in probe.get("plugins", [])]
    record = read_environment_record(plugins[0]) if plugins else None
    env_python = str(record["python"]) if record and record.get("python") else sys.executable
    mg5_script = root / "bin" / "mg5_aMC"
    lines = [
        "",
        "How to fix (either):",
        "  1. start MadGraph with the Python of the environment that has madsbi:",
        f"       {env_python} {mg5_script}",
        "  2. or install madsbi into MadGraph's Python:",
        f"       {interpreter} -m pip install madsbi",
    ]
    running = str(probe.get("python_version", "?"))
    if record is None:
        lines.append(
            f"  (or run `madsbi mg5 install-plugin --mg5-dir {root}` from madsbi's environment: "
            "the plugin then finds madsbi itself when MadGraph's Python has the same version)"
        )
    elif not running.startswith(f"{record.get('python_version')}."):
        lines.append(
            f"  (the plugin finds madsbi by itself only when MadGraph's Python has madsbi's "
            f"version {record.get('python_version')}; MadGraph runs {running})"
        )
    return "\n".join(lines) + "\n"


def require_ok(report: DoctorReport) -> None:
    """Raise if the report has problems.

    Raises
    ------
    BackendError
        With the formatted report.
    """
    if not report.ok:
        raise BackendError(report.format())
