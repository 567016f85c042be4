"""Figures of a fit with background components (madsbi.plotting.components)."""

from __future__ import annotations

from pathlib import Path

import pytest

from madsbi.errors import InputError
from madsbi.plotting import _mpl
from madsbi.plotting.components import component_figures, plot_reliability, plot_stack

pytest.importorskip("matplotlib")
plt = _mpl.pyplot()

STACK = {
    "edges": [100.0, 200.0, 400.0, 1000.0],
    "sm": {"signal": [100.0, 30.0, 2.0], "zz_4l": [5.0, 1.0, 0.0]},
    "best_fit": {"signal": [110.0, 40.0, 4.0], "zz_4l": [6.0, 1.2, 0.0]},
    "data": [118.0, 39.0, 3.0],
    "data_error": [10.9, 6.2, 1.7],
}
CURVE = {
    "processes": {
        "signal": {"predicted": [0.5, 0.95], "observed": [0.6, 0.97], "error": [0.1, 0.01]},
        "zz_4l": {"predicted": [0.05, 0.5], "observed": [0.03, 0.4], "error": [0.01, 0.1]},
    },
    "held_out": True,
}


def _png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5_000
    assert plt.get_fignums() == []


def test_stack_and_reliability_write_pngs(tmp_path: Path) -> None:
    _png(plot_stack(STACK, tmp_path / "stack.png", title="mlp"))
    _png(plot_reliability(CURVE, tmp_path / "rel.png"))


def test_component_figures_from_a_fit_document(tmp_path: Path) -> None:
    document = {"components": {"mlp": {"stack": STACK, "reliability": CURVE}, "lgatr": {}}}
    written = component_figures(document, tmp_path)
    assert [p.name for p in written] == ["stack_mlp.png", "reliability.png"]
    assert component_figures({"methods": {}}, tmp_path) == []  # a signal-only fit: none


def test_bad_entries_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="stack: missing 'best_fit'"):
        plot_stack({k: v for k, v in STACK.items() if k != "best_fit"}, tmp_path / "s.png")
    with pytest.raises(InputError, match="processes"):
        plot_reliability({}, tmp_path / "r.png")
    bad = {"processes": {"s": {"predicted": [0.1, 0.2], "observed": [0.1], "error": [0.1]}}}
    with pytest.raises(InputError, match=r"s\.observed"):
        plot_reliability(bad, tmp_path / "r.png")
