"""From the plugin's settings and the run's param card to the points the plugin evaluates.

θ0 and every point are translated into param-card changes relative to the run's own card:
each point starts again from the original card, exactly as MadGraph's own reweighting does
(docs/design.md), so the weights at a point are w_e · |M(θ)|² / |M(card)|².
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from madsbi._validate import FloatArray
from madsbi.cards import ParamCard
from madsbi.errors import ConfigError, UnknownParameterError
from madsbi.madgraph.settings import SbiSettings
from madsbi.theory.basis import optimise_basis
from madsbi.theory.morphing import DEFAULT_MAX_CONDITION, MorphingBasis
from madsbi.theory.parameters import Parameter, ParameterSpace

#: Param-card change: (block in upper case, entry) → value.
ParamKey = tuple[str, int]


@dataclass(frozen=True, eq=False)
class ReweightPlan:
    """Parameters, basis and extra points of one plugin run.

    Attributes
    ----------
    space : ParameterSpace
        Parameters (with param-card block/id and ranges) and θ0.
    basis_ids : tuple of str
        Names of the K basis points (also their LHE weight ids).
    basis : MorphingBasis
        The basis points and W.
    extra_ids : tuple of str
        Names of the extra points.
    extra_thetas : ndarray, shape (m, n)
        The extra points.
    card_theta : tuple of float
        The parameters' values in the run's param card (where the events were generated).
    """

    space: ParameterSpace
    basis_ids: tuple[str, ...]
    basis: MorphingBasis
    extra_ids: tuple[str, ...]
    extra_thetas: FloatArray
    card_theta: tuple[float, ...]

    @property
    def point_ids(self) -> tuple[str, ...]:
        """Basis ids, then extra ids."""
        return self.basis_ids + self.extra_ids

    @property
    def point_thetas(self) -> FloatArray:
        """θ of every point, shape (K + m, n), in the order of :attr:`point_ids`."""
        return np.vstack([self.basis.points, self.extra_thetas])

    @property
    def keys(self) -> tuple[ParamKey, ...]:
        """(block, id) of every parameter."""
        return tuple((str(p.block), int(p.code or 0)) for p in self.space.parameters)

    def changes(self, theta: FloatArray) -> dict[ParamKey, float]:
        """Param-card changes that put the card at ``theta``."""
        return {key: float(v) for key, v in zip(self.keys, theta, strict=True)}


def make_plan(
    settings: SbiSettings,
    card: ParamCard,
    *,
    max_condition: float = DEFAULT_MAX_CONDITION,
) -> ReweightPlan:
    """Check the settings against the run's param card and choose the basis.

    Parameters
    ----------
    settings : SbiSettings
        What the card asked for.
    card : ParamCard
        The run's param card (the events' generation point).
    max_condition : float
        Largest accepted cond(W).

    Returns
    -------
    ReweightPlan

    Raises
    ------
    UnknownParameterError
        A parameter's block/id is not in the param card.
    IllConditionedBasisError
        The basis points do not determine a quadratic (cond(W) > ``max_condition``).
    ConfigError
        A point name is used twice.
    """
    card_theta = []
    for p in settings.parameters:
        try:
            entry = card.get(p.block, (p.code,))
        except UnknownParameterError:
            raise UnknownParameterError(
                f"{settings.source} line {p.line}: parameter {p.name!r} is {p.block} {p.code}, "
                "which is not in the run's param card (a model restriction may have removed "
                "it; check the block and id in Cards/param_card.dat)"
            ) from None
        card_theta.append(entry.value)
    theta0 = settings.theta0 if settings.theta0 is not None else tuple(card_theta)
    params = tuple(Parameter(p.name, p.block, p.code, p.range) for p in settings.parameters)
    space = ParameterSpace(params, theta0)
    theta0_arr = space.theta0_array
    if settings.basis == "explicit":
        ids = tuple(b.name for b in settings.basis_points)
        basis = MorphingBasis.from_points(
            [b.theta for b in settings.basis_points], theta0_arr, max_condition=max_condition
        )
    else:
        ranges = np.array(
            [
                p.range if p.range else (t - 1.0, t + 1.0)
                for p, t in zip(params, theta0, strict=True)
            ]
        )
        chosen = optimise_basis(theta0_arr, ranges, include_theta0=True).basis
        basis = MorphingBasis.from_points(chosen.points, theta0_arr, max_condition=max_condition)
        ids = tuple(f"madsbi_b{i:02d}" for i in range(basis.n_points))
    extra_ids = tuple(e.name for e in settings.extra_points)
    duplicate = sorted({i for i in ids + extra_ids if (ids + extra_ids).count(i) > 1})
    if duplicate:
        raise ConfigError(f"{settings.source}: point names used twice: {duplicate}")
    extra = np.array([e.theta for e in settings.extra_points], dtype=np.float64).reshape(
        len(extra_ids), space.n_parameters
    )
    return ReweightPlan(space, ids, basis, extra_ids, extra, tuple(card_theta))
