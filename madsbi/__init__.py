"""madsbi: simulation-based inference for MadGraph5_aMC@NLO.

Importing madsbi is cheap: it loads neither torch, matplotlib nor h5py. The stages live in
subpackages (``madsbi.theory``, ``madsbi.events``, ``madsbi.simulate``, ...).
"""

from __future__ import annotations

from madsbi._backend import cuda_built, has_cuda
from madsbi.errors import MadSBIError

__version__ = "0.1.0"

__all__ = ["MadSBIError", "__version__", "cuda_built", "has_cuda"]
