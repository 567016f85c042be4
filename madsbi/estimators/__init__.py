"""Likelihood-ratio estimators, their losses and the trainer (paper Sec. 2, App. A, C).

- :class:`DerivativeEstimator`: R_i(x), R_ij(x) learned at θ0 (Sec. 2.2).
- :class:`MorphingAwareEstimator`: one classifier per basis point (eq. 25).
- :class:`SingleNetworkMorphingEstimator`: MadMiner's jointly trained morphing baseline.
- :class:`ProcessClassifier`: the process shares D_c(x) of a mixture at θ0 (App. D).
- :mod:`madsbi.estimators.losses`: CARL, ALICE, ratio/derivative regression, eq. 55.
- :func:`fit` with :class:`TrainingConfig`: seeds, early stopping, resumable checkpoints.
"""

from madsbi.estimators.classifier import ProcessClassifier
from madsbi.estimators.data import HypothesisSample
from madsbi.estimators.derivative import DerivativeEstimator
from madsbi.estimators.morphing import MorphingAwareEstimator
from madsbi.estimators.single_network import SingleNetworkMorphingEstimator
from madsbi.estimators.trainer import TrainingConfig, TrainingHistory, fit

__all__ = [
    "DerivativeEstimator",
    "HypothesisSample",
    "MorphingAwareEstimator",
    "ProcessClassifier",
    "SingleNetworkMorphingEstimator",
    "TrainingConfig",
    "TrainingHistory",
    "fit",
]
