"""Exceptions and warnings of madsbi.

Every exception derives from :class:`MadSBIError` and also from the builtin that matches its
meaning, so ``except ValueError`` keeps working for callers who do not know madsbi. Messages
name the argument or field, what was expected and what was received.
"""

from __future__ import annotations


class MadSBIError(Exception):
    """Base class of all madsbi errors."""


class InputError(MadSBIError, ValueError):
    """A value passed to madsbi is not acceptable."""


class ShapeError(InputError):
    """An array has the wrong number of dimensions or the wrong extent."""


class DtypeError(MadSBIError, TypeError):
    """An array has a dtype madsbi cannot use (complex, object, strings, ...)."""


class UnknownParameterError(InputError):
    """A parameter name is not among those the sample or card defines."""


class IllConditionedBasisError(InputError):
    """A morphing basis is singular or too ill-conditioned to invert.

    Attributes
    ----------
    condition_number : float
        The 2-norm condition number of the morphing matrix W (``inf`` if singular).
    """

    def __init__(self, message: str, condition_number: float) -> None:
        super().__init__(message)
        self.condition_number = condition_number


class LheFormatError(MadSBIError, ValueError):
    """An LHE file is malformed, truncated, gzip-corrupt or inconsistent."""


class WeightError(MadSBIError, ValueError):
    """Event weights are non-finite, zero where a reference is needed, or inconsistent."""


class StoreFormatError(MadSBIError, ValueError):
    """A file is not a valid madsbi event store."""


class StoreVersionError(StoreFormatError):
    """An event store was written with a format version this madsbi cannot read."""


class StoreCorruptError(StoreFormatError):
    """An event store's data fail their checksum or cannot be read back.

    Attributes
    ----------
    path : str
        The store.
    dataset : str
        The HDF5 path of the first dataset found corrupt, e.g. ``/parton/coefficients``.
    """

    def __init__(self, message: str, path: str, dataset: str) -> None:
        super().__init__(message)
        self.path = path
        self.dataset = dataset


class StoreMismatchError(MadSBIError, ValueError):
    """Stores cannot be merged because a metadata field differs.

    Attributes
    ----------
    field : str
        The path of the first differing field, e.g. ``/meta/basis_points``.
    """

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class StoreExistsError(MadSBIError, FileExistsError):
    """The output store exists and overwriting was not requested."""


class MissingFileError(MadSBIError, FileNotFoundError):
    """An input file does not exist."""


class ConfigError(MadSBIError, ValueError):
    """A configuration file or mapping has unknown keys or bad values."""


class CheckpointError(MadSBIError, ValueError):
    """A checkpoint or saved model is truncated, corrupt, or holds more than tensors.

    Files are read weights-only: one that would run code while loading is refused, never
    executed. The message names the file; remove it to train afresh.
    """


class OutputError(MadSBIError, OSError):
    """An output directory cannot be created or written, or another run holds its lock."""


class BackendError(MadSBIError, RuntimeError):
    """A compiled backend (``_core``, ``_core_cuda``) is missing or failed."""


class OptionalDependencyError(MadSBIError, ImportError):
    """An optional dependency is needed for this feature; the message names the extra."""


class MadSBIWarning(UserWarning):
    """Base class of madsbi warnings."""


class PrecisionWarning(MadSBIWarning):
    """A result is valid but less precise than usual (e.g. a poorly conditioned basis)."""


class TrainingSupportError(InputError):
    """Data hold values of a categorical feature that the analysis never saw in training.

    Attributes
    ----------
    feature : str
        The feature (e.g. ``sum_charge``).
    values : list of float
        The unseen values.
    """

    def __init__(self, message: str, feature: str, values: list[float]) -> None:
        super().__init__(message)
        self.feature = feature
        self.values = values


class BoxEdgeWarning(MadSBIWarning):
    """A best fit or an interval end lies on the edge of the θ box searched by a fit."""


class TrainingSupportWarning(MadSBIWarning):
    """Data lie far outside the range of a continuous feature that the analysis trained on."""


class ResourceError(InputError):
    """A run would need more memory or disk than the machine has; refused before it starts.

    Attributes
    ----------
    resource : {"memory", "disk"}
    needed : int
        The estimated bytes (a lower bound).
    available : int
        The bytes available (free memory, or free space where the output goes).
    """

    def __init__(self, message: str, resource: str, needed: int, available: int) -> None:
        super().__init__(message)
        self.resource = resource
        self.needed = needed
        self.available = available
