"""A shape uncertainty whose per-event factors come from a learned ratio (detector variations).

:class:`LearnedShape` is an :class:`~madsbi.inference.modifiers.shape.EventShape` (the
per-event interpolation, the normalisation over a nominal sample, the acceptance factors η(±1),
the vectorised terms of the profile) built by evaluating a learned ratio x → (log r(x|+1),
log r(x|−1)) on the data events and on a nominal sample of the component — the trained
paired classifiers of :mod:`madsbi.estimators.nuisance_ratio`. It takes the ratio as a plain
callable, so this module imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError
from madsbi.inference.modifiers.shape import EventShape

LOG_FACTOR_LIMIT = 20.0
"""Largest |log r(x|±1)| accepted: a ±1σ variation that changes an event's density by more
than e^20 is a network evaluated where it never learned, not physics."""

LogRatios = Callable[[FloatArray], FloatArray]
"""Features (N, d) → (N, 2): log r(x|+1), log r(x|−1)."""


def _evaluate(log_ratios: LogRatios, x: Any, name: str, label: str) -> FloatArray:
    inputs = as_float_array(x, f"{name}: {label}")
    if inputs.ndim != 2:
        raise InputError(f"{name}: {label} must be (N, d) features, got shape {inputs.shape}")
    out = np.asarray(log_ratios(inputs), dtype=np.float64)
    if out.shape != (inputs.shape[0], 2) or not np.isfinite(out).all():
        raise InputError(
            f"{name}: the learned ratio must give finite (N, 2) log-factors for {label}, got "
            f"shape {out.shape}"
        )
    wild = np.flatnonzero(np.abs(out).max(axis=1) > LOG_FACTOR_LIMIT)
    if wild.size:
        rows = ", ".join(str(i) for i in wild[:5]) + (", …" if wild.size > 5 else "")
        raise InputError(
            f"{name}: the learned ±1σ factors are beyond e^±{LOG_FACTOR_LIMIT:g} on "
            f"{wild.size} of {out.shape[0]} {label} events (rows {rows}; |log r| up to "
            f"{np.abs(out).max():.3g}): these events lie outside the ratio's training support "
            "(a feature value it never saw?); retrain it on events like them or leave the "
            "nuisance out"
        )
    return out


@dataclass(frozen=True, eq=False)
class LearnedShape(EventShape):
    """An :class:`EventShape` whose log-factors a learned ratio gave (:meth:`evaluate`)."""

    @classmethod
    def evaluate(
        cls,
        name: str,
        component: str,
        log_ratios: LogRatios,
        data: Any,
        *,
        rate_up: float,
        rate_down: float,
        sample: Any | None = None,
        sample_weights: Any | None = None,
    ) -> LearnedShape:
        """Evaluate ``log_ratios`` on the data features (N, d) and a nominal sample (N_s, d).

        The sample (the component's events at the reference point, e.g. an analysis's rate
        events, with their weights) normalises the factors at every α (EventShape).
        """
        on_data = _evaluate(log_ratios, data, name, "data")
        if sample is None:
            return cls(name, component, on_data[:, 0], on_data[:, 1], rate_up, rate_down)
        on_sample = _evaluate(log_ratios, sample, name, "sample")
        return cls(
            name,
            component,
            on_data[:, 0],
            on_data[:, 1],
            float(rate_up),
            float(rate_down),
            on_sample[:, 0],
            on_sample[:, 1],
            sample_weights,
        )
