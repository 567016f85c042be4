"""fit_modifiers (madsbi.analysis.shape_nuisances): a shape nuisance declared without components
acts on every component alike in an analysis with backgrounds, on the signal otherwise."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import madsbi.analysis.shape_nuisances as shape_nuisances
from madsbi.analysis.nuisances import parse_declared
from madsbi.analysis.shape_nuisances import fit_modifiers
from madsbi.inference.modifiers import LearnedShape, Normalisation
from madsbi.inference.modifiers.shape import ALL_COMPONENTS


def _stand_ins(monkeypatch: pytest.MonkeyPatch, components: tuple[str, ...]) -> tuple[Any, Any]:
    """An analysis of two features with a linear learned ratio, and data of 20 events."""
    rng = np.random.default_rng(3)
    sample = rng.normal(size=(50, 2))
    analysis = SimpleNamespace(
        path=Path("."),
        features=["a", "b"],
        manifest={},
        rate_event_features=lambda selections: (sample, np.ones(50)),
    )
    ratio = SimpleNamespace(
        features=["a", "b"],
        log_ratios=lambda x: np.stack([0.1 * x[:, 0], -0.1 * x[:, 0]], axis=1),
    )
    monkeypatch.setattr(shape_nuisances, "load_ratio", lambda directory, spec: ratio)
    monkeypatch.setattr(shape_nuisances, "component_names", lambda a: components)
    data = SimpleNamespace(features=rng.normal(size=(20, 2)), selections=())
    return analysis, data


def _specs(components: list[str] | None = None) -> Any:
    shape: dict[str, Any] = {
        "name": "jet_scale", "kind": "shape", "size": 0.02, "path": "nuisances/jet_scale",
        "rate_up": 1.02, "rate_down": 0.97,
    }  # fmt: skip
    if components is not None:
        shape["components"] = components
    return parse_declared([shape, {"name": "lumi", "kind": "normalisation", "size": 0.02}])


def test_a_shape_without_components_acts_on_all_of_a_mixture(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    analysis, data = _stand_ins(monkeypatch, ("signal", "zz_4l"))
    shape, lumi = fit_modifiers(_specs(), analysis, data)
    assert isinstance(shape, LearnedShape)
    assert isinstance(lumi, Normalisation)
    assert shape.component == ALL_COMPONENTS
    assert shape.acts_alike
    assert shape.has_event_factors("zz_4l")
    assert shape.has_event_factors("signal")
    assert shape.rate_factor("zz_4l", 1.0) == pytest.approx(1.02)
    # named: the signal only, as before
    (named, _) = fit_modifiers(_specs(["signal"]), analysis, data)
    assert named.component == "signal"
    assert not named.acts_on("zz_4l")


def test_a_signal_only_analysis_keeps_the_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    analysis, data = _stand_ins(monkeypatch, ("signal",))
    shape, _ = fit_modifiers(_specs(), analysis, data)
    assert shape.component == "signal"
    assert not shape.acts_alike
