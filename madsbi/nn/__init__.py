"""Networks: MLP, repulsive ensembles, Bayesian layers (shared with the BINN).

Every network here maps inputs (B, d) to predictions with an explicit member axis,
(M, B, D): M ensemble members or M weight draws. A plain MLP has M = 1. Training adds the
network's own regulariser (repulsion or KL) to the data loss; see
:func:`madsbi.estimators.trainer.fit`.
"""

from madsbi.nn.bayesian import BayesianLinear, BayesianMLP, kl_divergence, resample_weights
from madsbi.nn.build import NetworkConfig, build_network
from madsbi.nn.ensemble import EnsembleMLP, repulsion
from madsbi.nn.mlp import MLP
from madsbi.nn.standardise import Standardiser

__all__ = [
    "MLP",
    "BayesianLinear",
    "BayesianMLP",
    "EnsembleMLP",
    "NetworkConfig",
    "Standardiser",
    "build_network",
    "kl_divergence",
    "repulsion",
    "resample_weights",
]
