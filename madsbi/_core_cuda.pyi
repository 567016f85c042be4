import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

def device_count() -> int: ...
def device_name(device: int = ...) -> str: ...
def morphing_weights(
    thetas: F64, theta0: F64, w_inverse: F64, sigma_basis: F64 | None, device: int = ...
) -> tuple[F64, F64 | None]: ...
def log_ratio_sums(
    coefficients: F64,
    features: F64,
    weights: F64 | None,
    log1p: bool,
    floor: float,
    devices: list[int] = ...,
) -> tuple[F64, I64]: ...
