"""AWS Lambda billing rules: billed duration, GB-seconds, request and compute charges.

Source: https://aws.amazon.com/lambda/pricing/. Invocations are billed the same behind an ALB or an
API Gateway; only the gateway cache removes some of them.
"""

from __future__ import annotations

from typing import overload

import numpy as np

from sim.pricing._numeric import AnyArray, FloatArray, as_quantities, scalar_or_array
from sim.pricing.book import Price, TieredPrice
from sim.pricing.tiers import priced_cost_usd

__all__ = [
    "MAX_MEMORY_MB",
    "MB_PER_GB",
    "MIN_MEMORY_MB",
    "billed_duration_ms",
    "gb_seconds",
    "lambda_compute_cost_usd",
    "lambda_requests_cost_usd",
    "validate_memory_mb",
]

MIN_MEMORY_MB = 128
"""Smallest memory setting of a Lambda function."""
MAX_MEMORY_MB = 10_240
"""Largest memory setting of a Lambda function."""
MB_PER_GB = 1024.0
"""Lambda converts memory to GB with 1,024 MB per GB (512 MB for 1 s is 0.5 GB-s)."""
MS_PER_S = 1000.0


@overload
def validate_memory_mb(memory_mb: float) -> float: ...
@overload
def validate_memory_mb(memory_mb: AnyArray) -> FloatArray: ...
def validate_memory_mb(memory_mb: float | AnyArray) -> float | FloatArray:
    """Return ``memory_mb`` if it is a valid Lambda memory size (128 to 10,240 MB), else raise.

    Source: https://aws.amazon.com/lambda/pricing/ ("memory between 128 MB and 10,240 MB").

    Raises
    ------
    ValueError
        If any value is outside 128 to 10,240 MB.
    """
    memory = as_quantities("memory_mb", memory_mb)
    if np.any(np.less(memory, MIN_MEMORY_MB)) or np.any(np.greater(memory, MAX_MEMORY_MB)):
        raise ValueError(
            f"memory_mb must be {MIN_MEMORY_MB} to {MAX_MEMORY_MB} MB, got {memory_mb!r}"
        )
    return memory


@overload
def billed_duration_ms(duration_ms: float) -> float: ...
@overload
def billed_duration_ms(duration_ms: AnyArray) -> FloatArray: ...
def billed_duration_ms(duration_ms: float | AnyArray) -> float | FloatArray:
    """Billed duration: the run time rounded up to the nearest 1 ms.

    Source: https://aws.amazon.com/lambda/pricing/ ("Duration is calculated from the time your code
    begins executing until it returns or otherwise terminates, rounded up to the nearest 1 ms").

    Parameters
    ----------
    duration_ms : float or ndarray
        Measured run time in milliseconds, >= 0.

    Returns
    -------
    float or ndarray
        Whole milliseconds (as floats).
    """
    return scalar_or_array(np.ceil(as_quantities("duration_ms", duration_ms)))


@overload
def gb_seconds(memory_mb: float, billed_duration_ms: float) -> float: ...
@overload
def gb_seconds(memory_mb: float | AnyArray, billed_duration_ms: AnyArray) -> FloatArray: ...
@overload
def gb_seconds(memory_mb: AnyArray, billed_duration_ms: float | AnyArray) -> FloatArray: ...
def gb_seconds(
    memory_mb: float | AnyArray, billed_duration_ms: float | AnyArray
) -> float | FloatArray:
    """GB-seconds charged: ``memory_mb / 1024 * billed_duration_ms / 1000``.

    Source: https://aws.amazon.com/lambda/pricing/ (512 MB for 1 s is 0.5 GB-s).

    Parameters
    ----------
    memory_mb : float or ndarray
        Configured memory, 128 to 10,240 MB.
    billed_duration_ms : float or ndarray
        Billed duration (see :func:`billed_duration_ms`); a sum of durations gives the sum of GB-s.

    Returns
    -------
    float or ndarray
        GB-seconds.
    """
    memory = validate_memory_mb(memory_mb)
    duration = as_quantities("billed_duration_ms", billed_duration_ms)
    return scalar_or_array(np.multiply(np.divide(memory, MB_PER_GB), np.divide(duration, MS_PER_S)))


def lambda_requests_cost_usd(
    requests: float, price: Price, prior: float = 0.0, free_requests: float = 0.0
) -> float:
    """USD for ``requests`` invocations after ``prior`` invocations this month.

    $0.20 per million in us-east-1; 1 M requests a month always free. Source:
    https://aws.amazon.com/lambda/pricing/

    Parameters
    ----------
    requests : float
        Invocations, >= 0.
    price : Price
        ``RegionPrices.lambda_requests``.
    prior : float
        Invocations earlier in the month.
    free_requests : float
        ``RegionPrices.free_lambda_requests``, or 0.
    """
    return priced_cost_usd(requests, TieredPrice.flat(price), prior, free_requests)


def lambda_compute_cost_usd(
    gb_seconds: float, prices: TieredPrice, prior: float = 0.0, free_gb_seconds: float = 0.0
) -> float:
    """USD for ``gb_seconds`` of compute after ``prior`` GB-s this month (one architecture).

    Tiers apply to the month's aggregate per architecture and region (x86 us-east-1: first 6 B
    GB-s at $0.0000166667, next 9 B at $0.000015, then $0.0000133334). The always-free 400,000 GB-s
    are the month's first units (:meth:`TieredPrice.with_free`). Source:
    https://aws.amazon.com/lambda/pricing/

    Parameters
    ----------
    gb_seconds : float
        GB-seconds, >= 0.
    prices : TieredPrice
        ``RegionPrices.lambda_gb_second_x86`` or ``lambda_gb_second_arm64``.
    prior : float
        GB-s earlier in the month, same architecture.
    free_gb_seconds : float
        ``RegionPrices.free_lambda_gb_seconds``, or 0.
    """
    return priced_cost_usd(gb_seconds, prices, prior, free_gb_seconds)
