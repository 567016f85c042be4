"""Configuration of a BINN study (``madsbi binn run CONFIG.toml``), bellagente2022."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from madsbi.config import build_sections, read_toml
from madsbi.errors import ConfigError
from madsbi.generative.binn import BINNTraining
from madsbi.generative.inn import INNConfig
from madsbi.generative.toys import TOYS

KINDS = (*TOYS, "training_size", "drell_yan")


@dataclass(frozen=True)
class BINNStudySettings:
    """What to study.

    Attributes
    ----------
    kind : str
        ``"wedge"`` (Sec. 3.1), ``"kicker"`` (3.2), ``"ring"`` (3.3), ``"training_size"``
        (3.4, Fig. 7) or ``"drell_yan"`` (Sec. 4).
    seed : int
        Seeds the toy samples, the weight draws and the generated events.
    n_train : int
        Training events of a toy (paper: 300k).
    toy : str
        The toy of the training-size study (paper: the kicker ramp).
    training_sizes : tuple of int
        Sample sizes of the training-size study (paper: 10k, 100k, 1M), each trained with
        the same number of weight updates.
    data : str
        Drell-Yan event store; empty: the shipped ``madsbi/data/drell_yan.h5``.
    max_events : int
        Use at most this many Drell-Yan events (0: all).
    """

    kind: str = "kicker"
    seed: int = 1
    n_train: int = 300_000
    toy: str = "kicker"
    training_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    data: str = ""
    max_events: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"[study] kind: expected one of {KINDS}, got {self.kind!r}")
        if self.toy not in TOYS:
            raise ConfigError(f"[study] toy: expected one of {TOYS}, got {self.toy!r}")
        if self.n_train < 100:
            raise ConfigError(f"[study] n_train: expected >= 100, got {self.n_train}")
        if not self.training_sizes or min(self.training_sizes) < 100:
            raise ConfigError(
                f"[study] training_sizes: expected sizes >= 100, got {self.training_sizes}"
            )
        if self.max_events < 0:
            raise ConfigError(f"[study] max_events: expected >= 0, got {self.max_events}")


@dataclass(frozen=True)
class BINNEvaluation:
    """How to evaluate the trained BINN.

    Attributes
    ----------
    n_draws : int
        Weight draws M for p and σ_pred (paper: 30–50).
    n_lines : int
        Lines of constant y (φ for the ring) for Figs. 2, 4, 6.
    n_points : int
        Points per line inside the reduced range.
    band_sigmas : float
        Coverage criterion |p − p_true| ≤ band_sigmas · σ_pred.
    marginal : bool
        Compute marginalised densities with both procedures of Sec. 3.5 (Fig. 8).
    n_samples : int
        Events N per weight draw for marginal distributions (paper: 10⁵–10⁶).
    n_bins : int
        Bins of the marginal histograms.
    n_generated : int
        Events written to ``generated.h5`` under ``/generated`` with σ_pred/p (0: none).
    sigma_at : float
        Point of the physical coordinate where the training-size study reads σ_pred
        (paper: x = 0.5).
    """

    n_draws: int = 30
    n_lines: int = 9
    n_points: int = 60
    band_sigmas: float = 2.0
    marginal: bool = True
    n_samples: int = 100_000
    n_bins: int = 40
    n_generated: int = 10_000
    sigma_at: float = 0.5

    def __post_init__(self) -> None:
        if self.n_draws < 2:
            raise ConfigError(f"[evaluation] n_draws: expected >= 2, got {self.n_draws}")
        if self.n_lines < 1 or self.n_points < 5:
            raise ConfigError(
                "[evaluation] n_lines >= 1 and n_points >= 5 required, got "
                f"{self.n_lines}, {self.n_points}"
            )
        if not self.band_sigmas > 0:
            raise ConfigError(f"[evaluation] band_sigmas: expected > 0, got {self.band_sigmas}")
        if self.n_samples < 100 or self.n_bins < 2 or self.n_generated < 0:
            raise ConfigError(
                "[evaluation] n_samples >= 100, n_bins >= 2, n_generated >= 0 required, got "
                f"{self.n_samples}, {self.n_bins}, {self.n_generated}"
            )


@dataclass(frozen=True)
class BINNStudyConfig:
    """A complete BINN study: ``[study]``, ``[evaluation]``, ``[network]``, ``[training]``."""

    study: BINNStudySettings = field(default_factory=BINNStudySettings)
    evaluation: BINNEvaluation = field(default_factory=BINNEvaluation)
    network: INNConfig = field(default_factory=INNConfig)
    training: BINNTraining = field(default_factory=BINNTraining)

    @classmethod
    def from_dict(cls, document: dict[str, Any], source: str = "config") -> BINNStudyConfig:
        """Build from a parsed TOML document; unknown sections or keys are refused by name."""
        return build_sections(cls, document, source)

    @classmethod
    def from_toml(cls, path: str | Path) -> BINNStudyConfig:
        """Read a TOML file."""
        return cls.from_dict(read_toml(path), str(path))
