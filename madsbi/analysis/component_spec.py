"""The ``"components"`` entry of ``analysis.json``: background processes of a trained analysis.

An analysis with backgrounds (issue 26; built by ``madsbi analysis-backgrounds``,
:mod:`madsbi.analysis.backgrounds`) fits the factorised mixture of paper App. D (eq. 59 for
any number of processes, θ-dependent ones included; :mod:`madsbi.analysis.components`). Its
manifest holds, beside the signal-only fields::

    "components": {
      "kind": "factorised",
      "classifier": "components/classifier",        # ProcessClassifier over [signal, *backgrounds]
      "signal": {"name": "signal", "sigma_train_pb": 0.0163, ...},
      "backgrounds": [
        {"name": "zz_4l", "events": "components/zz_4l/events.npz",
         "ratio": "components/zz_4l/ratio",        # null for a θ-independent process
         "sigma_train_pb": 4.2e-4, "scale": 1.0, ...},
        {"name": "zjets", "events": "components/zjets/events.npz", "ratio": null,
         "sigma_train_pb": 2.0e-4, "scale": 1.0, ...}
      ],
      "simulation": {"card": "atlas_like_escaping", ...},
      "pooled": {"ratio": "components/pooled",     # optional (analysis-backgrounds --pooled)
                 "scales": {"zz_4l": 1.0, "zjets": 1.0}, ...}
    }

``sigma_train_pb`` is each class's total training weight (σ_c(θ0) of the selection, pb): the
priors the classifier's shares D_c(x) were trained with. ``scale`` multiplies σ_c at the fit
(a K-factor; 0 switches the process off). ``events`` is an ``.npz`` file of the process's
selected events at θ0: ``obs_<name>`` per observable, ``coefficients`` (N, K) = c_e/c_e0 in
the analysis's basis and ``weights`` v_e (pb, MIS-pooled over its stores), from which the fit
takes its rates ρ_c(θ) and yields ν_c0 in the data's selection. Other keys are records (the
stores, their digests, the training) and are not read. Every path must lie inside the
analysis directory (checked by :mod:`madsbi.analysis.schema`).

``pooled`` (optional) is the pooled alternative to the factorised mixture
(:mod:`madsbi.analysis.pooled`): one derivative-learning ensemble trained on the events of
every process, each with its own process's exact targets and cross-section weight, which
learns the mixture's per-event ratio directly (``madsbi fit --method pooled``). ``scales``
are the backgrounds' ``scale`` factors its training weights had (the shares it learned).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from madsbi.errors import InputError

KIND = "factorised"
#: The signal's class name in the classifier (the likelihood component of the signal).
SIGNAL = "signal"


@dataclass(frozen=True)
class BackgroundEntry:
    """One background process of the manifest's ``components.backgrounds``."""

    name: str
    events: str
    ratio: str | None
    sigma_train_pb: float
    scale: float = 1.0


@dataclass(frozen=True)
class PooledEntry:
    """The manifest's ``components.pooled``: the pooled ratio and the scales it was trained at."""

    ratio: str
    scales: dict[str, float]


@dataclass(frozen=True)
class ComponentsSpec:
    """The parsed ``"components"`` entry (module docstring)."""

    classifier: str
    signal_sigma_train_pb: float
    backgrounds: tuple[BackgroundEntry, ...]
    pooled: PooledEntry | None = None

    @property
    def names(self) -> list[str]:
        """The classifier's classes: the signal, then the backgrounds in order."""
        return [SIGNAL, *(b.name for b in self.backgrounds)]

    def paths(self) -> list[tuple[str, str]]:
        """(manifest field, relative path) of every file the entry names."""
        out = [("components.classifier", self.classifier)]
        for b in self.backgrounds:
            out.append((f"components.backgrounds.{b.name}.events", b.events))
            if b.ratio is not None:
                out.append((f"components.backgrounds.{b.name}.ratio", b.ratio))
        if self.pooled is not None:
            out.append(("components.pooled.ratio", self.pooled.ratio))
        return out


def _number(value: Any, field: str, where: str, *, positive: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        expected = "a finite number > 0" if positive else "a finite number >= 0"
        raise InputError(f"{where}: {field}: expected {expected}, got {value!r}")
    return float(value)


def _text(value: Any, field: str, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: {field}: expected a non-empty string, got {value!r}")
    return value


def parse_components(value: Any, where: str) -> ComponentsSpec | None:
    """The ``"components"`` entry of a manifest (None when absent).

    Raises
    ------
    InputError
        Not of the form of the module docstring (naming the field): another kind, a missing
        or non-string path, a background named like the signal or twice, a negative scale, a
        class total that is not positive, a ``pooled`` entry without a ratio or a scale per
        background.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: components: expected a JSON object, got {value!r}")
    if value.get("kind") != KIND:
        raise InputError(f"{where}: components.kind: expected {KIND!r}, got {value.get('kind')!r}")
    classifier = _text(value.get("classifier"), "components.classifier", where)
    signal = value.get("signal")
    if not isinstance(signal, Mapping):
        raise InputError(f"{where}: components.signal: expected a JSON object, got {signal!r}")
    sigma_s = _number(
        signal.get("sigma_train_pb"), "components.signal.sigma_train_pb", where, positive=True
    )
    entries = value.get("backgrounds")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{where}: components.backgrounds: expected a non-empty list")
    backgrounds: list[BackgroundEntry] = []
    for i, entry in enumerate(entries):
        field = f"components.backgrounds[{i}]"
        if not isinstance(entry, Mapping):
            raise InputError(f"{where}: {field}: expected a JSON object, got {entry!r}")
        name = _text(entry.get("name"), f"{field}.name", where)
        if name == SIGNAL or name in {b.name for b in backgrounds}:
            raise InputError(f"{where}: {field}.name: {name!r} is the signal's or repeated")
        ratio = entry.get("ratio")
        backgrounds.append(
            BackgroundEntry(
                name=name,
                events=_text(entry.get("events"), f"{field}.events", where),
                ratio=None if ratio is None else _text(ratio, f"{field}.ratio", where),
                sigma_train_pb=_number(
                    entry.get("sigma_train_pb"), f"{field}.sigma_train_pb", where, positive=True
                ),
                scale=_number(entry.get("scale", 1.0), f"{field}.scale", where, positive=False),
            )
        )
    pooled = _pooled(value.get("pooled"), [b.name for b in backgrounds], where)
    return ComponentsSpec(classifier, sigma_s, tuple(backgrounds), pooled)


def _pooled(value: Any, names: list[str], where: str) -> PooledEntry | None:
    """``components.pooled`` (None when absent): its ratio and a scale per background."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: components.pooled: expected a JSON object, got {value!r}")
    ratio = _text(value.get("ratio"), "components.pooled.ratio", where)
    scales = value.get("scales")
    if not isinstance(scales, Mapping) or sorted(scales) != sorted(names):
        raise InputError(
            f"{where}: components.pooled.scales: expected a scale for each of the backgrounds "
            f"{names}, got {scales!r}"
        )
    return PooledEntry(
        ratio,
        {
            n: _number(scales[n], f"components.pooled.scales.{n}", where, positive=False)
            for n in names
        },
    )
