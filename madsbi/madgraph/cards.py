"""Parsing of MadGraph cards: re-exported from :mod:`madsbi.cards`, where it lives.

The parsing sits below :mod:`madsbi.events` and :mod:`madsbi.madgraph`, which both read cards;
this module keeps the old import path working.
"""

from __future__ import annotations

from madsbi.cards import ParamCard, ParamEntry, parse_run_card

__all__ = ["ParamCard", "ParamEntry", "parse_run_card"]
