"""Configuration of the W⁺Z reco-level analysis (``madsbi run CONFIG.toml``, paper Sec. 4.2).

A TOML file with the tables ``[analysis]`` (stores, grids, luminosity, coverage),
``[network]``/``[training]`` (the MLP ensemble) and ``[lgatr_network]``/``[lgatr_training]``
(L-GATr, ``kind = "lgatr"``, sizes in ``[lgatr_network.lgatr]``). The study kind is told
apart from the parton study by ``[analysis] study = "wz_reco"``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from madsbi.config import bounds, build_sections, read_toml
from madsbi.errors import ConfigError
from madsbi.estimators.trainer import TrainingConfig
from madsbi.inference.binned import MT_WZ_EDGES_GEV
from madsbi.nn.build import NetworkConfig
from madsbi.processes import wz

#: The value of ``[analysis] study`` that selects this study in ``madsbi run``.
STUDY_KIND = "wz_reco"
METHODS = ("mlp", "lgatr")
RATE_MODELS = ("exact", "learned")
#: The default ``[analysis] target_scale``: the energy the derivative targets grow with.
TARGET_SCALE = "mt_wz"


@dataclass(frozen=True)
class RecoAnalysisSettings:
    """Stores, grids, luminosity and coverage of the reco-level analysis.

    ``train_store`` (fractionally smeared, eq. 35) trains the networks; ``test_store``
    (unsmeared) is the Asimov SM sample of the limits, the sample the coverage toys are
    drawn from and the source of the rate model; both are shipped names
    (``wz_reco_train``, ``wz_reco_test``) or store paths.
    ``bsm_store`` (empty: none) is a reco store generated at ``bsm_point``, fitted as
    Asimov data for closure. ``rate_stores`` are further reco stores (generated at any
    point, e.g. at BSM points, unsmeared or smeared; never the closure store) pooled with the
    test store by multiple importance weighting into the events of the rate model
    (:func:`madsbi.studies.wz_reco_data.rate_pool`; a smeared store enters with one copy per
    parent). With ``rate_from_training`` (default) the train stores join the pool too, every
    entry (validation split included: ρ̂ needs only x ~ p(x|θ0), and a network that fits its
    training targets pulls ⟨R̂⟩ there towards the exact ⟨R⟩ of the same events, itself
    unbiased): the learned normalisation ρ̂ = ⟨R̂⟩ enters q at first order, and from the
    test and rate stores alone (≈ 8k effective entries per charge) its MC error moved q at
    n = 2,300 by ±5 (issue 25). A store may not be both a train and a rate store then.

    Both charges (W⁺Z and W⁻Z, or any processes of one parameter space): ``train_store``,
    ``test_store`` and ``bsm_store`` also take a list of stores. Each process is a channel
    (:func:`madsbi.cards.process_key`): the networks train on the concatenated train stores
    (each entry with its weight at θ0, so the channels mix as their cross-sections; the
    charge sum ``sum_charge`` must be a network input), the rate model
    pools each channel's test and rate stores by MIS and adds the channels, and the closure
    fits the BSM stores (one per process, all generated at ``bsm_point``) jointly and each
    alone against its channel. The test stores must hold the train stores' processes;
    ``train_stores``, ``test_stores`` and ``bsm_stores`` are the lists.

    A process may have several train stores, generated at different points (``/meta/
    theta_gen``; stores generated at BSM points recentred to θ0 = SM with ``madsbi store
    recentre``), which fill the high-m_T^WZ tail an SM store samples thinly: per process they
    are pooled by multiple importance weighting (balance heuristic) into per-entry weights at
    θ0, the training weights (normalised to mean 1 over all entries;
    :func:`madsbi.studies.wz_reco_train.train_weights`, which also argues why smeared copies
    of one parent are weighted correctly). One store per process generated at θ0 trains on
    its fiducial weights unchanged. Two train stores of one process generated at one point
    (shards) are refused (merge them), and so is a train store that is a ``bsm_store``.

    ``rate_model`` is the rate ρ_P(θ) of the Poisson factor of eq. 49: ``"exact"`` takes
    σ_fid(θ)/σ_fid(θ0) from the exact parton coefficients of those events (from the SM test
    store alone, far from θ0 the estimate is tail-dominated), ``"learned"`` each method's own ρ̂
    = ⟨R̂⟩ (eq. 34) over them; the kinematic factor is always normalised by ρ̂
    (:mod:`madsbi.studies.wz_reco_limits`). ν0 = ``rate_factor`` × L × σ_fid(θ0) (a K-factor, a
    branching ratio: one constant on σ; the former name ``k_factor`` is read with a deprecation
    warning). The m_T^WZ histogram has ``mt_wz_edges`` (GeV) plus the under- and overflow bins
    when enabled. Coverage uses a ``coverage_points``³ grid over ``ranges`` (odd, so that θ0 =
    SM is a grid point when the ranges are symmetric) and ``coverage_toys`` toys (0: no
    coverage) for ``coverage_methods`` (empty: the truth and every method).

    ``target_scale`` (an observable > 0, default ``"mt_wz"``; ``""``: none) is the energy
    the derivative targets are scaled by before training
    (:class:`madsbi.estimators.target_scale.TargetScale`): each network regresses t_k/g_k
    with g_k the RMS of t_k in bins of log m_T^WZ, so the energy-growing quadratic targets are
    learned in the bulk too (without it t̂_cW² was ≈ 65 % low at m_T^WZ = 300–500 GeV, issue 25).
    """

    study: str = STUDY_KIND
    train_store: str | tuple[str, ...] = "wz_reco_train"
    test_store: str | tuple[str, ...] = "wz_reco_test"
    bsm_store: str | tuple[str, ...] = ""
    rate_stores: tuple[str, ...] = ()
    rate_from_training: bool = True
    bsm_point: tuple[float, ...] = (1.0, 0.1, 0.1)
    methods: tuple[str, ...] = METHODS
    seed: int = 1
    ranges: tuple[tuple[float, float], ...] = ((-4.0, 4.0), (-0.4, 0.4), (-0.4, 0.4))
    points_1d: int = field(default=201, metadata=bounds(ge=3))
    points_2d: int = field(default=41, metadata=bounds(ge=3))
    luminosity_fb: float = field(default=300.0, metadata=bounds(gt=0))
    rate_factor: float = field(default=1.0, metadata=bounds(gt=0))
    rate_model: str = "exact"
    mt_wz_edges: tuple[float, ...] = MT_WZ_EDGES_GEV
    underflow: bool = True
    overflow: bool = True
    coverage_points: int = field(default=41, metadata=bounds(ge=3))
    coverage_toys: int = field(default=500, metadata=bounds(ge=0))
    coverage_methods: tuple[str, ...] = ()
    target_scale: str = TARGET_SCALE

    def __post_init__(self) -> None:
        if self.study != STUDY_KIND:
            raise ConfigError(f"[analysis] study: expected {STUDY_KIND!r}, got {self.study!r}")
        if self.target_scale and self.target_scale not in wz.PROCESS.observables:
            raise ConfigError(
                f'[analysis] target_scale: expected "" or one of '
                f"{list(wz.PROCESS.observables)}, got {self.target_scale!r}"
            )
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or len(set(self.methods)) != len(self.methods):
            raise ConfigError(
                f"[analysis] methods: expected distinct names from {METHODS}, got "
                f"{list(self.methods)}"
            )
        allowed = ("truth", *self.methods)
        bad = [m for m in self.coverage_methods if m not in allowed]
        if bad:
            raise ConfigError(
                f"[analysis] coverage_methods: expected names from {allowed}, got "
                f"{list(self.coverage_methods)}"
            )
        if self.rate_model not in RATE_MODELS:
            raise ConfigError(
                f"[analysis] rate_model: expected one of {RATE_MODELS}, got {self.rate_model!r}"
            )
        for lo_hi in self.ranges:
            if len(lo_hi) != 2 or not lo_hi[0] < lo_hi[1]:
                raise ConfigError(f"[analysis] ranges: expected [low, high] pairs, got {lo_hi}")
        edges = self.mt_wz_edges
        if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
            raise ConfigError(
                f"[analysis] mt_wz_edges: expected >= 2 increasing values, got {list(edges)}"
            )
        if self.coverage_points % 2 == 0:
            raise ConfigError(
                f"[analysis] coverage_points: expected an odd number (θ0 on the grid), got "
                f"{self.coverage_points}"
            )
        for key in ("train_store", "test_store", "bsm_store"):
            names = store_names(getattr(self, key))
            if (key != "bsm_store" and not names) or not all(names):
                raise ConfigError(
                    f"[analysis] {key}: expected a store name or a list of them (non-empty "
                    f"names), got {getattr(self, key)!r}"
                )
            if len(set(names)) != len(names):
                raise ConfigError(f"[analysis] {key}: a store is listed twice in {list(names)}")
        for name in self.bsm_stores:
            train = [t for t in self.train_stores if _same_store(t, name)]
            if train:
                raise ConfigError(
                    f"[analysis] train_store: {train[0]!r} is a closure store (bsm_store "
                    f"{name!r}); a closure sample must not train the model it tests"
                )
            if name in self.rate_stores:
                raise ConfigError(
                    f"[analysis] rate_stores: {name!r} is a closure store (bsm_store); "
                    f"a closure sample must not build the model it tests"
                )
        if self.rate_from_training:
            twice = [
                r for r in self.rate_stores if any(_same_store(t, r) for t in self.train_stores)
            ]
            if twice:
                raise ConfigError(
                    f"[analysis] rate_stores: {twice[0]!r} is a train store, which "
                    "rate_from_training = true pools already (it would count twice)"
                )

    @property
    def train_stores(self) -> tuple[str, ...]:
        """``train_store`` as a list."""
        return store_names(self.train_store)

    @property
    def test_stores(self) -> tuple[str, ...]:
        """``test_store`` as a list."""
        return store_names(self.test_store)

    @property
    def bsm_stores(self) -> tuple[str, ...]:
        """``bsm_store`` as a list (empty: no closure)."""
        return store_names(self.bsm_store)


def _same_store(a: str, b: str) -> bool:
    """Whether two store names of the config are one store (the name, or the same path)."""
    return a == b or Path(a).resolve() == Path(b).resolve()


def store_names(value: str | tuple[str, ...]) -> tuple[str, ...]:
    """One store name or a list of them, as a tuple (``""``: none)."""
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(value)


def _lgatr_network() -> NetworkConfig:
    return NetworkConfig(kind="lgatr", members=2, repulsion=100.0)


@dataclass(frozen=True)
class WZRecoStudyConfig:
    """A complete reco-level analysis."""

    analysis: RecoAnalysisSettings = field(default_factory=RecoAnalysisSettings)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    lgatr_network: NetworkConfig = field(default_factory=_lgatr_network)
    lgatr_training: TrainingConfig = field(default_factory=TrainingConfig)

    def __post_init__(self) -> None:
        if self.network.kind not in ("ensemble", "mlp"):
            raise ConfigError(
                f"[network] kind: the MLP method takes 'ensemble' or 'mlp', got "
                f"{self.network.kind!r} (L-GATr goes in [lgatr_network])"
            )
        if self.lgatr_network.kind != "lgatr":
            raise ConfigError(
                f"[lgatr_network] kind: expected 'lgatr', got {self.lgatr_network.kind!r}"
            )

    @classmethod
    def from_dict(cls, document: dict[str, Any], source: str = "config") -> WZRecoStudyConfig:
        """Build from a parsed TOML document; store paths stay as written."""
        analysis = document.get("analysis")
        if isinstance(analysis, dict) and "k_factor" in analysis:
            if "rate_factor" in analysis:
                raise ConfigError(
                    f"{source}: [analysis] k_factor and rate_factor: give rate_factor only"
                )
            warnings.warn(
                f"{source}: [analysis] k_factor is deprecated; call it rate_factor (the one "
                "name of the constant factor on σ in ν = F L σ)",
                DeprecationWarning,
                stacklevel=2,
            )
            analysis = {("rate_factor" if k == "k_factor" else k): v for k, v in analysis.items()}
            document = {**document, "analysis": analysis}
        return build_sections(cls, document, source)

    @classmethod
    def from_toml(cls, path: str | Path) -> WZRecoStudyConfig:
        """Read a TOML file (store paths relative to the working directory, as ``madsbi run``)."""
        return cls.from_dict(read_toml(path), str(path))


def check_channel_feature(config: WZRecoStudyConfig, processes: Sequence[str]) -> None:
    """With several processes, the charge sum ``sum_charge`` must be an input of every network.

    The networks tell the channels (W⁺Z, W⁻Z) apart by it. The MLP reads every reco
    observable; L-GATr reads the columns of its token layout.

    Raises
    ------
    ConfigError
        Naming ``[lgatr_network.lgatr] global_scalars`` when an explicit L-GATr layout leaves
        the column out.
    """
    from madsbi.nn.lgatr_config import LGATrConfig, resolve_layout
    from madsbi.studies.wz_reco_data import CHANNEL_OBSERVABLE, OBSERVABLES

    if len(processes) < 2 or "lgatr" not in config.analysis.methods:
        return
    lgatr = config.lgatr_network.lgatr or LGATrConfig()
    layout = resolve_layout(lgatr, len(OBSERVABLES))
    used = {c for p in layout.momenta for c in p}
    used |= {c for s in layout.token_scalars for c in s} | set(layout.global_scalars)
    column = OBSERVABLES.index(CHANNEL_OBSERVABLE)
    if column not in used:
        raise ConfigError(
            f"[lgatr_network.lgatr] global_scalars: the stores hold {len(processes)} processes "
            f"({list(processes)}), told apart by the charge sum {CHANNEL_OBSERVABLE!r} (column "
            f"{column}), which must be a network input; got global scalars "
            f"{list(layout.global_scalars)}"
        )


def is_reco_config(document: dict[str, Any]) -> bool:
    """Whether a parsed ``madsbi run`` config is a reco-level one (``[analysis] study``)."""
    table = document.get("analysis")
    return isinstance(table, dict) and table.get("study") == STUDY_KIND
