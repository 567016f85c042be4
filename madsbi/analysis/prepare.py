"""Data ready to fit: read, check, split, select and weight a store for a trained analysis.

Parton-level analyses read ``/parton`` (:func:`madsbi.analysis.data.read_store`), reco-level
ones the passed ``/reco`` entries (:func:`madsbi.analysis.reco.read_reco_store`). A store the
analysis was trained on is used through its test split (refused when nothing was held out);
a fractionally smeared store is refused as counted data (its copies are not independent
events). ``asimov`` weights are the MC weights (smearing weights included) scaled to
L σ · rate_factor, σ the store's σ(θ_gen) (σ_fid for reco events). The selected events must
lie in the analysis's training support (:func:`madsbi.analysis.support.check_support`).
Data of one process of an analysis of several channels get that channel's selection
(:func:`madsbi.analysis.data.channel_selections`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.analysis.data import (
    Selection,
    StoreEvents,
    channel_selections,
    check_compatible,
    selection_mask,
)
from madsbi.analysis.support import analysis_support, check_support
from madsbi.errors import InputError, StoreFormatError, StoreMismatchError
from madsbi.inference.rate import DATA_MODES, FB_PER_PB, data_weights, expected_events

if TYPE_CHECKING:
    from madsbi.analysis.load import Analysis


@dataclass(frozen=True)
class FitData:
    """Data ready to fit: inputs, weights, exact coefficients (if any), bookkeeping."""

    features: FloatArray
    weights: FloatArray
    coefficients: FloatArray | None
    theta0: FloatArray
    selections: tuple[Selection, ...]
    luminosity_fb: float
    rate_factor: float
    mode: str
    description: dict[str, Any]

    @property
    def n_observed(self) -> float:
        """N = Σ w."""
        return float(self.weights.sum())


def prepare_data(
    analysis: Analysis,
    data: str | Path | StoreEvents,
    *,
    data_mode: str = "asimov",
    luminosity: float | None = None,
    rate_factor: float | None = None,
    select: Sequence[Selection | str] = (),
) -> FitData:
    """Read, check, split and select a data store, and weight its events for ``data_mode``.

    Raises
    ------
    InputError
        Unknown mode, non-positive luminosity or rate factor, nothing selected.
    StoreFormatError, StoreMismatchError, WeightError
        From the store checks of :mod:`madsbi.analysis.data`.
    TrainingSupportError
        A categorical feature with values the training never saw.

    Warns
    -----
    TrainingSupportWarning
        Values of a continuous feature far outside the training range (with their count).
    """
    if data_mode not in DATA_MODES:
        raise InputError(f"data_mode: expected one of {DATA_MODES}, got {data_mode!r}")
    lumi = float(analysis.defaults["luminosity_fb"] if luminosity is None else luminosity)
    factor = float(analysis.defaults["rate_factor"] if rate_factor is None else rate_factor)
    if not (lumi > 0 and factor > 0):
        raise InputError(f"luminosity and rate_factor must be > 0, got {lumi}, {factor}")
    from madsbi.analysis.reco import read_level

    allowed = analysis.manifest.get("observables") if analysis.level == "reco" else None
    selections = tuple(
        s if isinstance(s, Selection) else Selection.parse(s, allowed) for s in select
    )
    names = list(dict.fromkeys([*analysis.features, *(s.name for s in selections)]))
    events = data if isinstance(data, StoreEvents) else read_level(analysis.level, data, names)
    if events.level != analysis.level:
        raise StoreMismatchError(
            f"{events.path}: {events.level}-level events, the analysis is {analysis.level}-level",
            "/reco" if analysis.level == "reco" else "/parton",
        )
    check_compatible(events, analysis.parameters, analysis.processes)
    # Data of one channel's process (W⁻Z) are fitted in its region, against its rate.
    channel = channel_selections(analysis.defaults, events.process, selections, allowed)
    selections = (*selections, *channel)
    if events.smeared and data_mode == "counts":
        raise InputError(
            f"{events.path}: a fractionally smeared store (weighted copies of each parent "
            "event) cannot be counted data: its copies are not independent events; fit an "
            "unsmeared store (madsbi simulate reco --no-smear), or use --data-mode asimov"
        )
    index = np.arange(events.n_events)
    used = "all events"
    for i, record in enumerate(analysis.manifest["split"]["stores"]):
        if record["sha256"] == events.sha256:
            index = analysis.test_indices[i]
            used = f"the test split ({index.shape[0]} events) of training store {i}"
            if index.shape[0] == 0:
                raise InputError(
                    f"{events.path}: the analysis was trained on this store and held none of "
                    "its events out; fit a store it was not trained on"
                )
    if data_mode == "asimov" and not np.isfinite(events.sigma_gen):
        raise StoreFormatError(f"{events.path}: Asimov data need /meta/basis_cross_sections")
    # Reco events: sigma_gen is σ_fid and the weights include the smearing weights.
    expected = (
        float(expected_events(lumi * FB_PER_PB, events.sigma_gen, factor))
        if data_mode == "asimov"
        else 0.0
    )
    w = data_weights(data_mode, events.weights[index], expected)
    observables = {k: v[index] for k, v in events.observables.items()}
    keep = selection_mask(observables, selections, index.shape[0])
    if not keep.any():
        raise InputError(f"{events.path}: no event passes the selection")
    c = None if events.coefficients is None else events.coefficients[index][keep]
    features = events.features(analysis.features, index)[keep]
    support = analysis_support(analysis)
    far = check_support(support, features, analysis.features, str(events.path))
    return FitData(
        features=features,
        weights=w[keep],
        coefficients=c,
        theta0=events.theta0,
        selections=selections,
        luminosity_fb=lumi,
        rate_factor=factor,
        mode=data_mode,
        description={
            "store": str(events.path),
            "sha256": events.sha256,
            "process": events.process,
            "events_used": used,
            "n_events": int(keep.sum()),
            "sum_weights": float(w[keep].sum()),
            "mode": data_mode,
            "level": events.level,
            "selections": [s.text() for s in selections],
            "channel_selections": [s.text() for s in channel],
            "training_support": support.source,
            "outside_training_range": far,
        },
    )
