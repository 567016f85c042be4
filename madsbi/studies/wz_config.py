"""Configuration of the WZ parton-level analysis (``madsbi run CONFIG.toml``, paper Sec. 4.1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from madsbi.config import bounds, build_sections, read_toml
from madsbi.errors import ConfigError
from madsbi.estimators.trainer import TrainingConfig
from madsbi.inference.likelihood import PROJECTIONS
from madsbi.nn.build import NetworkConfig
from madsbi.processes.wz_parton import OBSERVABLES

METHODS = ("derivative", "morphing_aware")

# Paper App. C, eq. 54: θ = (cHWB, cW, cHq3); θ0 = SM completes the ten points.
PAPER_BASIS = (
    (-4.0, 0.0, 0.0),
    (4.0, 0.0, 0.0),
    (0.0, -0.2, 0.0),
    (0.0, 0.2, 0.0),
    (0.0, 0.0, -0.2),
    (0.0, 0.0, 0.2),
    (-1.2, -0.09, 0.0),
    (-1.2, 0.0, -0.09),
    (0.0, -0.09, -0.09),
)


@dataclass(frozen=True)
class AnalysisSettings:
    """Sample, features, evaluation grids and luminosity.

    ``store`` is an event store path or the name of a shipped sample (``wz_parton``);
    ``stores`` adds further stores (W⁻Z, samples generated at basis or BSM points), pooled
    per channel by multiple importance weighting (:mod:`madsbi.studies.wz_data`). Every
    store's events are split once (seeded) into a test part of ``test_fraction``, a
    validation part of ``validation_fraction`` (for choosing hyper-parameters; not trained
    on) and the training part. ``rate_stores`` (samples generated at basis or BSM points)
    join the test part whole: they make the rate model σ(θ) and the truth curves cover the
    θ range, and are never trained on. ``bsm_stores`` are samples generated at the BSM point
    (never trained on): the study reports ⟨log r⟩ on them and fits them for closure
    (:mod:`madsbi.studies.wz_closure`);
    the SM test sample is the test part with its generation weights, the BSM test sample the
    same events reweighted exactly to ``bsm_point`` (paper: cHWB = 1, cW = cHq3 = 0.1).

    Expected limits use an Asimov-like SM sample with ν0 = L σ(θ0) · ``rate_factor`` events;
    ``rate_factor`` multiplies the stored parton cross-section (a K-factor, branching ratios).
    ``projection`` makes every event's learned quadratic R(x|θ) non-negative before scanning
    (:class:`madsbi.inference.likelihood.NonNegativeRatio`): ``keep_reference`` moves only the
    quadratic block (R̂(θ0) and the slope stay, Asimov fits stay at θ0), ``full`` projects the
    whole form, ``none`` scans the raw estimate.
    """

    store: str = "wz_parton"
    stores: tuple[str, ...] = ()
    rate_stores: tuple[str, ...] = ()
    bsm_stores: tuple[str, ...] = ()
    methods: tuple[str, ...] = METHODS
    features: tuple[str, ...] = ("log_s", "log_minus_t", "charge")
    test_fraction: float = 0.25
    validation_fraction: float = field(default=0.0, metadata=bounds(ge=0))
    seed: int = 1
    bsm_point: tuple[float, ...] = (1.0, 0.1, 0.1)
    ranges: tuple[tuple[float, float], ...] = ((-4.0, 4.0), (-0.4, 0.4), (-0.4, 0.4))
    points_1d: int = 61
    points_2d: int = 31
    band_sigmas: float = 2.0
    luminosity_fb: float = 300.0
    rate_factor: float = 1.0
    limit_points: int = 2001
    projection: str = "keep_reference"
    joint_derivative: bool = False
    """Derivative learning with one network for all coefficient ratios (outputs standardised
    one by one) instead of one network per ratio: K − 1 times cheaper to train."""

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ConfigError(f"[analysis] methods: expected some of {METHODS}, got {self.methods}")
        bad = [f for f in self.features if f not in OBSERVABLES]
        if bad or not self.features:
            raise ConfigError(
                f"[analysis] features: expected names from {sorted(OBSERVABLES)}, got "
                f"{list(self.features)}"
            )
        if self.projection not in PROJECTIONS:
            raise ConfigError(
                f"[analysis] projection: expected one of {PROJECTIONS}, got {self.projection!r}"
            )
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(
                f"[analysis] test_fraction: expected in (0, 1), got {self.test_fraction}"
            )
        if not self.test_fraction + self.validation_fraction < 1.0:
            raise ConfigError(
                "[analysis] validation_fraction: test_fraction + validation_fraction must be "
                f"< 1, got {self.test_fraction} + {self.validation_fraction}"
            )
        for lo_hi in self.ranges:
            if len(lo_hi) != 2 or not lo_hi[0] < lo_hi[1]:
                raise ConfigError(f"[analysis] ranges: expected [low, high] pairs, got {lo_hi}")
        if self.points_1d < 3 or self.points_2d < 3 or self.limit_points < 3:
            raise ConfigError("[analysis] points_1d, points_2d and limit_points must be >= 3")
        if not (self.luminosity_fb > 0 and self.rate_factor > 0 and self.band_sigmas > 0):
            raise ConfigError(
                "[analysis] luminosity_fb, rate_factor and band_sigmas must be > 0, got "
                f"{self.luminosity_fb}, {self.rate_factor}, {self.band_sigmas}"
            )


@dataclass(frozen=True)
class MorphingSettings:
    """Morphing-aware learning: basis points besides θ0 and the loss (paper: eq. 54, eq. 55).

    ``repulsion`` overrides the ensemble repulsion of ``[network]`` for the per-basis
    networks (their targets, ratios of order 1, need a different strength than the
    derivative targets); ``None`` keeps the ``[network]`` value.
    """

    basis: tuple[tuple[float, ...], ...] = PAPER_BASIS
    loss: str = "mse"
    repulsion: float | None = None

    def __post_init__(self) -> None:
        if self.loss not in ("alice", "carl", "mse"):
            raise ConfigError(f"[morphing] loss: expected alice, carl or mse, got {self.loss!r}")
        if self.repulsion is not None and not self.repulsion >= 0:
            raise ConfigError(f"[morphing] repulsion: expected >= 0, got {self.repulsion}")


@dataclass(frozen=True)
class WZStudyConfig:
    """A complete parton-level analysis."""

    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    morphing: MorphingSettings = field(default_factory=MorphingSettings)

    @classmethod
    def from_dict(cls, document: dict[str, Any], source: str = "config") -> WZStudyConfig:
        """Build from a parsed TOML document."""
        return build_sections(cls, document, source)

    @classmethod
    def from_toml(cls, path: str | Path) -> WZStudyConfig:
        """Read a TOML file."""
        return cls.from_dict(read_toml(path), str(path))
