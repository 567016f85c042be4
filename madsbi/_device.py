"""The torch device of the networks: one resolver for every trainer (estimators, BINN).

Only the torch-bound stages (``nn``, ``estimators``, ``generative``) import this module; the
compiled-kernel dispatch of the array stages is :mod:`madsbi._backend`, which stays torch-free.
"""

from __future__ import annotations

import torch

from madsbi.errors import ConfigError


def resolve_device(name: str, what: str = "training.device") -> torch.device:
    """The torch device for ``name``: ``"auto"`` → CUDA when available, else CPU.

    Anything else as torch understands it (``"cpu"``, ``"cuda"``, ``"cuda:1"``).

    Raises
    ------
    ConfigError
        If torch does not know ``name``, or it names CUDA and CUDA is not available; the
        message starts with ``what`` (the setting's name).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"{what}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{what}: {name!r} requested but CUDA is not available")
    return device
