"""Memory and disk a run needs, estimated before it starts, refused when the machine lacks them.

``toy generate -n 10**12``, ``hidden = [10**9, 8]``, ``members = 10**8``, a 10⁹-point grid
or 10¹² coverage toys used to start and then fill the disk or die in an allocation
traceback. The commands that start long runs first add up what the run will certainly hold
at once (:class:`Need`: arrays whose size the configuration fixes; each estimate is a lower
bound, so a refusal is never a false alarm) and compare the total with the memory available
(``MemAvailable``, or a smaller cgroup limit) and the free space where the output goes. A
run that cannot fit is refused with the numbers and the settings that set them.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from madsbi.errors import ResourceError
from madsbi.theory.polynomial import n_coefficients

#: Bytes of one float64 / float32 value.
F8, F4 = 8, 4
#: Bytes per event of a toy store (parton: weight, 3 coefficients, 1 feature; reco: x,
#: weight, smearing weight, parent, copy index), checksums not counted.
TOY_STORE_BYTES_PER_EVENT = 76
#: Per trainable float32 parameter during training: the weight, its gradient and Adam's two
#: moments.
TRAINING_BYTES_PER_PARAMETER = 4 * F4


@dataclass(frozen=True)
class Need:
    """Bytes of memory and disk one part of a run certainly needs (lower bounds)."""

    what: str
    memory: int = 0
    disk: int = 0


def _size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 1e3:.1f} kB"


def available_memory() -> int | None:
    """Bytes of memory available to this process (``MemAvailable``, a cgroup limit), if known."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            found.append(int(text))
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError):
            return None
    return min(found)


def free_disk(path: str | Path) -> int | None:
    """Free bytes on the file system where ``path`` (or its nearest existing parent) lies."""
    folder = Path(path).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def check_needs(needs: Iterable[Need], output: str | Path, *, what: str) -> None:
    """Refuse a run whose needs exceed the available memory or the free disk at ``output``.

    Raises
    ------
    ResourceError
        Naming the resource, the estimate, what is available and the largest parts.
    """
    parts = list(needs)
    for resource, available in (("memory", available_memory()), ("disk", free_disk(output))):
        amounts = [(getattr(n, resource), n.what) for n in parts if getattr(n, resource) > 0]
        needed = sum(a for a, _ in amounts)
        if available is None or needed <= available:
            continue
        largest = sorted(amounts, reverse=True)[:3]
        detail = "; ".join(f"{text}: {_size(amount)}" for amount, text in largest)
        place = "memory available" if resource == "memory" else f"free disk at {output}"
        raise ResourceError(
            f"{what}: this run needs at least {_size(needed)} of {resource} ({detail}), but "
            f"the machine has {_size(available)} of {place}; nothing was started: ask for "
            "fewer events, smaller networks, grids or toys",
            resource,
            needed,
            available,
        )


def network_parameters(n_inputs: int, hidden: Sequence[int], n_outputs: int) -> int:
    """Weights and biases of one MLP member with these layer widths."""
    widths = [int(n_inputs), *(int(h) for h in hidden), int(n_outputs)]
    return sum(a * b + b for a, b in itertools.pairwise(widths))


def network_need(network: Any, n_inputs: int, n_outputs: int, n_networks: int, where: str) -> Need:
    """Training memory and saved weights of ``n_networks`` networks of ``network`` config."""
    hidden = tuple(getattr(network, "hidden", ()) or ())
    members = int(getattr(network, "members", 1) or 1)
    n = network_parameters(n_inputs, hidden, n_outputs) * members * max(1, n_networks)
    return Need(
        f"{where} hidden {list(hidden)} × members {members} × {max(1, n_networks)} "
        f"network(s): {n:.3g} parameters",
        memory=n * TRAINING_BYTES_PER_PARAMETER,
        disk=n * F4,
    )


def toy_generate_needs(n_events: int) -> list[Need]:
    """``toy generate -n N``: the store on disk (events are generated in chunks)."""
    return [Need(f"-n {n_events:,} toy events", disk=n_events * TOY_STORE_BYTES_PER_EVENT)]


def toy_study_needs(config: Any) -> list[Need]:
    """A toy study (``madsbi toy run``): samples, networks, grids and coverage toys."""
    study, data = config.study, config.data
    k = n_coefficients(1)
    needs = [
        Need(f"[study] n_test = {study.n_test:,} test events", memory=study.n_test * (k + 2) * F8),
        Need(
            f"[data] n_derivative = {data.n_derivative:,} and n_per_basis = "
            f"{data.n_per_basis:,} training events",
            memory=(data.n_derivative + 3 * data.n_per_basis) * (k + 2) * F8,
        ),
        network_need(config.network, 1, 1, len(study.methods), "[network]"),
    ]
    members = int(getattr(config.network, "members", 1) or 1)
    n_grid = int(study.grid[2])
    needs.append(
        Need(f"[study] grid of {n_grid:,} θ points", memory=n_grid * (k + 2 * members) * F8)
    )
    smearing = getattr(config, "smearing", None)
    if smearing is not None and "smearing" in study.methods:
        needs.append(
            Need(
                f"[smearing] n_events = {smearing.n_events:,}",
                memory=smearing.n_events * (k + 2) * F8,
            )
        )
    coverage = getattr(config, "coverage", None)
    if coverage is not None and coverage.enabled:
        needs.append(
            Need(
                f"[coverage] n_toys = {coverage.n_toys:,} on {coverage.grid_points:,} points",
                memory=coverage.n_toys * (len(coverage.gammas) + 1) * F8
                + coverage.grid_points * (k + members) * F8,
            )
        )
    return needs


def wz_study_needs(config: Any) -> list[Need]:
    """A W±Z parton or reco study (``madsbi run``): networks, grids and coverage toys."""
    analysis = config.analysis
    n = len(getattr(analysis, "bsm_point", (0.0, 0.0, 0.0)))
    k = n_coefficients(n)
    n_inputs = len(getattr(analysis, "features", ())) or 1
    methods = len(getattr(analysis, "methods", ())) or 1
    needs = [network_need(config.network, n_inputs, 1, methods, "[network]")]
    members = int(getattr(config.network, "members", 1) or 1)
    points_1d = int(getattr(analysis, "points_1d", 0))
    points_2d = int(getattr(analysis, "points_2d", 0))
    limit = int(getattr(analysis, "limit_points", 0))
    largest = max(points_1d, points_2d**2, limit)
    needs.append(
        Need(
            f"[analysis] grids (points_1d {points_1d:,}, points_2d {points_2d:,}² , "
            f"limit_points {limit:,})",
            memory=largest * (k + members) * F8,
        )
    )
    toys = int(getattr(analysis, "coverage_toys", 0))
    coverage_points = int(getattr(analysis, "coverage_points", 0))
    if toys:
        needs.append(
            Need(
                f"[analysis] coverage_toys = {toys:,} on a grid of coverage_points "
                f"{coverage_points:,} per parameter",
                memory=toys * 2 * F8 + coverage_points**n * (k + members) * F8,
            )
        )
    return needs


#: Dimensions of the BINN studies' events: the 2D toys and Drell-Yan's four-dimensional
#: phase space (bellagente2022 Secs. 3, 4).
BINN_TOY_DIM, BINN_DRELL_YAN_DIM = 2, 4


def binn_study_needs(config: Any) -> list[Need]:
    """A BINN study (``madsbi binn run``): training events, marginals and generated events.

    Each estimate is a lower bound in float32: the training sample, the latent points and
    events of one weight draw of the marginal histograms (``n_samples``, after training), and
    the generated events in memory and in ``generated.h5``.
    """
    study, evaluation = config.study, config.evaluation
    dim = BINN_DRELL_YAN_DIM if study.kind == "drell_yan" else BINN_TOY_DIM
    needs = []
    if study.kind == "training_size":
        n_train = max(study.training_sizes)
        what = f"[study] training_sizes up to {n_train:,} training events"
    elif study.kind == "drell_yan":
        n_train = int(study.max_events)
        what = f"[study] max_events = {n_train:,} training events"
    else:
        n_train = int(study.n_train)
        what = f"[study] n_train = {n_train:,} training events"
    if n_train:
        needs.append(Need(what, memory=n_train * dim * F4))
    if evaluation.marginal or study.kind == "drell_yan":
        needs.append(
            Need(
                f"[evaluation] n_samples = {evaluation.n_samples:,} events per weight draw "
                "(latent points and events)",
                memory=2 * evaluation.n_samples * dim * F4,
            )
        )
    if evaluation.n_generated:
        needs.append(
            Need(
                f"[evaluation] n_generated = {evaluation.n_generated:,} generated events",
                memory=evaluation.n_generated * dim * F4,
                disk=evaluation.n_generated * (dim + 2) * F4,
            )
        )
    return needs
