"""``madsbi simulate run CONFIG``: training, validation and test reco samples from one TOML.

The parton store's rows are split in order: the first ``train`` fraction and the next
``validation`` fraction are simulated with fractional smearing (paper Sec. 4.2), the rest
without (the test sample). Each split is one store in the output folder, written atomically;
a rerun skips the splits whose store exists. Example: ``examples/wz_reco_sim.toml``.

Tables: ``[sample]`` (store, fractions, seed), ``[reco]`` (selection, shower, card, smearing,
detector variations, output options), ``[run]`` (chunk size, jobs, workers).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from madsbi.config import build_sections, read_toml
from madsbi.data import SAMPLES, sample_path
from madsbi.errors import ConfigError, InputError, MissingFileError
from madsbi.events.store import EventStore
from madsbi.processes import DEFAULT_PROCESS, registered_processes
from madsbi.production.plan import ClusterSettings
from madsbi.simulate.detector import load_card
from madsbi.simulate.reco import RecoConfig, simulate_reco
from madsbi.simulate.reco_jobs import run_reco_jobs
from madsbi.simulate.variations import parse_variations

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SampleSettings:
    """``[sample]``: the parton store, the split fractions and the run seed.

    ``store`` is a shipped sample name or a path relative to the config file; ``train`` and
    ``validation`` are fractions of the rows (the rest is the test sample); the splits use
    the seeds seed, seed + 1 and seed + 2.
    """

    store: str = "wz_leptonic"
    train: float = 0.6
    validation: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.train > 0 and self.validation >= 0 and self.train + self.validation < 1):
            raise ConfigError(
                f"[sample] train, validation: need 0 < train, 0 <= validation and "
                f"train + validation < 1 (the rest is the test sample), got {self.train}, "
                f"{self.validation}"
            )


@dataclass(frozen=True)
class RecoSettings:
    """``[reco]``: selection, Pythia setting, detector card, smearing and output options.

    The options of :func:`~madsbi.simulate.reco.simulate_reco` and of
    :class:`~madsbi.simulate.reco.RecoConfig`; ``selection`` names the registered process
    whose reco selection is applied (:func:`madsbi.processes.get_process`; default ``"wz"``);
    ``variations`` the paired ±1σ detector variations simulated in every split
    (:mod:`madsbi.simulate.variations`; ``["all"]``: all that the card sizes).
    """

    selection: str = DEFAULT_PROCESS
    shower: str = "default"
    card: str = "atlas_like"
    threshold: float = 0.5
    max_copies: int = 50
    pythia: tuple[str, ...] = field(default_factory=tuple)
    passed_only: bool = False
    compression: str = "none"
    variations: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.selection not in registered_processes():
            raise ConfigError(
                f"[reco] selection: expected one of the registered processes "
                f"{list(registered_processes())}, got {self.selection!r}"
            )
        card = load_card(self.card)
        try:
            names = parse_variations(",".join(self.variations), card) if self.variations else ()
        except InputError as exc:
            raise ConfigError(f"[reco] variations: {exc}") from None
        object.__setattr__(self, "variations", names)
        if self.compression not in ("none", "lzf", "gzip"):
            raise ConfigError(
                f"[reco] compression: expected 'none', 'lzf' or 'gzip', got {self.compression!r}"
            )


@dataclass(frozen=True)
class RunSettings:
    """``[run]``: parent events per chunk, Dask jobs per split (1: in this process), workers."""

    chunk_size: int = 1000
    jobs: int = 1
    workers: int = 2


@dataclass(frozen=True)
class RecoSimConfig:
    """The whole file."""

    sample: SampleSettings
    reco: RecoSettings
    run: RunSettings

    @classmethod
    def from_toml(cls, path: str | Path) -> RecoSimConfig:
        """Read and check a config file (errors name the file, table and key)."""
        return build_sections(cls, read_toml(path), str(path))


def resolve_store(name: str, config_path: Path) -> Path:
    """A shipped sample's path, or ``name`` relative to the config file's folder."""
    if name in SAMPLES:
        return sample_path(name)
    path = Path(name)
    path = path if path.is_absolute() else config_path.parent / path
    if not path.is_file():
        raise MissingFileError(f"{config_path}: [sample] store {name!r} not found ({path})")
    return path


def run_config(
    config_path: str | Path,
    out_dir: str | Path,
    *,
    max_events: int | None = None,
    chunk_size: int | None = None,
    workers: int | None = None,
    jobs: int | None = None,
    progress: bool = False,
) -> dict[str, dict[str, object]]:
    """Simulate the three splits into ``out_dir/{train,validation,test}.h5``.

    Returns
    -------
    dict
        Per split: rows, smearing, and the run's report (or ``"skipped"``); also written to
        ``out_dir/summary.json``.
    """
    path = Path(config_path)
    config = RecoSimConfig.from_toml(path)
    store = resolve_store(config.sample.store, path)
    with EventStore(store) as parton:
        n = parton.n_events()
    n = min(n, max_events) if max_events is not None else n
    a = round(config.sample.train * n)
    b = a + round(config.sample.validation * n)
    rows = {"train": (0, a), "validation": (a, b), "test": (b, n)}
    empty = [s for s in ("train", "test") if rows[s][1] <= rows[s][0]]
    if empty:
        raise ConfigError(f"{path}: {n} events leave the split(s) {empty} empty")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    r = config.reco
    chunks = chunk_size or config.run.chunk_size
    n_jobs = jobs or config.run.jobs
    summary: dict[str, dict[str, object]] = {}
    for k, split in enumerate(SPLITS):
        lo, hi = rows[split]
        if hi <= lo:
            continue
        reco = RecoConfig(
            config.sample.seed + k,
            split != "test",
            r.threshold,
            r.max_copies,
            r.shower,
            r.card,
            r.pythia,
            r.selection,
            r.variations,
        )
        target = out / f"{split}.h5"
        entry: dict[str, object] = {"rows": [lo, hi], "smear": reco.smear, "store": str(store)}
        if target.exists():
            summary[split] = {**entry, "status": "skipped (exists)"}
            continue
        filter_ = None if r.compression == "none" else r.compression
        if n_jobs == 1:
            report = simulate_reco(
                store,
                target,
                reco,
                start=lo,
                stop=hi,
                chunk_size=chunks,
                progress=progress,
                passed_only=r.passed_only,
                compression=filter_,
            )
            summary[split] = {**entry, "status": "done", "report": report.describe()}
        else:
            run_reco_jobs(
                store,
                target,
                reco,
                n_jobs=n_jobs,
                start=lo,
                stop=hi,
                chunk_size=chunks,
                cluster=ClusterSettings(n_workers=workers or config.run.workers),
                progress=progress,
                passed_only=r.passed_only,
                compression=filter_,
            )
            summary[split] = {**entry, "status": "done", "jobs": n_jobs}
    summary["config"] = {"file": str(path), **asdict(config)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary
