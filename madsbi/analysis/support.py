"""The training support of an analysis, and the check that data lie inside it.

A network extrapolates outside the region it was trained on, and it has never seen a value
of a categorical feature that its training lacked (a W⁺Z analysis knows a lepton-charge sum
of +1 only): such data are refused (:class:`madsbi.errors.TrainingSupportError`, naming the
feature and the values). A continuous feature beyond the training minimum or maximum by more
than :data:`FAR_FRACTION` of the training range gives a
:class:`madsbi.errors.TrainingSupportWarning` with the count of such events.

Which features are categorical is declared by the processes
(:attr:`~madsbi.processes.Process.parton_categorical`, and
:attr:`~madsbi.processes.RecoSelection.categorical` of a reco selection): those of every
registered process that describes one of the analysis's processes, and of the
process whose reco selection made its observables.

The support is recorded in ``analysis.json`` (``support``) when an analysis is saved: per
feature the minimum and maximum, and for the categorical ones the set of values, of the
training events (or, when the caller passes none, of the rate model's events). For an
analysis saved before the support was recorded, it is derived at load time from the rate
model's events (``rate_events.npz``, which hold every observable of those events: the test
split of the training stores, so their range is slightly narrower than the training one).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import StoreFormatError, TrainingSupportError, TrainingSupportWarning
from madsbi.processes import find_process, get_process, registered_processes

if TYPE_CHECKING:
    from madsbi.analysis.load import Analysis

#: A continuous value further than this fraction of the training range beyond it is "far".
FAR_FRACTION = 0.1
#: At most this many distinct values are kept for a categorical feature.
MAX_CATEGORIES = 64

TRAINING = "training events"
RATE_EVENTS = "rate-model events (rate_events.npz)"


@dataclass(frozen=True)
class FeatureSupport:
    """One feature's training support: min, max and (categorical) the values seen."""

    minimum: float
    maximum: float
    values: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry."""
        entry: dict[str, Any] = {"min": self.minimum, "max": self.maximum}
        if self.values is not None:
            entry["values"] = list(self.values)
        return entry


@dataclass(frozen=True)
class TrainingSupport:
    """Per feature the training support, and where it came from."""

    features: dict[str, FeatureSupport]
    source: str

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``support``."""
        return {
            "source": self.source,
            "far_fraction": FAR_FRACTION,
            "features": {k: v.to_dict() for k, v in self.features.items()},
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], where: str) -> TrainingSupport:
        """Read the manifest's ``support``.

        Raises
        ------
        StoreFormatError
            Naming ``where`` for an entry without ``min``/``max``.
        """
        features = {}
        try:
            for name, entry in document["features"].items():
                values = entry.get("values")
                features[str(name)] = FeatureSupport(
                    float(entry["min"]),
                    float(entry["max"]),
                    None if values is None else tuple(float(v) for v in values),
                )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreFormatError(f"{where}: support: malformed entry ({exc!r})") from exc
        return cls(features, str(document.get("source", TRAINING)))


def categorical_features(
    features: Sequence[str], processes: Iterable[str], selection: str | None = None
) -> list[str]:
    """The features that some process declares categorical.

    ``processes`` are MadGraph process texts (each looked up with
    :func:`madsbi.processes.find_process`), ``selection`` a registered process name.
    """
    found = [find_process(text) for text in processes if " ".join(text.split())]
    if selection is not None and selection in registered_processes():
        found.append(get_process(selection))
    declared = set().union(*(p.categorical for p in found if p is not None))
    return [f for f in features if f in declared]


def training_support(
    observables: Mapping[str, Any], features: Sequence[str], categorical: Sequence[str], source: str
) -> TrainingSupport:
    """The support of ``features`` over the events ``observables`` (name → (N,))."""
    out = {}
    for name in features:
        x = np.asarray(observables[name], dtype=np.float64)
        x = x[np.isfinite(x)]
        if x.size == 0:
            continue
        values = None
        if name in categorical:
            unique = np.unique(x)
            values = tuple(float(v) for v in unique[:MAX_CATEGORIES])
        out[name] = FeatureSupport(float(x.min()), float(x.max()), values)
    return TrainingSupport(out, source)


def analysis_support(analysis: Analysis) -> TrainingSupport:
    """The analysis's training support.

    Recorded in its manifest, or, for analyses saved before it was recorded, derived from its
    rate-model events.
    """
    manifest = analysis.manifest
    if "support" in manifest:
        return TrainingSupport.from_dict(manifest["support"], str(analysis.path))
    with np.load(analysis.files / manifest["rate_model"]["file"], allow_pickle=False) as z:
        observables = {
            k[4:]: np.asarray(z[k])
            for k in z.files
            if k.startswith("obs_") and k[4:] in analysis.features
        }
    selection = (manifest.get("simulation") or {}).get("selection")
    categorical = categorical_features(analysis.features, analysis.processes, selection)
    present = [f for f in analysis.features if f in observables]
    return training_support(observables, present, categorical, RATE_EVENTS)


def check_support(
    support: TrainingSupport, features: FloatArray, names: Sequence[str], where: str
) -> dict[str, int]:
    """Refuse unseen categorical values; count (and warn about) far continuous values.

    Parameters
    ----------
    support : TrainingSupport
    features : (N, d)
        The data's network inputs, in the order of ``names``.
    where : str
        The data (named in the messages).

    Returns
    -------
    dict
        Feature → number of events beyond the training range by more than
        :data:`FAR_FRACTION` of it (only features with such events).

    Raises
    ------
    TrainingSupportError
        A categorical feature with values the training never saw (naming both).
    """
    far: dict[str, int] = {}
    for j, name in enumerate(names):
        entry = support.features.get(name)
        if entry is None:
            continue
        x = features[:, j]
        if entry.values is not None:
            seen = np.asarray(entry.values)
            unseen = np.unique(x[~np.isin(x, seen)])
            if unseen.size:
                count = int(np.sum(~np.isin(x, seen)))
                values = [float(v) for v in unseen]
                raise TrainingSupportError(
                    f"{where}: the categorical feature {name!r} has values {values} "
                    f"({count} events) that the analysis never saw in training (it saw "
                    f"{list(entry.values)}; {support.source}); fit data of the process the "
                    "analysis was trained on, or select them (--select)",
                    name,
                    values,
                )
            continue
        margin = FAR_FRACTION * (entry.maximum - entry.minimum)
        n_far = int(np.sum((x < entry.minimum - margin) | (x > entry.maximum + margin)))
        if n_far:
            far[name] = n_far
    if far:
        listed = ", ".join(f"{k} ({v} events)" for k, v in far.items())
        warnings.warn(
            f"{where}: events beyond the training range by more than {FAR_FRACTION:.0%} of it "
            f"in {listed} ({support.source}); the networks extrapolate there",
            TrainingSupportWarning,
            stacklevel=3,
        )
    return far
