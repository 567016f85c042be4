"""Pieces every study shares: training bookkeeping, loss-curve figures, the JSON summary."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from madsbi._checkpoint import temporary_name
from madsbi._validate import FloatArray
from madsbi.estimators.trainer import TrainingHistory


def train_seconds(histories: dict[str, TrainingHistory]) -> float:
    """Training time summed over the networks of one method."""
    return float(sum(h.seconds for h in histories.values()))


def n_network_parameters(networks: dict[str, Any]) -> int:
    """Trainable weights of a method's networks (all ensemble members)."""
    return int(sum(p.numel() for net in networks.values() for p in net.core.parameters()))


def nonzero_targets(coefficients: FloatArray) -> list[int]:
    """Coefficients k ≥ 1 that are not identically zero in the sample.

    These are the derivative targets worth a network (the toy's linear term vanishes at θ0 = 0).
    """
    return [k for k in range(1, coefficients.shape[1]) if np.any(coefficients[:, k] != 0)]


def loss_curve_figures(
    histories: dict[str, dict[str, TrainingHistory]], directory: Path
) -> list[Path]:
    """One loss-curve PNG per method (``loss_<method>.png``); returns the written paths."""
    from madsbi import plotting

    written = []
    for name, per_network in histories.items():
        safe = name.replace(" ", "_").replace("(", "").replace(")", "")
        written.append(
            plotting.plot_loss_curves(
                {k: (h.train_loss, h.validation_loss) for k, h in per_network.items()},
                directory / f"loss_{safe}.png",
                title=name,
            )
        )
    return written


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` atomically (temporary file, then rename); NumPy values become JSON."""
    tmp = temporary_name(path)
    try:
        tmp.write_text(json.dumps(data, indent=1, default=_json_default))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    msg = f"not JSON serialisable: {type(value).__name__}"
    raise TypeError(msg)
