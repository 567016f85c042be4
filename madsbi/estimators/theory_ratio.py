"""Per-event factors of a theory-scale variation, learned by regression on exact weights.

A theory variation v at ±1σ (μ_F × 2 and × ½: ``mu_f_up``, ``mu_f_down``) changes no event's
kinematics, only its weight: every parton event z carries its exact factor r_v(z) = w_v/w
(``/parton/theory_variations``, :mod:`madsbi.events.theory_weights`), and every reco entry
inherits its parent's. The likelihood needs, as for a detector variation
(:mod:`madsbi.estimators.nuisance_ratio`), per direction

- the acceptance factor η(±1) = Σ_e w_e r_±(z_e) s_e / Σ_e w_e s_e over the entries e of a
  nominal reco store (s_e = 1: the entry passes every cut), exact from the weights; it holds
  the LO μ_F normalisation change of the selected events (inclusively −4.4 % / +3.7 % for
  W⁺Z at 13.6 TeV, μ_F × ½ / × 2);
- the shape factor r(x|±1) = p_±(x)/p_0(x), both densities of the selected events and each
  normalised. Over the selected entries, the conditional mean of the parent's factor is

      E[r_±(z) | x] = σ_± p_±(x) / (σ_0 p_0(x)) = η(±1) r(x|±1),

  so a weighted least-squares regression of t_e = r_±(z_e)/η(±1) on the reco features,

      L[f] = Σ_e w_e s_e Σ_± (exp f_±(x_e) − t_{e,±})² / Σ_e w_e s_e,

  is minimised by exp f_± = E[t|x], i.e. f_± = log r(x|±1), the logarithm of the factor
  itself: the network of :func:`train_theory_ratio` has the two outputs of the detector
  shapes and is saved as the same :class:`~madsbi.estimators.nuisance_ratio.VariationRatio`
  (kind ``nuisance_ratio``), so the fit path (``EventShape`` interpolation, renormalisation
  over the rate events, profiling, impacts, pulls) takes it unchanged.

Why a regression and not a classifier (as for the detector shapes): these variations are
exact per-event weights, so their ratios enter like θ (madsbi regresses on the exact joint
ratios r(x, z|θ) of the matrix element): the per-event target r_±(z) is known, and its
conditional mean is the wanted ratio up to the exact constant η. The regression's noise is
only the spread of r_± at fixed x (the unobserved x₁, x₂ of the parents), not the sampling
noise of two classes of events.

A shape the regression cannot resolve with the entries at hand (it must beat r ≡ 1 on
held-out entries by ``min_significance`` standard errors) enters with r ≡ 1 and its exact
η(±1) only.

Physics caveats, for W±Z → ℓνℓℓ at LO:

- μ_R is nil: the process has no power of α_s at LO, so every μ_R factor is exactly 1
  (``mu_r_up`` = ``mu_r_down`` = 1 and ``mu_rf_*`` = ``mu_f_*``); a ``mu_r`` nuisance has
  η(±1) = 1 and no shape, and is refused as empty (:func:`train_theory_ratio`).
- The LO μ_F band understates the real scale uncertainty: α_s first enters at NLO (qq̄ → WZg,
  qg → WZq) and the NLO correction (K ≈ 1.7–1.8 inclusively) lies far outside the LO band
  (docs/guide/event-store.md). The NLO K-factor and its uncertainty belong in a normalisation
  nuisance (``xsec_<process>``); ``mu_f`` is the LO shape variation beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
from madsbi.estimators.network import StandardisedNetwork, seeded_network
from madsbi.estimators.nuisance_ratio import RatioTraining, VariationRatio
from madsbi.nn.build import NetworkConfig

#: The theory nuisances this module learns → their (up, down) variations in the store.
THEORY_NUISANCES = {
    "mu_f": ("mu_f_up", "mu_f_down"),
    "mu_r": ("mu_r_up", "mu_r_down"),
    "mu_rf": ("mu_rf_up", "mu_rf_down"),
}
#: Default settings: the entries are few (≈ 900 selected W⁺Z per 20k parents), so small
#: batches and more epochs than the paired classifier's.
THEORY_TRAINING = RatioTraining(epochs=300, batch_size=128, patience=30)


@dataclass(frozen=True, eq=False)
class TheorySample:
    """The selected entries of a nominal store: features, their parents' factors, weights.

    Attributes
    ----------
    x : (N, d)
        Reco features of the selected entries.
    factors : (N, 2)
        r_+(z_e), r_−(z_e): the parent's w_v/w of the up and down variation, > 0.
    weights : (N,)
        w_e ≥ 0.
    """

    x: FloatArray
    factors: FloatArray
    weights: FloatArray

    def __post_init__(self) -> None:
        x = as_float_array(self.x, "x")
        if x.ndim != 2:
            raise InputError(f"x: expected an (N, d) array, got shape {x.shape}")
        n = x.shape[0]
        r = as_float_array(self.factors, "factors")
        if r.shape != (n, 2) or not (np.isfinite(r).all() and (r > 0).all()):
            raise InputError(f"factors: expected ({n}, 2) finite values > 0, got {r.shape}")
        w = as_float_array(self.weights, "weights")
        if w.shape != (n,) or not (np.isfinite(w).all() and (w >= 0).all()):
            raise InputError(f"weights: expected ({n},) finite values ≥ 0, got shape {w.shape}")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "factors", r)
        object.__setattr__(self, "weights", w)


def theory_variations(name: str) -> tuple[str, str]:
    """The (up, down) variation names of the theory nuisance ``name`` (``mu_f`` → μ_F × 2, × ½).

    Raises
    ------
    InputError
        Not one of :data:`THEORY_NUISANCES` (``pdf`` needs PDF members: LHAPDF).
    """
    if name not in THEORY_NUISANCES:
        raise InputError(
            f"theory nuisance {name!r}: expected one of {sorted(THEORY_NUISANCES)} (a pdf "
            "nuisance needs PDF-member weights from MadGraph's systematics module)"
        )
    return THEORY_NUISANCES[name]


def read_theory_sample(path: str | Path, name: str, columns: Sequence[str]) -> TheorySample:
    """The selected ``/reco`` entries of ``path`` with their parents' factors of ``name``.

    ``columns`` are the ``/reco/x`` columns to read (an analysis's features, in order).

    Raises
    ------
    StoreFormatError
        No ``/parton/theory_variations`` (how to get them is named), not the variation, no
        ``/reco/parent`` link, or a missing column (from :func:`madsbi.events.reco.read_reco`).
    """
    from madsbi.events import schema
    from madsbi.events.reco import read_reco
    from madsbi.events.store import EventStore
    from madsbi.events.theory_weights import FIELD

    wanted = theory_variations(name)
    entries = read_reco(path, columns=columns)
    with EventStore(path) as store:
        if FIELD not in store.fields(schema.PARTON):
            raise StoreFormatError(
                f"{path}: no /parton/{FIELD}; convert the LHE of a MadGraph run with "
                "use_syst = True (and MG5_DIR set, for the PDF grid) or with MadGraph's "
                "systematics weights"
            )
        held = store.column_names(schema.PARTON, FIELD)
        missing = [v for v in wanted if v not in held]
        if missing:
            raise StoreFormatError(f"{path}: /parton/{FIELD} lacks {missing} (it holds {held})")
        table = np.asarray(store.read(schema.PARTON, [FIELD])[FIELD], dtype=np.float64)
    if entries.parents is None:
        raise StoreFormatError(f"{path}: /reco/parent is missing (entries → parton factors)")
    index = [entries.columns.index(c) for c in columns]
    factors = table[entries.parents][:, [held.index(v) for v in wanted]]
    return TheorySample(entries.x[:, index], factors, entries.weights)


def theory_acceptance(sample: TheorySample) -> tuple[float, float]:
    """η(+1), η(−1) = Σ w r_± / Σ w over the selected entries (exact).

    Raises
    ------
    InputError
        No weight.
    """
    total = float(sample.weights.sum())
    if not total > 0:
        raise InputError("theory acceptance: the selected entries carry no weight")
    up, down = (sample.weights @ sample.factors) / total
    return float(up), float(down)


def _row_losses(net: StandardisedNetwork, x: torch.Tensor, t: torch.Tensor, w: torch.Tensor,
                total: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Each row's share (B,) of the weighted squared error, both directions summed."""
    prediction = torch.exp(net(x)[0])
    return w * ((prediction - t) ** 2).sum(dim=1) / total


def _null_rows(t: torch.Tensor, w: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """The rows' losses of r ≡ 1 (η only)."""
    return w * ((1.0 - t) ** 2).sum(dim=1) / total


def train_theory_ratio(
    name: str,
    features: Sequence[str],
    sample: TheorySample,
    config: RatioTraining | None = None,
) -> VariationRatio:
    """Regress a theory variation's factors on the features; measure η(±1) (module docstring).

    Entries are split into training and validation (``validation_fraction``); the epoch with
    the lowest validation loss is kept (early stopping). The network is kept as the shape
    only if it beats r ≡ 1 on the validation entries by ``min_significance`` standard errors
    of the per-entry loss differences; otherwise ``learned`` is False and the factors are 1
    (the exact η(±1) stay).

    Raises
    ------
    InputError
        Features and columns disagree; fewer than 10 entries; every factor exactly 1 (an empty
        variation, e.g. μ_R of a process without α_s).
    """
    config = config or THEORY_TRAINING
    theory_variations(name)
    n = sample.x.shape[0]
    if sample.x.shape[1] != len(features):
        raise InputError(f"{name}: {sample.x.shape[1]} input columns, {len(features)} features")
    if n < 10:
        raise InputError(f"{name}: {n} selected entries; at least 10 are needed")
    if np.all(sample.factors == 1.0):
        raise InputError(
            f"{name}: every factor is exactly 1 (no dependence on this scale, e.g. μ_R of a "
            "process without α_s at LO): nothing to profile"
        )
    rate_up, rate_down = theory_acceptance(sample)
    targets = sample.factors / np.array([rate_up, rate_down])
    rows = np.arange(n)
    rng = np.random.default_rng(config.seed)
    rng.shuffle(rows)
    n_val = max(1, round(config.validation_fraction * n))
    val, train = rows[:n_val], rows[n_val:]
    net = seeded_network(
        NetworkConfig(kind="mlp", hidden=tuple(config.hidden), activation=config.activation),
        len(features),
        2,
        config.seed,
    )
    net.inputs.fit(torch.from_numpy(sample.x[train]), torch.from_numpy(sample.weights[train]))

    def parts(index: np.ndarray[Any, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            torch.from_numpy(sample.x[index]).float(),
            torch.from_numpy(targets[index]).float(),
            torch.from_numpy(sample.weights[index]).float(),
        )

    x_val, t_val, w_val = parts(val)
    total_val = w_val.sum()
    total_train = torch.tensor(float(sample.weights[train].sum()))
    optimiser = torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )

    def batch_loss(index: np.ndarray[Any, Any], scale: torch.Tensor) -> torch.Tensor:
        x, t, w = parts(index)
        return _row_losses(net, x, t, w, total_train / scale).sum()

    stopped = train_early_stopping(
        net, optimiser, train, batch_loss,
        lambda: _row_losses(net, x_val, t_val, w_val, total_val).sum(),
        epochs=config.epochs, batch_size=config.batch_size, patience=config.patience,
        seed=config.seed, min_improvement=1e-9,
    )  # fmt: skip
    gain, error = gain_over_null(
        lambda: _row_losses(net, x_val, t_val, w_val, total_val),
        lambda: _null_rows(t_val, w_val, total_val),
    )
    info = training_record(config, (n, train.size, val.size), stopped, gain, error) | {
        "method": "regression of the exact per-event factors r_v = w_v/w (theory_ratio)",
        "variations": list(THEORY_NUISANCES[name]),
        "null_validation_loss": float(_null_rows(t_val, w_val, total_val).sum()),
    }
    return VariationRatio(name, list(features), net, rate_up, rate_down, info)
