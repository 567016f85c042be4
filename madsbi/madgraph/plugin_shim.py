"""The thin plugin package that ``madsbi mg5 install-plugin`` puts into MadGraph.

MadGraph imports every plugin silently when it starts (import errors are hidden), so the shim
imports nothing but the standard library: it declares the version fields MadGraph requires and
maps ``reweight=madsbi`` to a factory that imports the installed ``madsbi`` package only when
the reweighting actually runs.
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

SHIM_TEMPLATE = '''{marker} (written by `madsbi mg5 install-plugin`, madsbi {version}).
"""madsbi: `reweight=madsbi` writes an SBI event store next to the run's events.

Thin shim: imports nothing heavy; the work is done by the installed `madsbi` package,
which must be importable by the Python that runs MadGraph (`madsbi mg5 doctor` checks).
"""

minimal_mg5amcnlo_version = {minimal!r}
maximal_mg5amcnlo_version = {maximal!r}
latest_validated_version = {validated!r}


def _madsbi_reweight(*args, **kwargs):
    """Create madsbi's ReweightInterface subclass (imports madsbi only now)."""
    try:
        from madsbi.madgraph.interface import create
    except ImportError as error:
        raise ImportError(
            "reweight=madsbi: the Python running MadGraph cannot import madsbi (%s); "
            "install madsbi into it or run `madsbi mg5 doctor --mg5-dir <MG5>`" % (error,)
        ) from error
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
    )
