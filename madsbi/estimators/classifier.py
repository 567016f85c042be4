"""The process classifier at θ0: each event's process shares D_c(x) (paper App. D, eq. 59).

A C-class network trained with the weighted cross-entropy
(:func:`~madsbi.estimators.losses.multiclass_cross_entropy`) on the events of every process
at the reference point, each process's events weighted so that the class totals are the
expected yields ν_c0 (:func:`madsbi.inference.processes.classifier_data`), converges to

    D_c(x) = ν_c0 p_c(x|θ0) / Σ_c' ν_c'0 p_c'(x|θ0),

the ``event_fractions`` f_c(x_e) of the components of
:class:`~madsbi.inference.model.LikelihoodModel`. Two classes give eq. 59's signal/background
classifier, whose odds are σ_sig p_sig(x|θ0) / (σ_bkg p_bkg(x)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError
from madsbi.estimators.data import as_tensor, input_tensor
from madsbi.estimators.io import load_estimator, save_estimator
from madsbi.estimators.losses import multiclass_cross_entropy
from madsbi.estimators.network import pool_members, seeded_network
from madsbi.estimators.trainer import TrainingConfig, TrainingHistory, fit_runs
from madsbi.nn.build import NetworkConfig

KIND = "process_classifier"
NETWORK = "logits"


class ProcessClassifier:
    """Learned process shares D_c(x) at θ0 for the processes ``classes``.

    Parameters
    ----------
    classes : sequence of str
        The process names, in the order of the class labels 0 … C−1 (at least two).
    n_inputs : int
        Dimension d of the inputs x.
    network : NetworkConfig
    seed : int
        Seeds the initialisation.
    """

    kind = KIND

    def __init__(
        self, classes: Sequence[str], n_inputs: int, network: NetworkConfig, *, seed: int = 0
    ) -> None:
        self.classes = tuple(str(c) for c in classes)
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise InputError(f"classes: expected at least two distinct names, got {classes!r}")
        self.n_inputs = int(n_inputs)
        self.config = network
        self.seed = int(seed)
        self.network = seeded_network(network, self.n_inputs, len(self.classes), self.seed * 1009)

    @property
    def n_members(self) -> int:
        """Members M of the ensemble."""
        return self.network.n_members

    def fit(
        self,
        x: Any,
        labels: Any,
        weights: Any,
        training: TrainingConfig,
        *,
        out_dir: Path | None = None,
        progress: bool = True,
    ) -> dict[str, TrainingHistory]:
        """Train on events x (N, d) of classes ``labels`` (N,) with weights (N,).

        The weights' class totals set the priors the classifier learns (the expected yields
        ν_c0 for the likelihood's shares). Returns the histories keyed ``logits``.

        Raises
        ------
        InputError
            Labels outside 0 … C−1, a class without weight, negative weights.
        """
        xt = input_tensor(x, self.n_inputs)
        n = xt.shape[0]
        lab = np.asarray(labels)
        if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
            raise InputError(f"labels: expected {n} integer class labels, got {lab.shape}")
        c = len(self.classes)
        if lab.min() < 0 or lab.max() >= c:
            raise InputError(f"labels: expected classes in [0, {c}), got {lab.min()} … {lab.max()}")
        w = as_float_array(weights, "weights", (n,))
        if (w < 0).any():
            raise InputError(f"weights: expected >= 0, event {int(np.argmax(w < 0))} is negative")
        totals = np.bincount(lab, weights=w, minlength=c)
        if not (totals > 0).all():
            empty = [self.classes[i] for i in np.flatnonzero(totals <= 0)]
            raise InputError(f"weights: the classes {empty} have no events or no weight")
        wt = as_tensor(w, torch.float64)
        self.network.inputs.fit(xt, wt)
        data = {
            "x": xt,
            "label": torch.as_tensor(lab, dtype=torch.long),
            "weight": (wt / wt.mean()).to(torch.float32),
        }
        self.network, per_run = fit_runs(
            self.network,
            lambda _: _loss,
            data,
            training,
            network_config=self.config,
            pool=partial(pool_members, config=self.config, n_in=self.n_inputs, n_out=c),
            checkpoint_dir=None if out_dir is None else Path(out_dir) / NETWORK,
            fingerprint=f"{KIND}:{self.classes}:{asdict(self.config)}",
            progress=progress,
            label="process classifier",
        )
        self.config = replace(self.config, members=self.config.members * training.runs)
        return {NETWORK + suffix: h for suffix, h in per_run.items()}

    def predict_fractions(self, x: Any) -> FloatArray:
        """D_c(x) per member, (M, N, C), float64; each row sums to 1."""
        logits = self.network.predict(input_tensor(x, self.n_inputs))
        result: FloatArray = torch.softmax(logits, dim=-1).numpy()
        return result

    def event_fractions(self, x: Any) -> FloatArray:
        """D_c(x) of the ensemble, the members' mean, (N, C); each row sums to 1."""
        result: FloatArray = self.predict_fractions(x).mean(axis=0)
        return result

    def save(self, path: Path) -> Path:
        """Write the classifier to the directory ``path``."""
        description = {
            "kind": KIND,
            "classes": list(self.classes),
            "n_inputs": self.n_inputs,
            "network": asdict(self.config),
            "seed": self.seed,
        }
        return save_estimator(path, description, {NETWORK: self.network})

    @classmethod
    def load(cls, path: Path) -> ProcessClassifier:
        """Read a classifier written by :meth:`save`."""
        description, states = load_estimator(path, KIND)
        net = description["network"]
        config = NetworkConfig(**{**net, "hidden": tuple(net["hidden"])})
        out = cls(description["classes"], description["n_inputs"], config, seed=description["seed"])
        out.network.load_state_dict(states[NETWORK])
        out.network.eval()
        return out


def _loss(predictions: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return multiclass_cross_entropy(predictions, batch["label"], batch["weight"])
