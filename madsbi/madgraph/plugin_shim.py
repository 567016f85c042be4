"""The thin plugin package that ``madsbi mg5 install-plugin`` puts into MadGraph.

MadGraph imports every plugin silently when it starts (import errors are hidden), so the shim
imports nothing but the standard library: it declares the version fields MadGraph requires and
maps ``reweight=madsbi`` to a factory that imports the installed ``madsbi`` package only when
the reweighting actually runs. ``install-plugin`` records beside the shim where madsbi is
installed (:data:`ENVIRONMENT_FILE`: the Python version and executable, the site directories);
when MadGraph's Python cannot import madsbi, the shim adds those directories to ``sys.path``
if the Python major.minor versions agree (compiled extensions are per version), and otherwise
refuses with the command that starts MadGraph with the right Python.
"""

from __future__ import annotations

#: Oldest MadGraph the plugin accepts (``new_reweight`` plugins exist since 3.5).
MINIMAL_VERSION = (3, 5, 0)
#: Newest MadGraph the plugin accepts.
MAXIMAL_VERSION = (3, 1000, 1000)
#: Last MadGraph version the plugin was validated with.
LATEST_VALIDATED = (3, 5, 7)
#: First line of the shim; ``install-plugin`` refuses to overwrite other plugins without it.
MARKER = "# madsbi MadGraph plugin shim"

#: File beside the shim in which ``install-plugin`` records madsbi's environment.
ENVIRONMENT_FILE = "environment.json"

SHIM_TEMPLATE = '''{marker} (written by `madsbi mg5 install-plugin`, madsbi {version}).
"""madsbi: `reweight=madsbi` writes an SBI event store next to the run's events.

Thin shim: imports nothing heavy; the work is done by the installed `madsbi` package. If the
Python running MadGraph cannot import it (madsbi lives in a virtual environment, MadGraph was
started as `bin/mg5_aMC` with the system Python), the environment that `install-plugin`
recorded in {environment} is added to `sys.path`, provided the Python versions agree;
otherwise the error says how to start MadGraph (`madsbi mg5 doctor` checks all of this).
"""

minimal_mg5amcnlo_version = {minimal!r}
maximal_mg5amcnlo_version = {maximal!r}
latest_validated_version = {validated!r}

_ENVIRONMENT_FILE = {environment!r}


def _find_madsbi():
    """Make `import madsbi` work; returns where madsbi came from (for the doctor)."""
    try:
        import madsbi  # noqa: F401

        return "importable"
    except ImportError as error:
        first = error
    import json
    import os
    import site
    import sys

    record = os.path.join(os.path.dirname(os.path.abspath(__file__)), _ENVIRONMENT_FILE)
    try:
        with open(record, encoding="utf-8") as stream:
            env = json.load(stream)
    except (OSError, ValueError):
        raise ImportError(
            "reweight=madsbi: the Python running MadGraph (%s) cannot import madsbi (%s) and "
            "%s, where install-plugin records madsbi's environment, is missing or unreadable; "
            "run `madsbi mg5 doctor --mg5-dir <MG5>`" % (sys.executable, first, record)
        ) from first
    running = "%d.%d" % sys.version_info[:2]
    if env.get("python_version") != running:
        raise ImportError(
            "reweight=madsbi: madsbi is installed for Python %s (%s), but MadGraph runs "
            "Python %s (%s), which cannot load it. Start MadGraph with the environment's "
            "Python: %s <MG5>/bin/mg5_aMC, or install madsbi into MadGraph's Python: "
            "%s -m pip install madsbi"
            % (
                env.get("python_version"),
                env.get("python"),
                running,
                sys.executable,
                env.get("python"),
                sys.executable,
            )
        ) from first
    for directory in env.get("site_dirs", []):
        if os.path.isdir(directory):
            site.addsitedir(directory)
    for directory in env.get("paths", []):
        if os.path.isdir(directory) and directory not in sys.path:
            sys.path.append(directory)
    try:
        import madsbi  # noqa: F401, F811
    except ImportError as error:
        raise ImportError(
            "reweight=madsbi: %s cannot import madsbi even with the environment recorded in "
            "%s (%s); run `madsbi mg5 install-plugin` again from the environment that has "
            "madsbi, or `madsbi mg5 doctor --mg5-dir <MG5>`" % (sys.executable, record, error)
        ) from error
    return "added from " + record


def _madsbi_reweight(*args, **kwargs):
    """Create madsbi's ReweightInterface subclass (imports madsbi only now)."""
    _find_madsbi()
    from madsbi.madgraph.interface import create

    return create(*args, **kwargs)


new_reweight = {{"madsbi": _madsbi_reweight}}
'''


def shim_source(version: str) -> str:
    """Text of the shim's ``__init__.py`` for madsbi ``version``."""
    return SHIM_TEMPLATE.format(
        marker=MARKER,
        version=version,
        minimal=MINIMAL_VERSION,
        maximal=MAXIMAL_VERSION,
        validated=LATEST_VALIDATED,
        environment=ENVIRONMENT_FILE,
    )
