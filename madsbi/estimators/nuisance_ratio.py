"""Per-event factors of a detector variation, learned from paired events (issue 27).

A detector variation k at ±1σ (``madsbi simulate reco --variations``) gives, for every stored
``/reco`` row e, the nominal reco features x_e with its cut flags and the varied features x'_e
with theirs, from the same shower and random numbers (paired). The likelihood needs two
things per variation and direction (:class:`madsbi.inference.modifiers.EventShape`):

- the acceptance factor η(±1) = Σ_e w_e s'_e / Σ_e w_e s_e (s, s' ∈ {0, 1}: the entry passes
  every nominal, every varied cut), exact from the cut flags (:func:`acceptance_factor`);
- the shape factor r(x|±1) = p(x|±1)/p(x|0), both densities of the selected events and each
  normalised: learned by a classifier between the selected nominal features {x_e : s_e = 1}
  and the selected varied features {x'_e : s'_e = 1}, each class weighted by w_e and
  normalised to unit total weight. The minimiser of the weighted cross-entropy

      L[f] = Σ_e w_e s_e softplus(f(x_e)) / W + Σ_e w_e s'_e softplus(−f(x'_e)) / W'

  is f = log p(x|±1)/p(x|0), the log of the factor itself (Cranmer, Pavez, Louppe,
  arXiv:1506.02169). One network with two outputs (up, down) per variation shares the
  nominal class.

Why a classifier and not a regression: for θ madsbi regresses on exact joint ratios
r(x, z|θ) of the matrix element; a detector variation has no such per-event target — the
varied event sits at another x (x'_e ≠ x_e), and the transfer function p(x|z, α) of the
shower and detector is not known in closed form, so no per-event quantity has p(x|α)/p(x|0)
as its conditional mean. The classifier targets the ratio directly and is unbiased; the
pairing makes it low-variance: the rows of one parent enter the same mini-batch, so the
gradient of a pair, w (σ(f(x)) ∇f(x) − σ(−f(x')) ∇f(x')), is of the order of the small
shift x' − x rather than of the spread of x (the parent's fluctuation cancels between the
two classes, as in a paired difference).

A variation too small to resolve with the pairs at hand is detected on held-out pairs (the
classifier must beat r ≡ 1 significantly) and then enters with r ≡ 1 and its η(±1) only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from madsbi._validate import FloatArray, as_float_array
from madsbi.errors import InputError, StoreFormatError
from madsbi.estimators._early_stopping import (
    gain_over_null,
    train_early_stopping,
    training_record,
)
from madsbi.estimators.io import load_estimator, save_estimator
from madsbi.estimators.network import StandardisedNetwork, seeded_network
from madsbi.nn.build import NetworkConfig

KIND = "nuisance_ratio"
DIRECTIONS = ("up", "down")


@dataclass(frozen=True, eq=False)
class PairedSample:
    """Nominal and varied features of the same N entries, with cut flags and weights.

    Attributes
    ----------
    nominal, varied : (N, d)
    passed_nominal, passed_varied : (N,) bool
        The entry passes every cut of the nominal, of the varied detector.
    weights : (N,)
        w_e ≥ 0 (a detector variation changes no weight).
    """

    nominal: FloatArray
    varied: FloatArray
    passed_nominal: np.ndarray[Any, np.dtype[np.bool_]]
    passed_varied: np.ndarray[Any, np.dtype[np.bool_]]
    weights: FloatArray

    def __post_init__(self) -> None:
        x = as_float_array(self.nominal, "nominal")
        x2 = as_float_array(self.varied, "varied")
        n = x.shape[0]
        if x.ndim != 2 or x2.shape != x.shape:
            raise InputError(
                f"nominal and varied: (N, d) arrays of one shape, got {x.shape}, {x2.shape}"
            )
        w = as_float_array(self.weights, "weights")
        if w.shape != (n,) or not (np.isfinite(w).all() and (w >= 0).all()):
            raise InputError(f"weights: expected ({n},) finite values ≥ 0, got shape {w.shape}")
        for label in ("passed_nominal", "passed_varied"):
            flags = np.asarray(getattr(self, label), dtype=bool)
            if flags.shape != (n,):
                raise InputError(f"{label}: expected ({n},) flags, got {flags.shape}")
            object.__setattr__(self, label, flags)
        object.__setattr__(self, "nominal", x)
        object.__setattr__(self, "varied", x2)
        object.__setattr__(self, "weights", w)


def acceptance_factor(sample: PairedSample) -> float:
    """η = Σ w s' / Σ w s: the varied selection's weight over the nominal's.

    Raises
    ------
    InputError
        No weight passes the nominal or the varied selection.
    """
    nominal = float(sample.weights[sample.passed_nominal].sum())
    varied = float(sample.weights[sample.passed_varied].sum())
    if not (nominal > 0 and varied > 0):
        raise InputError(
            f"acceptance: no weight passes the nominal ({nominal}) or varied ({varied}) selection"
        )
    return varied / nominal


def read_paired(path: str | Path, name: str, columns: Sequence[str]) -> dict[str, PairedSample]:
    """The paired samples of one variation of a reco store, by direction.

    ``columns`` are the ``/reco/x`` columns to read (an analysis's features, in order).

    Raises
    ------
    StoreFormatError
        The store lacks the variation (naming those it holds) or a column.
    """
    from madsbi.events import schema
    from madsbi.events.reco import stored_variations
    from madsbi.events.store import EventStore

    held = stored_variations(path)
    if name not in held:
        raise StoreFormatError(
            f"{path}: no paired variation {name!r} (it holds {list(held)}); simulate it with "
            f"madsbi simulate reco --variations {name}"
        )
    out = {}
    with EventStore(path) as store:
        names = store.column_names(schema.RECO, "x")
        missing = [c for c in columns if c not in names]
        if missing:
            raise StoreFormatError(f"{path}: /reco/x has no columns {missing}")
        idx = [names.index(c) for c in columns]
        reco = store.read(schema.RECO, ["x", "cuts", "weight"])
        x = np.asarray(reco["x"], dtype=np.float64)[:, idx]
        passed = np.asarray(np.asarray(reco["cuts"]).astype(bool).all(axis=1))
        w = np.asarray(reco["weight"], dtype=np.float64)
        for direction in DIRECTIONS:
            group = schema.variation_group(name, direction)
            vnames = store.column_names(group, "x")
            vidx = [vnames.index(c) for c in columns]
            varied = store.read(group, ["x", "cuts"])
            out[direction] = PairedSample(
                x,
                np.asarray(varied["x"], dtype=np.float64)[:, vidx],
                passed,
                np.asarray(np.asarray(varied["cuts"]).astype(bool).all(axis=1)),
                w,
            )
    return out


def read_paired_stores(
    paths: Sequence[str | Path], name: str, columns: Sequence[str]
) -> dict[str, PairedSample]:
    """:func:`read_paired` of several stores (W⁺Z and W⁻Z pairs), joined by direction.

    With more than one store each store's weights are scaled to its fiducial cross-section
    (w_e σ(θ_gen)/Σ w_parent: the stores mixed as the processes are), so the classifier sees
    every process at its rate; one store is read as it is.
    """
    from madsbi.events.reco import read_reco

    if len(paths) == 1:
        return read_paired(paths[0], name, columns)
    parts = []
    for path in paths:
        paired = read_paired(path, name, columns)
        scale = float(read_reco(path).scale)
        if not (np.isfinite(scale) and scale > 0):
            raise StoreFormatError(f"{path}: no cross-section to weight its pairs by")
        parts.append({d: replace(p, weights=p.weights * scale) for d, p in paired.items()})
    return {
        d: PairedSample(
            np.concatenate([p[d].nominal for p in parts]),
            np.concatenate([p[d].varied for p in parts]),
            np.concatenate([p[d].passed_nominal for p in parts]),
            np.concatenate([p[d].passed_varied for p in parts]),
            np.concatenate([p[d].weights for p in parts]),
        )
        for d in DIRECTIONS
    }


@dataclass(frozen=True)
class RatioTraining:
    """Settings of the paired classifier (one small MLP per variation).

    ``min_significance``: the validation gain over r ≡ 1, in standard errors, that a
    learned shape needs to be kept (:func:`train_variation_ratio`).
    """

    hidden: tuple[int, ...] = (64, 64)
    activation: str = "silu"
    epochs: int = 60
    batch_size: int = 512
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    validation_fraction: float = 0.25
    patience: int = 8
    seed: int = 0
    min_significance: float = 2.0

    def __post_init__(self) -> None:
        if not (0 < self.validation_fraction < 1):
            raise InputError(
                f"validation_fraction: expected in (0, 1), got {self.validation_fraction}"
            )
        for label in ("epochs", "batch_size", "patience"):
            if int(getattr(self, label)) < 1:
                raise InputError(f"{label}: expected ≥ 1, got {getattr(self, label)}")
        if not self.learning_rate > 0:
            raise InputError(f"learning_rate: expected > 0, got {self.learning_rate}")


@dataclass(eq=False)
class VariationRatio:
    """A trained variation: log r(x|+1) and log r(x|−1) for features x, and η(±1).

    When the classifier did not beat r ≡ 1 on the validation pairs (``info["learned"]``
    False) the log-factors are 0.

    Attributes
    ----------
    name : str
        The variation (``lep_scale_e``, …).
    features : list of str
        The input columns, in order.
    network : StandardisedNetwork
        (B, d) → (1, B, 2): log r at +1 and −1.
    rate_up, rate_down : float
        η(+1), η(−1).
    info : dict
        Training record (sizes, losses, epochs, the validation gain over r ≡ 1 and its
        error, ``learned``).
    """

    name: str
    features: list[str]
    network: StandardisedNetwork
    rate_up: float
    rate_down: float
    info: dict[str, Any]

    def log_ratios(self, x: Any) -> FloatArray:
        """Log r(x_e|+1), log r(x_e|−1) as (N, 2), float64."""
        inputs = as_float_array(x, "x", (None, len(self.features)))
        if not self.learned:
            return np.zeros((inputs.shape[0], 2))
        out = self.network.predict(torch.from_numpy(inputs))[0].numpy()
        result: FloatArray = np.asarray(out, dtype=np.float64)
        return result

    def save(self, path: str | Path) -> Path:
        """Write ``estimator.json`` and ``weights.pt`` into the directory ``path``."""
        description = {
            "kind": KIND,
            "name": self.name,
            "features": self.features,
            "hidden": list(self.network_config.hidden),
            "activation": self.network_config.activation,
            "rate_up": self.rate_up,
            "rate_down": self.rate_down,
            "info": self.info,
        }
        return save_estimator(Path(path), description, {"network": self.network})

    @property
    def learned(self) -> bool:
        """Whether the classifier beat r = 1 on the held-out pairs (else log r ≡ 0)."""
        return bool(self.info.get("learned", True))

    @property
    def network_config(self) -> NetworkConfig:
        """The MLP's configuration (from the training record)."""
        return NetworkConfig(
            kind="mlp",
            hidden=tuple(int(h) for h in self.info["hidden"]),
            activation=str(self.info["activation"]),
        )

    @classmethod
    def load(cls, path: str | Path) -> VariationRatio:
        """Read a saved variation (:meth:`save`)."""
        description, states = load_estimator(Path(path), KIND)
        config = NetworkConfig(
            kind="mlp",
            hidden=tuple(int(h) for h in description["hidden"]),
            activation=str(description["activation"]),
        )
        features = [str(f) for f in description["features"]]
        network = StandardisedNetwork(config, len(features), 2)
        network.load_state_dict(states["network"])
        network.eval()
        info = dict(description.get("info", {}))
        info.setdefault("hidden", list(config.hidden))
        info.setdefault("activation", config.activation)
        return cls(
            str(description["name"]),
            features,
            network,
            float(description["rate_up"]),
            float(description["rate_down"]),
            info,
        )


def _tensors(sample: PairedSample, rows: np.ndarray[Any, Any]) -> tuple[torch.Tensor, ...]:
    w = sample.weights[rows]
    return (
        torch.from_numpy(sample.varied[rows]).float(),
        torch.from_numpy(w * sample.passed_varied[rows]).float(),
    )


def _row_losses(
    net: StandardisedNetwork,
    x: torch.Tensor,
    w_nominal: torch.Tensor,
    varied: Sequence[tuple[torch.Tensor, torch.Tensor]],
    totals: torch.Tensor,
) -> torch.Tensor:
    """Each row's share (B,) of the paired cross-entropy, both directions summed."""
    f_nominal = net(x)[0]
    rows = torch.zeros(x.shape[0])
    for d, (xv, wv) in enumerate(varied):
        f_varied = net(xv)[0][:, d]
        rows = rows + w_nominal * torch.nn.functional.softplus(f_nominal[:, d]) / totals[0]
        rows = rows + wv * torch.nn.functional.softplus(-f_varied) / totals[1 + d]
    return rows


def _null_rows(
    w_nominal: torch.Tensor,
    varied: Sequence[tuple[torch.Tensor, torch.Tensor]],
    totals: torch.Tensor,
) -> torch.Tensor:
    """The rows' losses of f ≡ 0 (no shape change): log 2 per unit of class weight."""
    rows = len(varied) * w_nominal / totals[0]
    for d, (_, wv) in enumerate(varied):
        rows = rows + wv / totals[1 + d]
    return math.log(2.0) * rows


def _loss(
    net: StandardisedNetwork,
    x: torch.Tensor,
    w_nominal: torch.Tensor,
    varied: Sequence[tuple[torch.Tensor, torch.Tensor]],
    totals: torch.Tensor,
) -> torch.Tensor:
    """Σ over directions of the paired weighted cross-entropy (module docstring)."""
    return _row_losses(net, x, w_nominal, varied, totals).sum()


def train_variation_ratio(
    name: str,
    features: Sequence[str],
    up: PairedSample,
    down: PairedSample,
    config: RatioTraining | None = None,
) -> VariationRatio:
    """Train the paired classifier of one variation (both directions) and measure η(±1).

    ``up`` and ``down`` must share their nominal rows (:func:`read_paired`). Rows are split
    into training and validation by entry, so both members of a pair land on one side; the
    epoch with the lowest validation loss is kept (early stopping). The network is kept as
    the shape only if it beats r ≡ 1 on the validation pairs by ``min_significance`` standard
    errors of the per-pair loss differences; otherwise ``learned`` is False and the
    variation's factors are 1 (its η(±1) stay): a classifier that cannot resolve a small
    variation learns noise, and that noise would pull and constrain the nuisance in a fit.

    Raises
    ------
    InputError
        Samples of different sizes or nominal features; fewer than 10 selected entries.
    """
    config = config or RatioTraining()
    n = up.nominal.shape[0]
    if down.nominal.shape != up.nominal.shape or not np.array_equal(down.nominal, up.nominal):
        raise InputError(f"{name}: the up and down samples must share their nominal rows")
    if up.nominal.shape[1] != len(features):
        raise InputError(f"{name}: {up.nominal.shape[1]} input columns, {len(features)} features")
    keep = up.passed_nominal | up.passed_varied | down.passed_varied
    if int(keep.sum()) < 10:
        raise InputError(f"{name}: {int(keep.sum())} selected entries; at least 10 are needed")
    rows = np.flatnonzero(keep)
    rng = np.random.default_rng(config.seed)
    rng.shuffle(rows)
    n_val = max(1, round(config.validation_fraction * rows.size))
    val, train = rows[:n_val], rows[n_val:]
    net = seeded_network(
        NetworkConfig(kind="mlp", hidden=tuple(config.hidden), activation=config.activation),
        len(features),
        2,
        config.seed,
    )
    selected = train[up.passed_nominal[train]]
    net.inputs.fit(torch.from_numpy(up.nominal[selected]), torch.from_numpy(up.weights[selected]))

    def parts(index: np.ndarray[Any, Any]) -> tuple[Any, ...]:
        x = torch.from_numpy(up.nominal[index]).float()
        wn = torch.from_numpy(up.weights[index] * up.passed_nominal[index]).float()
        varied = [_tensors(s, index) for s in (up, down)]
        totals = torch.stack([wn.sum(), varied[0][1].sum(), varied[1][1].sum()])
        return x, wn, varied, totals

    x_val, wn_val, var_val, tot_val = parts(val)
    _, _, _, tot_train = parts(train)
    optimiser = torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )

    def batch_loss(index: np.ndarray[Any, Any], scale: torch.Tensor) -> torch.Tensor:
        x, wn, varied, _ = parts(index)
        # Per-batch sums scaled by the whole set's class totals: an unbiased estimate.
        return _loss(net, x, wn, varied, tot_train / scale)

    stopped = train_early_stopping(
        net, optimiser, train, batch_loss,
        lambda: _loss(net, x_val, wn_val, var_val, tot_val),
        epochs=config.epochs, batch_size=config.batch_size, patience=config.patience,
        seed=config.seed, min_improvement=1e-7,
    )  # fmt: skip
    gain, error = gain_over_null(
        lambda: _row_losses(net, x_val, wn_val, var_val, tot_val),
        lambda: _null_rows(wn_val, var_val, tot_val),
    )
    info = training_record(config, (n, train.size, val.size), stopped, gain, error)
    return VariationRatio(
        name, list(features), net, acceptance_factor(up), acceptance_factor(down), info
    )
