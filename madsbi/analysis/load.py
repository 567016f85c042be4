"""A trained analysis loaded from its directory (or by the name of a shipped one).

>>> import madsbi
>>> analysis = madsbi.load_analysis("wz_parton_paper")   # a shipped one, by its name
>>> analysis.parameters, analysis.level
(['cHWB', 'cW', 'cHq3'], 'parton')
>>> analysis = madsbi.load_analysis("out/wz_parton/analysis")     # doctest: +SKIP
>>> result = analysis.fit("data.h5", luminosity=300.0)             # doctest: +SKIP
>>> result.best_fit, result.intervals                               # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from madsbi._validate import FloatArray, as_float_array, as_grid
from madsbi.analysis.data import Selection, StoreEvents, selection_mask
from madsbi.analysis.names import analysis_path
from madsbi.analysis.overlay import files_root
from madsbi.analysis.schema import (
    check_rate_events,
    check_split,
    load_npz,
    member_path,
    read_manifest,
)
from madsbi.errors import CheckpointError, InputError, MadSBIError

if TYPE_CHECKING:
    from madsbi.analysis.fit import FitResult
    from madsbi.inference.likelihood import RateModel, ScanResult

EXACT = "exact"
"""The exact per-event ratio of a data store with coefficients (closure tests)."""


class Analysis:
    """A trained analysis: estimators, projection, rate model, parameter space.

    Attributes
    ----------
    path : Path
    manifest : dict
    parameters : list of str
    theta0 : ndarray (n,)
    features : list of str
        The network inputs, in order.
    level : {"parton", "reco"}
        Where the features come from: computed from ``/parton`` fields or read from the
        named columns of ``/reco/x`` (manifest ``level``; ``parton`` when absent).
    poisson_rate : {"learned", "exact"}
        ρ_P(θ) of the Poisson factor: each method's own ρ̂ = ⟨R̂⟩ over the rate events, or
        σ(θ)/σ(θ0) from their exact coefficients (manifest ``rate_model.poisson``; ``learned``
        when absent). The kinematic factor is always normalised by the method's own ρ̂.
    methods : list of str
        The trained estimators (``derivative``, ``morphing_aware``, …).
    """

    def __init__(self, path: str | Path) -> None:
        from madsbi.inference.likelihood import NonNegativeRatio

        self.path = analysis_path(path)
        # Checked first: the directory may come from anyone (madsbi.analysis.schema).
        manifest = read_manifest(self.path)
        self.manifest: dict[str, Any] = manifest
        #: The directory of the trained files: ``path``, or an overlay's base.
        self.files: Path = files_root(self.path, manifest)
        self.parameters: list[str] = list(manifest["parameters"])
        self.theta0 = np.asarray(manifest["theta0"], dtype=np.float64)
        self.features: list[str] = list(manifest["features"])
        self.processes: list[str] = list(manifest["processes"])
        self.defaults: dict[str, Any] = dict(manifest["defaults"])
        self.level: str = str(manifest.get("level", "parton"))
        self.poisson_rate: str = str(manifest["rate_model"].get("poisson", "learned"))
        projection = manifest["projection"]
        self.estimators: dict[str, Any] = {}
        self.models: dict[str, Any] = {}
        for name, entry in manifest["estimators"].items():
            estimator = _load_estimator(self.files, name, entry, len(self.features), self.theta0)
            self.estimators[name] = estimator
            if projection["kind"] == "none":
                self.models[name] = estimator
            else:
                self.models[name] = NonNegativeRatio.wrap(
                    estimator, keep_reference=bool(projection["keep_reference"])
                )
        self.methods: list[str] = list(self.models)
        rate_file = member_path(self.files, manifest["rate_model"]["file"], "rate_model.file")
        arrays = load_npz(rate_file, "rate_model.file")
        check_rate_events(rate_file, arrays, manifest)
        self._rate_observables = {k[4:]: v for k, v in arrays.items() if k.startswith("obs_")}
        self._rate_coefficients = arrays["coefficients"]
        self._rate_weights = arrays["mis_weights"]
        self._rate_cache: dict[str, FloatArray] = {}
        split_file = member_path(self.files, manifest["split"]["file"], "split.file")
        split = load_npz(split_file, "split.file")
        check_split(split_file, split, manifest)
        self.test_indices = [split[f"test_{i}"] for i in range(len(manifest["split"]["stores"]))]

    def __repr__(self) -> str:
        return (
            f"Analysis({str(self.path)!r}, parameters={self.parameters}, "
            f"features={self.features}, level={self.level!r}, methods={self.methods})"
        )

    # -- inputs --------------------------------------------------------------------------
    @property
    def sigma0_pb(self) -> float:
        """σ(θ0) in pb from the rate model's events (Σ v_e)."""
        return float(self._rate_weights.sum())

    def _method(self, method: str | None) -> str:
        name = self.methods[0] if method is None else method
        if name not in self.models:
            raise InputError(f"method: expected one of {self.methods}, got {name!r}")
        return name

    def read_events(self, path: str | Path) -> StoreEvents:
        """The events of a store as this analysis reads them (its level and features)."""
        from madsbi.analysis.reco import read_level

        return read_level(self.level, path, self.features)

    def input_features(self, events: StoreEvents | FloatArray) -> FloatArray:
        """Network inputs (N, d): the analysis's features of read events, or such an array.

        Raises
        ------
        ShapeError
            An array whose second axis is not the number of features.
        """
        if isinstance(events, StoreEvents):
            return events.features(self.features)
        x: FloatArray = as_float_array(events, "events", (None, len(self.features)))
        return x

    def _inputs(self, events: StoreEvents | FloatArray | str | Path) -> FloatArray:
        if isinstance(events, (str, Path)):
            events = self.read_events(events)
        return self.input_features(events)

    def event_coefficients(
        self, events: StoreEvents | FloatArray | str | Path, method: str | None = None
    ) -> FloatArray:
        """C_e per member (M, N, K) in the form of :meth:`grid_features`.

        ``events``: a store path (read with :meth:`read_events`), read events, or network
        inputs (N, d).
        """
        return np.asarray(
            self.models[self._method(method)].event_coefficients(self._inputs(events)),
            dtype=np.float64,
        )

    def grid_features(self, thetas: Any, method: str | None = None) -> FloatArray:
        """Φ(θ) (G, K) for the method."""
        result: FloatArray = self.models[self._method(method)].grid_features(as_grid(thetas))
        return result

    # -- rate ----------------------------------------------------------------------------
    def _rate_event_coefficients(self, method: str) -> FloatArray:
        if method not in self._rate_cache:
            x = np.stack([self._rate_observables[f] for f in self.features], axis=1)
            self._rate_cache[method] = np.asarray(
                self.models[method].event_coefficients(x), dtype=np.float64
            )
        return self._rate_cache[method]

    def rate_model(
        self, method: str | None = None, selections: Sequence[Selection] = (), *, central: bool
    ) -> tuple[RateModel, float]:
        """ρ'(θ) = σ_sel(θ)/σ_sel(θ0) and σ_sel(θ0) (pb) for the selected region.

        ``central`` uses the members' mean coefficients (one row), else one row per member.
        """
        from madsbi.inference.likelihood import RateModel

        name = self._method(method)
        c = self._rate_event_coefficients(name)
        keep = selection_mask(self._rate_observables, selections, self._rate_weights.shape[0])
        if not keep.any():
            raise InputError("selection: no event of the rate model passes it")
        chosen = c[:, keep]
        if central:
            chosen = chosen.mean(0, keepdims=True)
        v = self._rate_weights[keep]
        return RateModel.from_event_coefficients(chosen, v), float(v.sum())

    def exact_rate_events(
        self, selections: Sequence[Selection] = ()
    ) -> tuple[FloatArray, FloatArray]:
        """The selected rate events: exact C_e = c_e/c_e0 (N, K) and MIS weights v_e (N,) (pb).

        σ̂_sel(θ) = Σ_e v_e C_e·φ(θ − θ0) (:mod:`madsbi.inference.rate`).
        """
        from madsbi.inference.likelihood import exact_event_coefficients

        keep = selection_mask(self._rate_observables, selections, self._rate_weights.shape[0])
        if not keep.any():
            raise InputError("selection: no event of the rate model passes it")
        return exact_event_coefficients(self._rate_coefficients[keep])[0], self._rate_weights[keep]

    def rate_event_features(
        self, selections: Sequence[Selection] = ()
    ) -> tuple[FloatArray, FloatArray]:
        """The selected rate events' features (N, d) and MIS weights v_e (N,) at θ0.

        The nominal sample that normalises a shape nuisance's per-event factors
        (:mod:`madsbi.analysis.shape_nuisances`).
        """
        keep = selection_mask(self._rate_observables, selections, self._rate_weights.shape[0])
        if not keep.any():
            raise InputError("selection: no event of the rate model passes it")
        x = np.stack([self._rate_observables[f][keep] for f in self.features], axis=1)
        return np.asarray(x, dtype=np.float64), self._rate_weights[keep]

    def exact_rate_model(self, selections: Sequence[Selection] = ()) -> tuple[RateModel, float]:
        """The rate model of the exact coefficients (φ form) for the selected region."""
        from madsbi.inference.likelihood import RateModel

        c, v = self.exact_rate_events(selections)
        return RateModel.from_event_coefficients(c, v), float(v.sum())

    # -- evaluation ----------------------------------------------------------------------
    def log_ratio(
        self, events: StoreEvents | FloatArray | str | Path, thetas: Any, method: str | None = None
    ) -> FloatArray:
        """Log r̂(x|θ, θ0) = log R̂(x|θ, θ0) − log ρ̂(θ) per member, event and θ: (M, N, G).

        Non-positive R̂ gives −inf.
        """
        name = self._method(method)
        c = self.event_coefficients(events, name)
        phi = self.grid_features(thetas, name)
        rate, _ = self.rate_model(name, central=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.einsum("mnk,gk->mng", c, phi)
            log_r = np.where(r > 0, np.log(np.where(r > 0, r, 1.0)), -np.inf)
        result: FloatArray = log_r - np.log(rate.ratio(phi))[:, None, :]
        return result

    def scan(
        self,
        events: StoreEvents | FloatArray | str | Path,
        thetas: Any,
        method: str | None = None,
        *,
        weights: Any | None = None,
        central: bool = False,
        selections: Sequence[Selection] = (),
    ) -> ScanResult:
        """Σ_e w_e log R̂ and ρ̂ over a θ grid (per member, or the members' mean if ``central``).

        ``events`` are a store path, read events or network inputs (N, d); the rate model
        takes the same ``selections`` as the events should have been selected with.
        """
        from madsbi.inference.likelihood import scan

        name = self._method(method)
        grid = as_grid(thetas)
        c = self.event_coefficients(events, name)
        if central:
            c = c.mean(0, keepdims=True)
        rate, _ = self.rate_model(name, selections, central=central)
        model = self.models[name]
        return scan(
            c,
            model.grid_features(grid),
            rate,
            thetas=grid,
            weights=weights,
            log1p=bool(model.log1p),
        )

    def mean_log_ratio(
        self,
        events: StoreEvents | FloatArray | str | Path,
        thetas: Any,
        method: str | None = None,
        *,
        weights: Any | None = None,
    ) -> FloatArray:
        """⟨log r̂(x|θ, θ0)⟩ over the events per member, (M, G) (paper Figs. 2, 7)."""
        result: FloatArray = self.scan(events, thetas, method, weights=weights).mean_log_ratio()
        return result

    def fit(self, data: Any, **options: Any) -> FitResult:
        """Fit the data (a store path); see :func:`madsbi.analysis.fit.fit`.

        A store path is checked against the store schema there
        (:func:`madsbi.events.verify.check_structure`): a store whose datasets differ in
        length (weights one row short) or type is refused before it is read.
        """
        from madsbi.analysis.fit import fit

        return fit(self, data, **options)


def _load_estimator(
    directory: Path, name: str, entry: Mapping[str, Any], n_features: int, theta0: FloatArray
) -> Any:
    """The estimator ``name`` of the manifest; every read error names its directory.

    Raises
    ------
    CheckpointError
        Its files cannot be read or do not fit the manifest (e.g. tensors of another size).
    """
    from madsbi.estimators.loading import load_any_estimator

    field = f"estimators.{name}.path"
    path = member_path(directory, entry["path"], field)
    try:
        estimator = load_any_estimator(path)
    except MadSBIError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise _unreadable(path, name, exc) from exc
    except (RuntimeError, EOFError) as exc:  # torch: tensors of another size, truncated files
        raise _unreadable(path, name, exc) from exc
    n_inputs = getattr(estimator, "n_inputs", n_features)
    if n_inputs != n_features:
        raise CheckpointError(
            f"{path}: the estimator {name!r} takes {n_inputs} inputs, the manifest lists "
            f"{n_features} features"
        )
    own = getattr(estimator, "theta0", None)
    if own is not None and not np.array_equal(np.asarray(own, dtype=np.float64), theta0):
        raise CheckpointError(
            f"{path}: the estimator {name!r} expands around θ0 = {np.asarray(own).tolist()}, "
            f"the manifest's theta0 is {theta0.tolist()}"
        )
    return estimator


def _unreadable(path: Path, name: str, exc: BaseException) -> CheckpointError:
    detail = (str(exc).strip().splitlines() or [""])[0][:300]
    return CheckpointError(
        f"{path}: cannot load the estimator {name!r} from its estimator.json and weights.pt "
        f"({type(exc).__name__}: {detail})"
    )


def load_analysis(path_or_name: str | Path) -> Analysis:
    """Load a trained analysis from its directory or by a shipped analysis's name.

    Raises
    ------
    MissingFileError
        Not an analysis directory or shipped name, or a file it names is missing.
    StoreFormatError
        ``analysis.json`` or an array file fails its schema (:mod:`madsbi.analysis.schema`),
        e.g. a file name outside the directory.
    CheckpointError
        An estimator cannot be loaded (the message names its directory).
    """
    return Analysis(path_or_name)
