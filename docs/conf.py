"""Sphinx configuration of the madsbi documentation.

Build (warnings and broken references are errors)::

    pip install '.[docs]'
    sphinx-build -W -n -b html docs docs/_build/html

Everything the pages load is served from the build itself: the theme's assets and MathJax
3 (from the ``sphinx-mathjax-offline`` package, copied into ``_static/mathjax``), so the
site works on a machine without internet.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

# Torch on one thread while autodoc imports the modules (the CI machine has 2 busy cores).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import madsbi

sys.path.insert(0, str(Path(__file__).parent / "_ext"))
import madsbi_api

project = "madsbi"
author = "madsbi developers"
copyright = "madsbi developers"
release = madsbi.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_click",
    "myst_nb",
    "sphinx_copybutton",
    "madsbi_api",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/.ipynb_checkpoints"]
templates_path = ["_templates"]

# -- MyST ------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- Tutorials (myst-nb) ---------------------------------------------------------------------
# The MyST notebooks of docs/tutorials are executed at build time through jupyter-cache: a
# page whose code is unchanged is not run again. The cache lives under docs/_build (not
# committed); .ci/run removes docs/_build, so CI executes every tutorial. A cell that raises
# fails the build.
nb_execution_mode = "cache"
nb_execution_cache_path = str(Path(__file__).parent / "_build" / ".jupyter_cache")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# -- Math, offline ---------------------------------------------------------------------------
# MathJax 3 from the sphinx-mathjax-offline wheel (its static/mathjax folder holds the
# components and the CHTML fonts); it is copied into _static/mathjax, and no page loads a
# script from another host.
_mathjax_spec = importlib.util.find_spec("sphinx-mathjax-offline")
if _mathjax_spec is None or _mathjax_spec.origin is None:
    msg = "the docs need the sphinx-mathjax-offline package: pip install '.[docs]'"
    raise RuntimeError(msg)
_mathjax_static = Path(_mathjax_spec.origin).parent / "static"
html_static_path = [str(_mathjax_static)]
mathjax_path = "mathjax/tex-chtml.js"

# -- API reference ---------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
# Each object is documented once, at its public name; module pages link there.
autosummary_context = {
    "api_public": madsbi_api.public_names(),
    "api_data": madsbi_api.module_data(),
    "api_aliases": madsbi_api.type_aliases(),
}
# Respect each package's __all__: the reference lists what the package exports.
autosummary_ignore_module_all = False
autodoc_default_options = {"member-order": "bysource"}
# NumPy-style docstrings carry the types (with shapes); signatures show names and defaults.
# Without internet there are no intersphinx inventories for numpy, torch or the standard
# library, so linked annotations in signatures could not resolve.
autodoc_typehints = "none"
autoclass_content = "class"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
# Structural checks of every docstring the reference renders (numpydoc's validation codes):
# no unknown or misordered parameters, section order and names, summary form, Returns and
# See Also well formed. Not checked (yet): that every parameter and return value is
# documented (PR01, RT01), extended summaries and examples (ES01, EX01), Yields (YD01).
numpydoc_validation_checks = {
    "GL03", "GL05", "GL06", "GL07", "GL09", "GL10",
    "SS01", "SS03", "SS04", "SS06",
    "PR02", "PR03", "PR05", "PR06", "PR09", "PR10",
    "RT02", "RT04", "RT05",
    "SA02", "SA03", "SA04",
}  # fmt: skip
# Module constants (UPPER_CASE, __version__) are described by ``#:`` comments, not docstrings;
# numpydoc would validate the docstring of their type (int, str, tuple) instead.
numpydoc_validation_exclude = {r"\.[A-Z][A-Z0-9_]*$", r"\.__version__$"}

# -- Nitpicky exceptions ---------------------------------------------------------------------
# Each entry names a docstring in a file that another session was editing when the docs
# were set up (issue 28); remove the entry once that docstring is fixed.
nitpick_ignore: list[tuple[str, str]] = [
    # madsbi/analysis/fit.py (module docstring) names the study module, which has no page.
    ("py:mod", "madsbi.studies.wz_reco_limits"),
    # madsbi/events/tempfiles.py (module docstring) names the private module madsbi._tempfiles,
    # which has no page (a private module is written as ``code``, not referenced).
    ("py:mod", "madsbi._tempfiles"),
]

# -- HTML ------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"madsbi {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": [],
    # The API has hundreds of pages: the sidebar shows the current branch only, which keeps
    # every page small.
    "collapse_navigation": True,
    "navigation_depth": 3,
}
html_show_sourcelink = False
html_context = {"default_mode": "light"}

# sphinx-copybutton: do not copy prompts or output.
copybutton_prompt_text = r"\$ |>>> |\.\.\. "
copybutton_prompt_is_regexp = True
