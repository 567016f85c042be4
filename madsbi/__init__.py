"""madsbi: simulation-based inference for MadGraph5_aMC@NLO.

Importing madsbi is cheap: it loads neither torch, matplotlib nor h5py. The stages live in
subpackages (``madsbi.theory``, ``madsbi.events``, ``madsbi.simulate``, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from madsbi._backend import cuda_built, has_cuda
from madsbi.errors import MadSBIError

if TYPE_CHECKING:
    from madsbi.analysis import load_analysis

__version__ = "0.1.0"

__all__ = ["MadSBIError", "__version__", "cuda_built", "has_cuda", "load_analysis"]


def __getattr__(name: str) -> Any:
    """``madsbi.load_analysis`` is imported on first use (it needs torch)."""
    if name == "load_analysis":
        from madsbi.analysis import load_analysis

        return load_analysis
    msg = f"module 'madsbi' has no attribute {name!r}"
    raise AttributeError(msg)
