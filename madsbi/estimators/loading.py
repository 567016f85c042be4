"""Loading any saved estimator by the kind its directory records (``estimator.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from madsbi.errors import StoreFormatError
from madsbi.estimators.classifier import ProcessClassifier
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.io import DESCRIPTION_NAME, estimator_kind
from madsbi.estimators.morphing import MorphingAwareEstimator
from madsbi.estimators.single_network import SingleNetworkMorphingEstimator

#: The estimator class of every recorded kind.
CLASSES: dict[str, Any] = {
    "derivative": DerivativeEstimator,
    MorphingAwareEstimator.kind: MorphingAwareEstimator,
    SingleNetworkMorphingEstimator.kind: SingleNetworkMorphingEstimator,
    ProcessClassifier.kind: ProcessClassifier,
}


def load_any_estimator(path: Path) -> Any:
    """Load an estimator directory with the class its ``estimator.json`` names.

    Raises
    ------
    StoreFormatError
        For an unknown kind (the known ones are listed).
    """
    kind = estimator_kind(path)
    if kind not in CLASSES:
        raise StoreFormatError(
            f"{Path(path) / DESCRIPTION_NAME}: unknown estimator kind {kind!r}; known: "
            f"{sorted(CLASSES)}"
        )
    return CLASSES[kind].load(Path(path))
