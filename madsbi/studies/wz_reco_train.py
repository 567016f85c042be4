"""Training weights of the reco study from train stores generated at several points.

Derivative learning needs the training entries distributed as dσ(x, z|θ0): the loss
Σ_e v_e |f(x_e) − R_e|² then estimates ∫ dσ(x, z|θ0) |f(x) − R(z)|², minimised by
E[R(z)|x] at θ0. A store generated at θ0 = SM samples the high-m_T^WZ tail thinly, where the
quadratic terms at large |c_W| live; stores generated at BSM points (recentred to θ0 = SM,
``madsbi store recentre``) fill it. Per channel (process) the stores are pooled by multiple
importance weighting with the balance heuristic (:func:`madsbi.inference.rate.mis_weights`)
into weights v_e at θ0.

Smeared copies. A fractionally smeared store (eq. 35) holds n copies of every parent, each
with the parent's weight × 1/n, and keeps the copies that pass the selection; every copy
carries its parent's exact coefficients c_e. The MIS weight of an entry,

    v_e = σ_k β_k(z_e) π_e / R_e(θ_k; θ0),  π_e = w_e / σ_k,

depends on the entry only through π_e and through c_e (β_k and R_e are functions of the
parent's coefficients): copies of one parent share its density ratio. Summed over a
parent's passed copies, Σ v_e R_e(θ) is the unsmeared estimator's term of that parent times
f(z) = Σ_passed 1/n, the fraction of its copies that pass; the smearing kernel does not
depend on θ, so over the generated parents of every store the estimate is unbiased for
the smearing-weighted fiducial σ(θ) = ∫ dσ(z|θ) f(z), and the weighted entries (x_e, c_e)
for dσ(x, z|θ0). The weights are therefore computed per parent (its passed copies' weights
summed: the parents are the independently generated events, at most the store's parents)
and shared among its copies in proportion to their weights.

With one store per channel generated at θ0 the weights are the stores' fiducial weights
themselves (bit for bit what the study trained on before several stores were allowed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.cards import process_key
from madsbi.errors import ConfigError
from madsbi.inference.rate import GeneratedSample, mis_weights

if TYPE_CHECKING:
    from madsbi.studies.wz_reco_data import RecoSample, StoreSet


def parent_sample(sample: RecoSample) -> tuple[GeneratedSample, Any]:
    """The store's passed parents as MIS sees them, and each entry's parent (an index).

    Each parent with its coefficients and the summed weight of its passed copies, out of the
    store's ``n_parents`` generated parents of total weight σ_gen (the independent events,
    whose per-parent terms the MC errors of :func:`madsbi.inference.rate.cross_section`
    need).
    """
    rows, first, inverse = np.unique(
        np.asarray(sample.parents), return_index=True, return_inverse=True
    )
    weights = np.asarray(
        np.bincount(inverse.ravel(), weights=sample.weights, minlength=rows.shape[0]),
        dtype=np.float64,
    )
    generated = GeneratedSample(
        sample.coefficients[first],
        weights,
        sample.theta_gen,
        sample.sigma_gen,
        channel=process_key(sample.process),
        n_generated=sample.n_parents,
        weight_total=sample.sigma_gen,
    )
    return generated, inverse.ravel()


def check_train_stores(train: StoreSet) -> None:
    """Refuse two train stores of one process generated at one point.

    Raises
    ------
    ConfigError
        Such stores are shards of one sample: merge them (``madsbi store merge``).
    """
    seen: dict[tuple[str, tuple[float, ...]], str] = {}
    for sample in train.samples:
        key = (process_key(sample.process), tuple(np.round(sample.theta_gen, 12).tolist()))
        if key in seen:
            raise ConfigError(
                f"[analysis] train_store: two stores of one process generated at one point "
                f"θ_gen {list(key[1])}: {seen[key]} and {sample.path} (process "
                f"{sample.process!r}); merge such shards with madsbi store merge (stores of "
                "one process at different points are pooled by MIS)"
            )
        seen[key] = str(sample.path)


def train_weights(train: StoreSet) -> FloatArray:
    """Per-entry weights v_e at θ0 (pb) of the train stores, in the order of ``train.x``.

    Per channel the balance heuristic over the channel's stores (see the module docstring
    for smeared copies); Σ_e v_e R_e(θ) over a channel's entries estimates its
    smearing-weighted σ_fid(θ), over all entries the channels' sum. With one store per
    channel generated at θ0 they are ``train.weights`` unchanged.

    Raises
    ------
    ConfigError
        Two stores of one process generated at one point (:func:`check_train_stores`).
    WeightError
        An entry whose dσ(z|θ) is not positive at its generation point or at θ0.
    """
    check_train_stores(train)
    keys = [process_key(s.process) for s in train.samples]
    at_theta0 = all(np.allclose(s.theta_gen, train.theta0) for s in train.samples)
    if at_theta0 and len(set(keys)) == len(keys):
        return train.weights
    parents = [parent_sample(s) for s in train.samples]
    per_parent = mis_weights([g for g, _ in parents], train.theta0)
    out = []
    for (generated, inverse), v, sample in zip(parents, per_parent, train.samples, strict=True):
        total = generated.weights[inverse]
        share = np.divide(sample.weights, total, out=np.zeros_like(total), where=total > 0)
        out.append(v[inverse] * share)
    return np.concatenate(out)


def train_stores_report(train: StoreSet) -> dict[str, list[dict[str, Any]]]:
    """Per channel (process key) its train stores: path, θ_gen, entries, parents, σ_gen."""
    out: dict[str, list[dict[str, Any]]] = {}
    for sample in train.samples:
        out.setdefault(process_key(sample.process), []).append(
            {
                "path": str(sample.path),
                "theta_gen": [float(v) for v in sample.theta_gen],
                "n_entries": int(sample.x.shape[0]),
                "n_parents": int(sample.n_parents),
                "sigma_gen_pb": float(sample.sigma_gen),
            }
        )
    return out
