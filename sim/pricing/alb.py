"""Application Load Balancer billing rules: LCU dimensions and the hourly charge.

Source for every rule here: https://aws.amazon.com/elasticloadbalancing/pricing/ ("An LCU measures
the dimensions on which the Application Load Balancer processes your traffic (averaged over an
hour)"; you are charged only on the dimension with the highest usage). The LCU *capacities* are AWS
definitions, not prices, so they live here as constants; prices come from the price book.

Functions taking quantities accept a float or a numpy array (e.g. one element per hour) and return
the same kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

import numpy as np

from sim.pricing._numeric import (
    AnyArray,
    FloatArray,
    as_quantities,
    check_quantity,
    scalar_or_array,
)

__all__ = [
    "ACTIVE_CONNECTIONS_PER_LCU",
    "ACTIVE_CONNECTIONS_PER_LCU_MTLS",
    "BYTES_PER_GB",
    "FREE_RULES",
    "HOUR_S",
    "LCU_DIMENSIONS",
    "NEW_CONNECTIONS_PER_S_PER_LCU",
    "PROCESSED_GB_PER_HOUR_PER_LCU",
    "PROCESSED_GB_PER_HOUR_PER_LCU_LAMBDA",
    "RULE_EVALUATIONS_PER_S_PER_LCU",
    "LcuDimensions",
    "alb_hour_cost_usd",
    "dominant_dimension",
    "lcu",
    "lcu_active_connections",
    "lcu_new_connections",
    "lcu_processed_bytes",
    "lcu_rule_evaluations",
    "rule_evaluations_per_s",
]

SOURCE = "https://aws.amazon.com/elasticloadbalancing/pricing/"

HOUR_S = 3600.0
"""Seconds in a billing hour."""
NEW_CONNECTIONS_PER_S_PER_LCU = 25.0
"""One LCU is 25 new connections per second (averaged over the hour)."""
ACTIVE_CONNECTIONS_PER_LCU = 3000.0
"""One LCU is 3,000 active connections per minute."""
ACTIVE_CONNECTIONS_PER_LCU_MTLS = 1500.0
"""One LCU is 1,500 active connections per minute with mutual TLS."""
PROCESSED_GB_PER_HOUR_PER_LCU = 1.0
"""One LCU is 1 GB processed per hour for EC2 instance, container and IP targets."""
PROCESSED_GB_PER_HOUR_PER_LCU_LAMBDA = 0.4
"""One LCU is 0.4 GB processed per hour for Lambda targets."""
RULE_EVALUATIONS_PER_S_PER_LCU = 1000.0
"""One LCU is 1,000 rule evaluations per second."""
FREE_RULES = 10
"""The first 10 rules processed per request are free."""
BYTES_PER_GB = 1e9
"""AWS's ELB examples use decimal GB (300 KB/s x 3600 s = 1.08 GB)."""

LCU_DIMENSIONS = ("new_connections", "active_connections", "processed_bytes", "rule_evaluations")
"""The four LCU dimensions, in the order used to break ties."""


@overload
def lcu_new_connections(new_connections: float, hour_s: float = ...) -> float: ...
@overload
def lcu_new_connections(new_connections: AnyArray, hour_s: float = ...) -> FloatArray: ...
def lcu_new_connections(
    new_connections: float | AnyArray, hour_s: float = HOUR_S
) -> float | FloatArray:
    """LCUs on the new-connections dimension.

    ``lcu = (new_connections / hour_s) / 25``. Source: https://aws.amazon.com/elasticloadbalancing/pricing/
    ("25 new connections per second").

    Parameters
    ----------
    new_connections : float or ndarray
        Connections opened in the hour.
    hour_s : float
        Length of the hour in seconds.

    Returns
    -------
    float or ndarray
        LCUs (fractional).
    """
    n = as_quantities("new_connections", new_connections)
    seconds = check_quantity("hour_s", hour_s)
    if seconds == 0:
        raise ValueError("hour_s must be > 0")
    return scalar_or_array(np.divide(n, seconds) / NEW_CONNECTIONS_PER_S_PER_LCU)


@overload
def lcu_active_connections(mean_active_connections: float, mutual_tls: bool = ...) -> float: ...
@overload
def lcu_active_connections(
    mean_active_connections: AnyArray, mutual_tls: bool = ...
) -> FloatArray: ...
def lcu_active_connections(
    mean_active_connections: float | AnyArray, mutual_tls: bool = False
) -> float | FloatArray:
    """LCUs on the active-connections dimension.

    ``lcu = mean_active / 3000`` (``/ 1500`` with mutual TLS). "Active connections per minute" is
    the number of concurrent connections sampled per minute, averaged over the hour: AWS's example
    of 1 new connection per second lasting 2 minutes gives 120. Source:
    https://aws.amazon.com/elasticloadbalancing/pricing/

    Parameters
    ----------
    mean_active_connections : float or ndarray
        Mean concurrent connections over the hour.
    mutual_tls : bool
        Whether the listener uses mutual TLS.

    Returns
    -------
    float or ndarray
        LCUs (fractional).
    """
    n = as_quantities("mean_active_connections", mean_active_connections)
    per_lcu = ACTIVE_CONNECTIONS_PER_LCU_MTLS if mutual_tls else ACTIVE_CONNECTIONS_PER_LCU
    return scalar_or_array(np.divide(n, per_lcu))


@overload
def lcu_processed_bytes(processed_bytes: float, lambda_target: bool) -> float: ...
@overload
def lcu_processed_bytes(processed_bytes: AnyArray, lambda_target: bool) -> FloatArray: ...
def lcu_processed_bytes(
    processed_bytes: float | AnyArray, lambda_target: bool
) -> float | FloatArray:
    """LCUs on the processed-bytes dimension.

    ``lcu = processed_bytes / 1e9 / (1.0, or 0.4 for Lambda targets)``: requests and responses,
    headers included, in decimal GB as in AWS's example (300 KB/s for an hour = 1.08 GB). Source:
    https://aws.amazon.com/elasticloadbalancing/pricing/

    Parameters
    ----------
    processed_bytes : float or ndarray
        Bytes processed in the hour for this target type.
    lambda_target : bool
        Whether the bytes go to Lambda targets (0.4 GB per LCU).

    Returns
    -------
    float or ndarray
        LCUs (fractional). With mixed target types, call once per target group and add.
    """
    b = as_quantities("processed_bytes", processed_bytes)
    gb_per_lcu = (
        PROCESSED_GB_PER_HOUR_PER_LCU_LAMBDA if lambda_target else PROCESSED_GB_PER_HOUR_PER_LCU
    )
    return scalar_or_array(np.divide(b, BYTES_PER_GB) / gb_per_lcu)


@overload
def rule_evaluations_per_s(requests_per_s: float, rules_processed: int) -> float: ...
@overload
def rule_evaluations_per_s(requests_per_s: AnyArray, rules_processed: int) -> FloatArray: ...
def rule_evaluations_per_s(
    requests_per_s: float | AnyArray, rules_processed: int
) -> float | FloatArray:
    """Rule evaluations per second: request rate x (rules processed - 10 free), never below 0.

    Source: https://aws.amazon.com/elasticloadbalancing/pricing/

    Parameters
    ----------
    requests_per_s : float or ndarray
        Mean request rate over the hour.
    rules_processed : int
        Rules the load balancer processes per request.

    Returns
    -------
    float or ndarray
        Rule evaluations per second (0 for 10 rules or fewer).
    """
    rate = as_quantities("requests_per_s", requests_per_s)
    rules = check_quantity("rules_processed", rules_processed)
    return scalar_or_array(np.multiply(rate, max(0.0, rules - FREE_RULES)))


@overload
def lcu_rule_evaluations(requests: float, rules_processed: int, hour_s: float = ...) -> float: ...
@overload
def lcu_rule_evaluations(
    requests: AnyArray, rules_processed: int, hour_s: float = ...
) -> FloatArray: ...
def lcu_rule_evaluations(
    requests: float | AnyArray, rules_processed: int, hour_s: float = HOUR_S
) -> float | FloatArray:
    """LCUs on the rule-evaluations dimension.

    ``lcu = (requests / hour_s) * max(0, rules_processed - 10) / 1000``. Source:
    https://aws.amazon.com/elasticloadbalancing/pricing/ (AWS's example: 5 requests/s with 60 rules
    is 250 evaluations/s, 0.25 LCU).

    Parameters
    ----------
    requests : float or ndarray
        Requests in the hour.
    rules_processed : int
        Rules processed per request.
    hour_s : float
        Length of the hour in seconds.

    Returns
    -------
    float or ndarray
        LCUs (fractional).
    """
    n = as_quantities("requests", requests)
    seconds = check_quantity("hour_s", hour_s)
    if seconds == 0:
        raise ValueError("hour_s must be > 0")
    rate = rule_evaluations_per_s(np.divide(n, seconds), rules_processed)
    return scalar_or_array(np.divide(rate, RULE_EVALUATIONS_PER_S_PER_LCU))


@overload
def lcu(new: float, active: float, bytes_: float, rules: float) -> float: ...
@overload
def lcu(
    new: float | AnyArray, active: float | AnyArray, bytes_: float | AnyArray, rules: AnyArray
) -> FloatArray: ...
@overload
def lcu(
    new: float | AnyArray, active: float | AnyArray, bytes_: AnyArray, rules: float | AnyArray
) -> FloatArray: ...
@overload
def lcu(
    new: float | AnyArray, active: AnyArray, bytes_: float | AnyArray, rules: float | AnyArray
) -> FloatArray: ...
@overload
def lcu(
    new: AnyArray, active: float | AnyArray, bytes_: float | AnyArray, rules: float | AnyArray
) -> FloatArray: ...
def lcu(
    new: float | AnyArray,
    active: float | AnyArray,
    bytes_: float | AnyArray,
    rules: float | AnyArray,
) -> float | FloatArray:
    """Billed LCUs for an hour: the highest of the four dimensions.

    Source: https://aws.amazon.com/elasticloadbalancing/pricing/ ("you are charged only on the
    dimension with the highest usage"). Take it per hour, never per month: the sum over hours of
    the max is at least the max of the monthly sums.

    Parameters
    ----------
    new, active, bytes_, rules : float or ndarray
        LCUs on each dimension (from the ``lcu_*`` functions); arrays broadcast elementwise.

    Returns
    -------
    float or ndarray
    """
    dims = [
        as_quantities(name, x)
        for name, x in zip(LCU_DIMENSIONS, (new, active, bytes_, rules), strict=True)
    ]
    return scalar_or_array(np.maximum(np.maximum(dims[0], dims[1]), np.maximum(dims[2], dims[3])))


def dominant_dimension(
    new: float | AnyArray,
    active: float | AnyArray,
    bytes_: float | AnyArray,
    rules: float | AnyArray,
) -> str | AnyArray:
    """Name of the LCU dimension that sets the bill, elementwise.

    Ties go to the first of :data:`LCU_DIMENSIONS` (new connections, active connections, processed
    bytes, rule evaluations).

    Returns
    -------
    str or ndarray of str
        A name for scalar inputs, an array of names otherwise.
    """
    stacked = np.stack(
        np.broadcast_arrays(
            *(np.asarray(x, dtype=np.float64) for x in (new, active, bytes_, rules))
        )
    )
    index = np.argmax(stacked, axis=0)
    names: AnyArray = np.asarray(LCU_DIMENSIONS)[index]
    if names.ndim == 0:
        return str(names)
    return names


@dataclass(frozen=True)
class LcuDimensions:
    """The four LCU dimensions of one hour, each already in LCUs.

    Attributes
    ----------
    new_connections, active_connections, processed_bytes, rule_evaluations : float
        LCUs on each dimension.
    """

    new_connections: float
    active_connections: float
    processed_bytes: float
    rule_evaluations: float

    @property
    def lcu(self) -> float:
        """Billed LCUs: the highest dimension."""
        return lcu(
            self.new_connections,
            self.active_connections,
            self.processed_bytes,
            self.rule_evaluations,
        )

    @property
    def dominant(self) -> str:
        """Name of the highest dimension (ties in :data:`LCU_DIMENSIONS` order)."""
        return str(
            dominant_dimension(
                self.new_connections,
                self.active_connections,
                self.processed_bytes,
                self.rule_evaluations,
            )
        )


@overload
def alb_hour_cost_usd(
    lcu: float,
    alb_hour_price: float,
    lcu_price: float,
    trust_stores: int = ...,
    trust_store_price: float | None = ...,
    public_ipv4_addresses: int = ...,
    ipv4_price: float | None = ...,
) -> float: ...
@overload
def alb_hour_cost_usd(
    lcu: AnyArray,
    alb_hour_price: float,
    lcu_price: float,
    trust_stores: int = ...,
    trust_store_price: float | None = ...,
    public_ipv4_addresses: int = ...,
    ipv4_price: float | None = ...,
) -> FloatArray: ...
def alb_hour_cost_usd(
    lcu: float | AnyArray,
    alb_hour_price: float,
    lcu_price: float,
    trust_stores: int = 0,
    trust_store_price: float | None = None,
    public_ipv4_addresses: int = 0,
    ipv4_price: float | None = None,
) -> float | FloatArray:
    """USD for one ALB-hour (or each hour of an array).

    ``cost = alb_hour_price + lcu * lcu_price + trust_stores * trust_store_price
    + public_ipv4_addresses * ipv4_price``. A partial hour bills as a full hour, and LCUs are
    fractional. Source: https://aws.amazon.com/elasticloadbalancing/pricing/ (public IPv4:
    https://aws.amazon.com/vpc/pricing/, one address per enabled AZ of an internet-facing ALB).

    Parameters
    ----------
    lcu : float or ndarray
        Billed LCUs of the hour (see :func:`lcu`).
    alb_hour_price : float
        USD per ALB-hour (``RegionPrices.alb_hour.value``).
    lcu_price : float
        USD per LCU-hour (``RegionPrices.alb_lcu_hour.value``).
    trust_stores : int
        Mutual-TLS trust stores associated with the ALB.
    trust_store_price : float or None
        USD per trust store-hour; required when ``trust_stores > 0``.
    public_ipv4_addresses : int
        Public IPv4 addresses (2 or more for an internet-facing ALB; 0 to leave them out).
    ipv4_price : float or None
        USD per address-hour; required when ``public_ipv4_addresses > 0``.

    Returns
    -------
    float or ndarray
    """
    units = as_quantities("lcu", lcu)
    fixed = check_quantity("alb_hour_price", alb_hour_price)
    if check_quantity("trust_stores", trust_stores) > 0:
        if trust_store_price is None:
            raise ValueError("trust_store_price is required when trust_stores > 0")
        fixed += trust_stores * check_quantity("trust_store_price", trust_store_price)
    if check_quantity("public_ipv4_addresses", public_ipv4_addresses) > 0:
        if ipv4_price is None:
            raise ValueError("ipv4_price is required when public_ipv4_addresses > 0")
        fixed += public_ipv4_addresses * check_quantity("ipv4_price", ipv4_price)
    return scalar_or_array(fixed + np.multiply(units, check_quantity("lcu_price", lcu_price)))
