"""Input checks and float-or-array helpers shared by the billing rules."""

from __future__ import annotations

import math
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
AnyArray: TypeAlias = npt.NDArray[Any]


def check_quantity(name: str, value: float) -> float:
    """Return ``value`` as float; raise ValueError unless it is finite and >= 0."""
    number = float(value)
    if not (number >= 0 and math.isfinite(number)):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return number


def as_quantities(name: str, value: float | AnyArray) -> float | FloatArray:
    """Validate a float or array of quantities (finite, >= 0).

    Returns a Python float for scalar input and a float64 array otherwise.
    """
    if np.ndim(value) == 0:
        return check_quantity(name, float(value))
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} must be finite and >= 0 everywhere")
    return array


def scalar_or_array(value: Any) -> float | FloatArray:
    """A float for 0-d results, a float64 array otherwise."""
    if np.ndim(value) == 0:
        return float(value)
    return np.asarray(value, dtype=np.float64)
