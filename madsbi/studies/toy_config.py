"""Configuration of a toy study (``madsbi toy run CONFIG.toml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from madsbi.config import bounds, build_sections, read_toml
from madsbi.errors import ConfigError
from madsbi.estimators.trainer import TrainingConfig
from madsbi.inference.likelihood import PROJECTIONS
from madsbi.nn.build import NetworkConfig

METHODS = ("derivative", "morphing_aware", "single_network_morphing", "smearing")


@dataclass(frozen=True)
class StudySettings:
    """What to compare and where to test (paper Sec. 3).

    ``expected_events0`` = L σ(θ0) sets the luminosity of the expected limits, computed from
    an Asimov-like θ0 sample (every event weighted by L σ(θ0)/N). ``projection`` makes every
    method's per-event quadratic R(x|θ) ≥ 0 for all θ before scanning
    (:func:`madsbi.inference.likelihood.projected`): ``keep_reference`` (default) moves only
    the quadratic term, so R̂(x|θ0) and its slope stay as learned (an estimator with
    R̂(x|θ0, θ0) = 1 by construction keeps ⟨log r⟩ = 0 at θ0); ``full`` is the nearest
    non-negative polynomial; ``none`` scans the networks as they are.
    """

    alpha: float = 1.5
    methods: tuple[str, ...] = ("derivative", "morphing_aware")
    seed: int = 1
    theta_test: float = 0.6
    n_test: int = 100_000
    grid: tuple[float, float, int] = (-1.5, 1.5, 61)
    band_sigmas: float = field(default=2.0, metadata=bounds(gt=0))
    expected_events0: float = field(default=1000.0, metadata=bounds(gt=0))
    projection: str = "keep_reference"
    seeds: tuple[int, ...] = field(default=(), metadata=bounds(ge=0))
    """Run the study once per seed (``[study] seed`` ignored), each in OUT/seed_<s>/, and
    write mean ± std of every metric over them into OUT/summary.json (empty: one run)."""

    def __post_init__(self) -> None:
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"[study] seeds: expected distinct seeds, got {list(self.seeds)}")
        if self.projection not in PROJECTIONS:
            raise ConfigError(
                f"[study] projection: expected one of {PROJECTIONS}, got {self.projection!r}"
            )
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ConfigError(f"[study] methods: expected some of {METHODS}, got {self.methods}")
        lo, hi, n = self.grid
        if not (lo < hi and int(n) >= 3):
            raise ConfigError(f"[study] grid: expected [low, high, n >= 3], got {self.grid}")
        if self.n_test < 10:
            raise ConfigError(f"[study] n_test: expected >= 10, got {self.n_test}")


@dataclass(frozen=True)
class DataSettings:
    """Training-sample sizes (paper: 3·10⁵ at θ0 for derivative learning, 10⁵ per basis point)."""

    n_derivative: int = 300_000
    n_per_basis: int = 100_000
    basis: tuple[float, ...] = (-1.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        if self.n_derivative < 100 or self.n_per_basis < 100:
            raise ConfigError("[data] sample sizes must be >= 100")
        if len(self.basis) != 3:
            raise ConfigError(f"[data] basis: one parameter needs 3 points, got {self.basis}")


@dataclass(frozen=True)
class MorphingSettings:
    """Morphing-aware loss and the single-network baseline."""

    loss: str = "alice"
    single_network_hidden: tuple[int, ...] = (32, 32, 32)
    """Hidden layers of *each* component network of the single-network baseline."""
    single_network_loss: str = "alice"
    """alice, alices, carl or mse (MadMiner's ROLR form), see
    :class:`madsbi.estimators.single_network.SingleNetworkMorphingEstimator`."""
    prior: str = "gauss"
    """θ prior of the baseline's training pairs: gauss N(0, prior_std²), uniform ±prior_std."""
    prior_std: float = 1.0
    repulsion: float | None = None
    """Ensemble repulsion λ of both morphing methods' networks (unset: ``[network] repulsion``,
    which derivative learning always uses)."""
    epochs: int | None = None
    """Training epochs of both morphing methods (unset: ``[training] epochs``)."""
    runs: int | None = None
    """Pooled training runs of both morphing methods (unset: ``[training] runs``)."""
    single_network_epochs: int | None = None
    """Training epochs of the single-network baseline alone (unset: ``epochs`` above)."""

    def __post_init__(self) -> None:
        if self.repulsion is not None and not self.repulsion >= 0:
            raise ConfigError(f"[morphing] repulsion: expected >= 0, got {self.repulsion}")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"[morphing] epochs: expected >= 1, got {self.epochs}")
        if self.single_network_epochs is not None and self.single_network_epochs < 1:
            raise ConfigError(
                f"[morphing] single_network_epochs: expected >= 1, got {self.single_network_epochs}"
            )
        if self.runs is not None and self.runs < 1:
            raise ConfigError(f"[morphing] runs: expected >= 1, got {self.runs}")
        if self.loss not in ("alice", "carl", "mse"):
            raise ConfigError(f"[morphing] loss: expected alice, carl or mse, got {self.loss!r}")
        if self.single_network_loss not in ("alice", "alices", "carl", "mse"):
            raise ConfigError(
                "[morphing] single_network_loss: expected alice, alices, carl or mse, got "
                f"{self.single_network_loss!r}"
            )
        if self.prior not in ("gauss", "uniform"):
            raise ConfigError(f"[morphing] prior: expected gauss or uniform, got {self.prior!r}")
        if not self.prior_std > 0:
            raise ConfigError(f"[morphing] prior_std: expected > 0, got {self.prior_std}")


@dataclass(frozen=True)
class SmearingSettings:
    """Derivative learning of R_θθ with and without fractional smearing (Sec. 3.2)."""

    n_events: int = field(default=100_000, metadata=bounds(ge=100))
    threshold: float = field(default=0.5, metadata=bounds(gt=0))
    max_copies: int = field(default=100, metadata=bounds(ge=1))
    tail_from: float = 2.0
    tail_to: float = 4.5
    flatten_cap: float = field(default=1.0, metadata=bounds(ge=1))
    """Loss weights min(cap, p̂_max/p̂(x)) flatten the density of the training inputs (a
    weighted histogram p̂) where it falls by up to ``cap``; 1 = off. They depend on x only, so
    the minimiser E[R_θθ(z)|x] stays; they move the network's capacity towards the tail."""

    def __post_init__(self) -> None:
        if not self.tail_from < self.tail_to:
            raise ConfigError(
                f"[smearing] tail_from, tail_to: expected tail_from < tail_to, got "
                f"{self.tail_from}, {self.tail_to}"
            )


@dataclass(frozen=True)
class CoverageSettings:
    """Toys for the empirical coverage of eq. 53."""

    enabled: bool = True
    n_toys: int = 500
    expected_events: float = 2000.0
    gammas: tuple[float, ...] = (0.68, 0.95)
    method: str = "derivative"
    grid_points: int = 241

    def __post_init__(self) -> None:
        learned = ("derivative", "morphing_aware", "single_network_morphing")
        if self.method not in learned:
            raise ConfigError(f"[coverage] method: expected one of {learned}, got {self.method!r}")
        if self.n_toys < 1 or not self.expected_events > 0 or self.grid_points < 3:
            raise ConfigError(
                "[coverage] n_toys >= 1, expected_events > 0 and grid_points >= 3 required, got "
                f"{self.n_toys}, {self.expected_events}, {self.grid_points}"
            )
        if not self.gammas or not all(0 < g < 1 for g in self.gammas):
            raise ConfigError(f"[coverage] gammas: expected levels in (0, 1), got {self.gammas}")


@dataclass(frozen=True)
class ToyStudyConfig:
    """A complete toy study."""

    study: StudySettings = field(default_factory=StudySettings)
    data: DataSettings = field(default_factory=DataSettings)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    morphing: MorphingSettings = field(default_factory=MorphingSettings)
    smearing: SmearingSettings = field(default_factory=SmearingSettings)
    coverage: CoverageSettings = field(default_factory=CoverageSettings)

    def __post_init__(self) -> None:
        cov = self.coverage
        if cov.enabled and cov.method not in self.study.methods:
            raise ConfigError(
                f"[coverage] method: {cov.method!r} is not among [study] methods "
                f"{list(self.study.methods)}; add it there, choose one of them, or set "
                "[coverage] enabled = false"
            )

    @classmethod
    def from_dict(cls, document: dict[str, Any], source: str = "config") -> ToyStudyConfig:
        """Build from a parsed TOML document."""
        return build_sections(cls, document, source)

    @classmethod
    def from_toml(cls, path: str | Path) -> ToyStudyConfig:
        """Read a TOML file."""
        return cls.from_dict(read_toml(path), str(path))
