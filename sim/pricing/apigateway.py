"""Amazon API Gateway billing rules: metering units, request tiers, WebSocket and cache charges.

Source: https://aws.amazon.com/api-gateway/pricing/ (snapshot 2025-11-02). Requests are billed on
tiers of the month-to-date count per account and region; a cache hit is still a billed call;
requests throttled at the gateway (429), unauthorised or matching no route are not billed (callers
must not count them).
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
import numpy.typing as npt

from sim.pricing._numeric import AnyArray, as_quantities, check_quantity
from sim.pricing.book import Price, RegionPrices, TieredPrice
from sim.pricing.tiers import priced_cost_usd

__all__ = [
    "HTTP_METERING_INCREMENT_BYTES",
    "WEBSOCKET_MAX_MESSAGE_BYTES",
    "WEBSOCKET_METERING_INCREMENT_BYTES",
    "cache_cost_usd",
    "cache_hour_price",
    "http_request_units",
    "http_requests_cost_usd",
    "rest_requests_cost_usd",
    "websocket_connection_minutes_cost_usd",
    "websocket_message_units",
    "websocket_messages_cost_usd",
]

HTTP_METERING_INCREMENT_BYTES = 524_288
"""HTTP APIs are metered in 512 KB (524,288-byte) increments of the request payload."""
WEBSOCKET_METERING_INCREMENT_BYTES = 32_768
"""WebSocket messages are metered in 32 KB (32,768-byte) increments."""
WEBSOCKET_MAX_MESSAGE_BYTES = 131_072
"""A WebSocket API refuses messages over 128 KB (API Gateway quotas: "Message payload size: 128
KB"); https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"""


def _units(name: str, size_bytes: float | AnyArray, increment: int) -> int | npt.NDArray[np.int64]:
    if isinstance(size_bytes, np.ndarray) and size_bytes.dtype.kind in "iu":
        if size_bytes.size and int(size_bytes.min()) < 0:
            raise ValueError(f"{name} must be finite and >= 0 everywhere")
        # whole bytes: ceil(x / increment) in integer arithmetic (exact, and fast on large batches)
        return np.maximum(-(-size_bytes.astype(np.int64) // increment), 1)
    size = as_quantities(name, size_bytes)
    units = np.maximum(np.ceil(np.divide(size, increment)), 1)
    if np.ndim(units) == 0:
        return int(units)
    return np.asarray(units, dtype=np.int64)


@overload
def http_request_units(request_bytes: float) -> int: ...
@overload
def http_request_units(request_bytes: AnyArray) -> npt.NDArray[np.int64]: ...
def http_request_units(request_bytes: float | AnyArray) -> int | npt.NDArray[np.int64]:
    """Billed HTTP API request units: ``ceil(request_bytes / 524288)``, at least 1.

    "HTTP APIs are metered in 512 KB increments": AWS applies it to the request payload, so a
    4.5 MB request counts as 9 and a 12 KB request with a 46 KB response counts as 1. Source:
    https://aws.amazon.com/api-gateway/pricing/

    Parameters
    ----------
    request_bytes : float or ndarray
        Request payload size in bytes.

    Returns
    -------
    int or ndarray of int64
    """
    return _units("request_bytes", request_bytes, HTTP_METERING_INCREMENT_BYTES)


@overload
def websocket_message_units(message_bytes: float) -> int: ...
@overload
def websocket_message_units(message_bytes: AnyArray) -> npt.NDArray[np.int64]: ...
def websocket_message_units(message_bytes: float | AnyArray) -> int | npt.NDArray[np.int64]:
    """Billed WebSocket message units: ``ceil(message_bytes / 32768)``, at least 1.

    "Messages are metered in 32 KB increments. So, a 33 KB message is metered as two messages."
    Source: https://aws.amazon.com/api-gateway/pricing/

    Parameters
    ----------
    message_bytes : float or ndarray
        Message size in bytes (sent or received).

    Returns
    -------
    int or ndarray of int64
    """
    return _units("message_bytes", message_bytes, WEBSOCKET_METERING_INCREMENT_BYTES)


def cache_hour_price(book_region: RegionPrices, size_gb: float) -> Price:
    """Hourly price of a REST API cache of ``size_gb``.

    Source: https://aws.amazon.com/api-gateway/pricing/ (cache sizes 0.5 to 237 GB).

    Parameters
    ----------
    book_region : RegionPrices
        Prices of the region.
    size_gb : float
        Cache size in GB; must be one AWS sells.

    Returns
    -------
    Price

    Raises
    ------
    ValueError
        If AWS does not sell that size; the message lists the sizes it sells.
    """
    for sold_gb, price in book_region.cache_hour_by_gb.items():
        if math.isclose(sold_gb, size_gb, rel_tol=1e-9):
            return price
    sold = ", ".join(f"{gb:g}" for gb in sorted(book_region.cache_hour_by_gb))
    raise ValueError(f"no API Gateway cache of {size_gb:g} GB; sizes sold (GB): {sold}")


def cache_cost_usd(hours: float, price: Price) -> float:
    """USD for a cache enabled ``hours`` hours.

    Billed every hour it is enabled, whatever the traffic; never in the free tier. Source: https://aws.amazon.com/api-gateway/pricing/

    Parameters
    ----------
    hours : float
        Hours the cache was enabled (count a partial hour as a whole one).
    price : Price
        From :func:`cache_hour_price`.
    """
    return check_quantity("hours", hours) * price.value


def rest_requests_cost_usd(
    requests: float, prices: TieredPrice, prior: float = 0.0, free_requests: float = 0.0
) -> float:
    """USD for ``requests`` REST API calls made after ``prior`` calls this month.

    Tiers (us-east-1): first 333 M at $3.50/M, next 667 M at $2.80/M, next 19 B at $2.38/M, over
    20 B at $1.51/M. A cache hit is still a billed call. Source:
    https://aws.amazon.com/api-gateway/pricing/

    Parameters
    ----------
    requests : float
        Billed calls, >= 0.
    prices : TieredPrice
        ``RegionPrices.apigw_rest_requests``.
    prior : float
        Billed calls earlier in the month (account and region).
    free_requests : float
        Monthly free tier (``RegionPrices.free_rest_requests``), or 0 for accounts without it.
    """
    return priced_cost_usd(requests, prices, prior, free_requests)


def http_requests_cost_usd(
    request_units: float, prices: TieredPrice, prior: float = 0.0, free_requests: float = 0.0
) -> float:
    """USD for ``request_units`` HTTP API request units after ``prior`` units this month.

    Units are requests x :func:`http_request_units`. Tiers (us-east-1): first 300 M at $1.00/M,
    then $0.90/M. Source: https://aws.amazon.com/api-gateway/pricing/

    Parameters
    ----------
    request_units : float
        Billed request units, >= 0.
    prices : TieredPrice
        ``RegionPrices.apigw_http_requests``.
    prior : float
        Units earlier in the month.
    free_requests : float
        Monthly free tier (``RegionPrices.free_http_requests``), or 0.
    """
    return priced_cost_usd(request_units, prices, prior, free_requests)


def websocket_messages_cost_usd(
    message_units: float, prices: TieredPrice, prior: float = 0.0, free_messages: float = 0.0
) -> float:
    """USD for ``message_units`` WebSocket message units (sent and received) after ``prior``.

    Units are messages x :func:`websocket_message_units`. Tiers (us-east-1): first 1 B at
    $1.00/M, then $0.80/M. Source: https://aws.amazon.com/api-gateway/pricing/

    Parameters
    ----------
    message_units : float
        Billed message units, >= 0.
    prices : TieredPrice
        ``RegionPrices.apigw_websocket_messages``.
    prior : float
        Units earlier in the month.
    free_messages : float
        Monthly free tier (``RegionPrices.free_websocket_messages``), or 0.
    """
    return priced_cost_usd(message_units, prices, prior, free_messages)


def websocket_connection_minutes_cost_usd(
    minutes: float, price: Price, prior: float = 0.0, free_minutes: float = 0.0
) -> float:
    """USD for ``minutes`` WebSocket connection minutes after ``prior`` minutes this month.

    $0.25 per million minutes in us-east-1. Source: https://aws.amazon.com/api-gateway/pricing/

    Parameters
    ----------
    minutes : float
        Connection minutes, >= 0.
    price : Price
        ``RegionPrices.apigw_websocket_connection_minutes``.
    prior : float
        Minutes earlier in the month.
    free_minutes : float
        Monthly free tier (``RegionPrices.free_websocket_connection_minutes``), or 0.
    """
    return priced_cost_usd(minutes, TieredPrice.flat(price), prior, free_minutes)
