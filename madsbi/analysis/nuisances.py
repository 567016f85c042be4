"""Nuisance parameters of a fit (issue 27): their declaration, and pulls, constraints, impacts.

An analysis declares its systematic uncertainties in ``analysis.json`` under ``"nuisances"``,
a list of entries

    {"name": "lumi", "kind": "normalisation", "size": 0.02}
    {"name": "xsec_signal", "kind": "normalisation", "size": 0.1, "components": ["signal"]}

- ``name``: the nuisance parameter α's name (letters, digits, ``_``; ``lumi``,
  ``xsec_<process>``, … as in issue 27), unique;
- ``kind``: ``"normalisation"``, a log-normal factor η = (1 + size)^α on the expected events
  (:class:`madsbi.inference.modifiers.Normalisation`) with a unit Gaussian constraint;
- ``size``: the relative 1σ uncertainty, a finite number > 0 (0.02 = 2 %);
- ``components`` (optional): the likelihood components it scales; absent or empty: all.
  A fit of :mod:`madsbi.analysis.fit` has one component, ``"signal"`` (every process of the
  analysis, pooled).

A detector variation learned from paired events (:mod:`madsbi.analysis.shape_nuisances`,
``madsbi analysis-nuisances``) is an entry of kind ``"shape"``,

    {"name": "lep_scale_e", "kind": "shape", "size": 0.005, "path": "nuisances/lep_scale_e",
     "rate_up": 0.998, "rate_down": 1.002}

- ``size``: the detector card's 1σ size of the variation (a record: the factors are learned);
- ``path``: the trained ratio (x → log r(x|±1)) inside the analysis directory;
- ``rate_up``, ``rate_down``: the acceptance factors η(±1) from the paired cut flags;
- ``training`` (optional): an object recording how the ratio was trained.

It becomes a per-event shape modifier (:class:`madsbi.inference.modifiers.LearnedShape`),
interpolated per event, with a unit Gaussian constraint.

``madsbi fit`` profiles them all (``--stat-only`` drops them, ``--fix NAME=VALUE`` holds one,
``--nuisance NAME=SIZE`` adds a normalisation on every component or resizes a declared one).

After the fit: the **pull** of each nuisance is α̂ at the best fit (its prior is N(0, 1));
its **constraint** is the post-fit standard deviation √(−H⁻¹)_kk, H the Hessian of
log r_full(θ, α) in (θ, α) jointly at (θ̂, α̂) from central finite differences; its
**impact** on a parameter is the shift of the best fit and of the 68 % interval when α_k is
fixed at α̂_k ± σ_k and the other nuisances are profiled (the usual ranking).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from madsbi._validate import FloatArray
from madsbi.errors import InputError
from madsbi.inference.model import LikelihoodModel, single_log_likelihoods
from madsbi.inference.modifiers import Normalisation
from madsbi.inference.profile import (
    log_likelihood_at,
    profile_log_likelihood,
    profiled_log_likelihoods,
)
from madsbi.inference.search import LogLikelihood

Refit = Callable[[LogLikelihood, Mapping[str, Any]], tuple[FloatArray, Any]]
"""(log-likelihood, fit settings) → (best fit (n,), intervals: parameter → level → list)."""

KINDS = ("normalisation", "shape")
COMPONENT = "signal"
"""The one component of a fit's likelihood model (every process of the analysis)."""
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYS = {"name", "kind", "size", "components"}
_SHAPE_KEYS = {"path", "rate_up", "rate_down", "training"}


@dataclass(frozen=True)
class NuisanceSpec:
    """One declared nuisance parameter (module docstring)."""

    name: str
    kind: str
    size: float
    components: tuple[str, ...] = ()
    source: str = "analysis"
    path: str | None = None
    rate_up: float = 1.0
    rate_down: float = 1.0

    def describe(self) -> dict[str, Any]:
        """The entry of ``fit.json``'s ``settings.nuisances``."""
        entry = {
            "name": self.name,
            "kind": self.kind,
            "size": self.size,
            "components": list(self.components),
            "source": self.source,
        }
        if self.kind == "shape":
            entry |= {"path": self.path, "rate_up": self.rate_up, "rate_down": self.rate_down}
        return entry

    def modifier(self) -> Normalisation:
        """The likelihood model's modifier (normalisations; shapes need the data).

        Raises
        ------
        InputError
            A shape nuisance: build it with
            :func:`madsbi.analysis.shape_nuisances.fit_modifiers`.
        """
        if self.kind != "normalisation":
            raise InputError(
                f"nuisance {self.name!r}: a {self.kind} modifier is evaluated on the data "
                "(madsbi.analysis.shape_nuisances.fit_modifiers)"
            )
        return Normalisation.on(self.name, self.size, self.components)


def _size(value: Any, where: str, label: str = "size") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError(f"{where}: {label} must be a number > 0, got {value!r}")
    try:
        size = float(value)
    except ValueError:
        raise InputError(f"{where}: {label} must be a number > 0, got {value!r}") from None
    if not (np.isfinite(size) and size > 0):
        raise InputError(f"{where}: {label} must be a finite number > 0, got {value!r}")
    return size


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InputError(
            f"{where}: name must be letters, digits and '_' (not starting with a digit), "
            f"got {value!r}"
        )
    return value


def parse_declared(entries: Any, where: str = "analysis.json nuisances") -> list[NuisanceSpec]:
    """The ``"nuisances"`` list of an analysis manifest, validated (module docstring).

    Raises
    ------
    InputError
        Not a list of objects; an unknown key or kind; a bad name or size; a repeated name.
    """
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise InputError(f"{where}: expected a list of objects, got {type(entries).__name__}")
    specs: list[NuisanceSpec] = []
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise InputError(f"{at}: expected an object, got {type(entry).__name__}")
        kind = entry.get("kind", "normalisation")
        known = _KEYS | (_SHAPE_KEYS if kind == "shape" else set())
        unknown = sorted(set(entry) - known)
        if unknown:
            raise InputError(f"{at}: unknown keys {unknown} (known: {sorted(known)})")
        name = _name(entry.get("name"), at)
        if kind not in KINDS:
            raise InputError(f"{at} ({name}): kind must be one of {KINDS}, got {kind!r}")
        components = entry.get("components", [])
        if not isinstance(components, list) or not all(isinstance(c, str) for c in components):
            raise InputError(f"{at} ({name}): components must be a list of names")
        size = _size(entry.get("size"), at)
        if kind == "shape":
            specs.append(_shape_spec(entry, name, size, tuple(components), f"{at} ({name})"))
        else:
            specs.append(NuisanceSpec(name, kind, size, tuple(components)))
    _unique(specs, where)
    return specs


def _shape_spec(
    entry: Mapping[str, Any], name: str, size: float, components: tuple[str, ...], at: str
) -> NuisanceSpec:
    path = entry.get("path")
    if not isinstance(path, str) or not path:
        raise InputError(f"{at}: a shape nuisance needs a path (its trained ratio), got {path!r}")
    if len(components) > 1:
        raise InputError(f"{at}: a shape nuisance acts on one component, got {list(components)}")
    rates = [_size(entry.get(k), at, k) for k in ("rate_up", "rate_down")]
    training = entry.get("training", {})
    if not isinstance(training, dict):
        raise InputError(f"{at}: training must be an object, got {type(training).__name__}")
    return NuisanceSpec(name, "shape", size, components, "analysis", path, *rates)


def _unique(specs: Sequence[NuisanceSpec], where: str) -> None:
    names = [s.name for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{where}: nuisance names {repeated} appear more than once")


def parse_assignment(text: str, option: str) -> tuple[str, float]:
    """``NAME=VALUE`` of ``--nuisance`` / ``--fix`` → (name, value)."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise InputError(f"{option} {text!r}: expected NAME=VALUE")
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"{option} {text!r}: {value!r} is not a number") from None
    if not np.isfinite(number):
        raise InputError(f"{option} {text!r}: the value must be finite")
    return name, number


def resolve(
    declared: Sequence[NuisanceSpec],
    extra: Iterable[NuisanceSpec | str | Mapping[str, Any]] = (),
    fix: Mapping[str, float] | Iterable[str] | None = None,
    *,
    stat_only: bool = False,
    components: Sequence[str] = (COMPONENT,),
) -> tuple[list[NuisanceSpec], dict[str, float]]:
    """The nuisances of a fit and the fixed ones.

    ``extra``: ``"NAME=SIZE"`` texts (``--nuisance``), mappings like the manifest's entries,
    or specs; one named like a declared nuisance replaces it. ``fix``: ``NAME=VALUE`` texts
    or a mapping; ``alpha_NAME`` names ``NAME``.

    Raises
    ------
    InputError
        A bad entry; a component not in ``components``; ``fix`` naming an unknown nuisance,
        the same one twice, or given with ``stat_only``.
    """
    specs = {s.name: s for s in declared}
    for item in extra:
        if isinstance(item, NuisanceSpec):
            spec = item
        elif isinstance(item, str):
            name, size = parse_assignment(item, "--nuisance")
            spec = NuisanceSpec(name, "normalisation", _size(size, f"--nuisance {item!r}"))
        else:
            [spec] = parse_declared([dict(item)], "nuisances")
        specs[spec.name] = replace(spec, source="option")
    chosen = list(specs.values())
    for s in chosen:
        missing = sorted(set(s.components) - set(components))
        if missing:
            raise InputError(
                f"nuisance {s.name!r}: components {missing} are not in the likelihood model "
                f"(its components: {list(components)})"
            )
    fixed: dict[str, float] = {}
    pairs = (
        list(fix.items())
        if isinstance(fix, Mapping)
        else [parse_assignment(t, "--fix") for t in (fix or ())]
    )
    for name, value in pairs:
        key = name if name in specs or not name.startswith("alpha_") else name[len("alpha_") :]
        if key not in specs:
            raise InputError(f"--fix {name}: not a nuisance of this fit ({sorted(specs)})")
        if key in fixed:
            raise InputError(f"--fix {name}: given more than once")
        if not np.isfinite(float(value)):
            raise InputError(f"--fix {name}: the value must be finite, got {value!r}")
        fixed[key] = float(value)
    if stat_only:
        if fixed:
            raise InputError("--fix: there are no nuisances to fix in a --stat-only fit")
        return [], {}
    return chosen, fixed


def pulls_and_constraints(
    model: LikelihoodModel,
    theta_hat: FloatArray,
    scales: FloatArray,
    fixed: Mapping[str, float],
) -> dict[str, dict[str, Any]]:
    """α̂ at θ̂ and the post-fit σ of every nuisance (module docstring), by name.

    ``scales`` (n,) are the θ steps of the finite differences (a tenth of the 68 % half-width
    is a good choice); α steps are 0.05. A fixed nuisance gets its value and σ = 0; σ is NaN
    where the Hessian is not negative definite.
    """
    prof = profile_log_likelihood(model, theta_hat[None], fixed=fixed)
    alpha_hat = prof.alphas[0, 0]
    names = list(prof.names)
    free = [i for i, name in enumerate(names) if name not in fixed]
    n = theta_hat.shape[0]
    d = n + len(free)
    steps = np.concatenate([np.asarray(scales, dtype=np.float64), np.full(len(free), 0.05)])
    centre = np.concatenate([theta_hat, alpha_hat[free]])
    shifts = [np.zeros(d)]
    for i in range(d):
        for j in range(i, d):
            for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                s = np.zeros(d)
                s[i] += si * steps[i]
                s[j] += sj * steps[j]
                shifts.append(s)
    points = centre + np.array(shifts)
    alphas = np.tile(alpha_hat, (points.shape[0], 1))
    alphas[:, free] = points[:, n:]
    values = log_likelihood_at(model, points[:, :n], alphas)[0]
    hess = np.empty((d, d))
    k = 1
    for i in range(d):
        for j in range(i, d):
            pp, pm, mp, mm = values[k : k + 4]
            hess[i, j] = hess[j, i] = (pp - pm - mp + mm) / (4 * steps[i] * steps[j])
            k += 4
    try:
        cov = np.linalg.inv(-hess)
        sigma = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
        if not np.all(np.linalg.eigvalsh(-hess) > 0):
            sigma[:] = np.nan
    except np.linalg.LinAlgError:
        sigma = np.full(d, np.nan)
    out: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        if name in fixed:
            out[name] = {"pull": float(fixed[name]), "constraint": 0.0, "fixed": True}
        else:
            out[name] = {
                "pull": float(alpha_hat[i]),
                "constraint": float(sigma[n + free.index(i)]),
                "fixed": False,
            }
    return out


def envelope(found: Sequence[Sequence[float]]) -> tuple[float, float] | None:
    """The outermost ends of a list of intervals (None for none)."""
    if not found:
        return None
    return float(min(p[0] for p in found)), float(max(p[1] for p in found))


def impact_entry(
    nominal_best: float,
    nominal_interval: Sequence[Sequence[float]],
    best: float,
    interval: Sequence[Sequence[float]],
) -> dict[str, Any]:
    """Shifts of a parameter's best fit and 68 % interval ends against the nominal fit."""
    a, b = envelope(nominal_interval), envelope(interval)
    shift = None if a is None or b is None else [b[0] - a[0], b[1] - a[1]]
    return {"best_fit": float(best - nominal_best), "interval_68": shift}


def summarise(
    model: LikelihoodModel,
    best: FloatArray,
    intervals: Mapping[str, Mapping[str, Any]],
    fixed: Mapping[str, float],
    settings: Mapping[str, Any],
    refit: Refit,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """Stat-only fit, pulls and constraints, and impacts of a profiled fit.

    Parameters
    ----------
    model : LikelihoodModel
        The central estimate's model with its modifiers.
    best : (n,)
        θ̂ of the profiled fit; ``intervals`` its 1D intervals (parameter → level → list).
    settings : mapping
        The fit settings (``ranges``, ``levels``, …) that ``refit`` takes.
    refit : callable
        Fits a log-likelihood like the nominal fit (best fit and 1D intervals only).

    Returns
    -------
    stat_only : dict
        ``best_fit`` and ``intervals`` without nuisances.
    nuisances : dict
        Name → ``pull``, ``constraint``, ``fixed`` (:func:`pulls_and_constraints`).
    impacts : dict
        ``level`` (0.68 when fitted) and ``parameters``: parameter → nuisance →
        ``up``/``down`` → :func:`impact_entry`.
    """
    names = list(intervals)
    [stat_ll] = single_log_likelihoods([replace(model, modifiers=())])
    stat_best, stat_intervals = refit(stat_ll, settings)
    stat_only = {
        "best_fit": dict(zip(names, np.asarray(stat_best).tolist(), strict=True)),
        "intervals": stat_intervals,
    }
    ranges = np.asarray(settings["ranges"], dtype=np.float64)
    level = 0.68 if 0.68 in settings["levels"] else float(settings["levels"][0])
    key = f"{level:g}"
    scales = np.empty(len(names))
    for i, name in enumerate(names):
        width = max((b - a for a, b in intervals[name][key]), default=0.0)
        scales[i] = 0.05 * width if width > 0 else 1e-3 * (ranges[i, 1] - ranges[i, 0])
    report = pulls_and_constraints(model, best, scales, fixed)
    one_level = {**settings, "levels": [level]}
    impacts: dict[str, Any] = {"level": level, "parameters": {p: {} for p in names}}
    for nuisance, entry in report.items():
        sigma = entry["constraint"]
        if entry["fixed"] or not np.isfinite(sigma):
            continue
        for sign, label in ((1.0, "up"), (-1.0, "down")):
            held = {**fixed, nuisance: entry["pull"] + sign * sigma}
            [ll] = profiled_log_likelihoods([model], held)
            shifted_best, shifted = refit(ll, one_level)
            for i, p in enumerate(names):
                impacts["parameters"][p].setdefault(nuisance, {})[label] = impact_entry(
                    float(best[i]), intervals[p][key], float(shifted_best[i]), shifted[p][key]
                )
    return stat_only, report, impacts
