"""Trained analyses: save (``madsbi run``), load (:func:`~madsbi.analysis.load_analysis`), fit.

A trained analysis is one self-describing directory (see :mod:`madsbi.analysis.save`);
:func:`load_analysis` takes its path or the name of a shipped analysis and returns an
:class:`Analysis` with ``log_ratio``, ``mean_log_ratio``, ``scan`` and ``fit``.
"""

from __future__ import annotations

from madsbi.analysis.load import Analysis, load_analysis
from madsbi.analysis.names import analysis_path, shipped_analyses

__all__ = ["Analysis", "analysis_path", "load_analysis", "shipped_analyses"]
