"""Cost timelines: hourly meters + a price book -> one row per hour, option, component (and tier).

This module reads only the meter table and the scenario's billing settings, never the engine, so a
stored run can be re-priced (another region, next year's book) without simulating again.

Rules (PRICING.md):

* per-hour charges (ALB hour, LCU-hours, public IPv4, trust stores) bill every clock hour the period
  touches, a partial hour as a full one;
* monthly tiers (API Gateway requests, Lambda, data transfer out) apply to the month-to-date quantity of
  the calendar month (UTC), reset at each month start, so an hour that crosses a tier boundary is split
  into one row per tier. The period is assumed to be the account's only usage in the month;
* with ``pricing.free_tier`` on, each monthly allowance is a leading $0 tier.

Every row satisfies ``cost_usd = quantity × unit_price_usd``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from sim.config import Scenario
from sim.pricing.apigateway import cache_hour_price
from sim.pricing.book import Price, RegionPrices, TieredPrice
from sim.pricing.tiers import tier_segments
from sim.units import BINARY_GB_BYTES

#: Column name -> (unit, description): the documented schema of costs.parquet.
COST_COLUMNS: dict[str, tuple[str, str]] = {
    "hour": ("timestamp UTC", "start of the clock hour"),
    "option": (
        "name",
        "alb, apigw_rest, apigw_http, apigw_rest_cached[_<size>gb], apigw_websocket",
    ),
    "category": ("name", "front_door, backend (Lambda) or transfer (data out)"),
    "component": (
        "name",
        "what is billed: alb_hours, lcu, public_ipv4, trust_store, requests, ...",
    ),
    "tier": ("index", "0-based tier of a tiered price (null for flat prices)"),
    "quantity": ("see unit", "billed quantity in the hour"),
    "unit": ("text", "unit of quantity"),
    "unit_price_usd": ("USD per unit", "price of one unit"),
    "cost_usd": ("USD", "quantity × unit_price_usd"),
}


@dataclass(frozen=True)
class Charge:
    """One billed component of an option: an hourly quantity series and its price."""

    option: str
    category: str
    component: str
    unit: str
    quantity: NDArray[np.float64]
    price: Price | TieredPrice


def charges(meters: pa.Table, scenario: Scenario, prices: RegionPrices) -> list[Charge]:
    """Everything each option bills, as hourly quantities (before prices)."""
    col = {name: meters.column(name).to_numpy() for name in meters.column_names if name != "hour"}
    n = meters.num_rows
    free = scenario.pricing.free_tier

    def tiered(price: TieredPrice, free_quantity: float) -> TieredPrice:
        return price.with_free(free_quantity) if free else price

    def q(name: str) -> NDArray[np.float64]:
        return np.asarray(col[name], dtype=np.float64)

    def behind(option: str, path: str) -> list[Charge]:
        """Lambda and data transfer behind a front door (``path``: ALB, gateway or cache)."""
        prefix = {"alb": "", "apigw": "apigw_", "cached": "cached_"}[path]
        out = []
        if scenario.backend.enabled:
            gb_s_price = (
                prices.lambda_gb_second_arm64
                if scenario.backend.architecture == "arm64"
                else prices.lambda_gb_second_x86
            )
            out += [
                Charge(
                    option,
                    "backend",
                    "lambda_requests",
                    "request",
                    q(f"{prefix}lambda_invocations"),
                    tiered(TieredPrice.flat(prices.lambda_requests), prices.free_lambda_requests),
                ),
                Charge(
                    option,
                    "backend",
                    "lambda_gb_seconds",
                    "GB-second",
                    q(f"{prefix}lambda_gb_seconds"),
                    tiered(gb_s_price, prices.free_lambda_gb_seconds),
                ),
            ]
        out_bytes = q("data_out_bytes" if path == "alb" else "apigw_data_out_bytes")
        if option == "apigw_websocket":  # a response stands for each message the server sends
            out_bytes = out_bytes * scenario.apigateway.websocket.server_messages_per_request
        out.append(
            Charge(
                option,
                "transfer",
                "data_transfer",
                "GB (2^30 bytes)",
                out_bytes / BINARY_GB_BYTES,
                tiered(prices.data_transfer_out, prices.free_data_transfer_gb),
            )
        )
        return out

    def rest_requests(option: str) -> Charge:
        return Charge(
            option,
            "front_door",
            "requests",
            "request",
            q("apigw_requests"),
            tiered(prices.apigw_rest_requests, prices.free_rest_requests),
        )

    out: list[Charge] = []
    cached = scenario.apigateway.cached_options()
    for option in scenario.options:
        if option == "alb":
            alb = scenario.alb
            out.append(
                Charge(option, "front_door", "alb_hours", "ALB-hour", np.ones(n), prices.alb_hour)
            )
            out.append(
                Charge(option, "front_door", "lcu", "LCU-hour", q("lcu"), prices.alb_lcu_hour)
            )
            if alb.internet_facing:
                out.append(
                    Charge(
                        option,
                        "front_door",
                        "public_ipv4",
                        "IPv4-address-hour",
                        np.full(n, float(alb.availability_zones)),
                        prices.public_ipv4_hour,
                    )
                )
            if alb.trust_stores:
                out.append(
                    Charge(
                        option,
                        "front_door",
                        "trust_store",
                        "trust-store-hour",
                        np.full(n, float(alb.trust_stores)),
                        prices.alb_trust_store_hour,
                    )
                )
            out += behind(option, "alb")
        elif option == "apigw_rest":
            out.append(rest_requests(option))
            out += behind(option, "apigw")
        elif option == "apigw_http":
            out.append(
                Charge(
                    option,
                    "front_door",
                    "requests",
                    "request-unit (512 KB)",
                    q("http_request_units"),
                    tiered(prices.apigw_http_requests, prices.free_http_requests),
                )
            )
            out += behind(option, "apigw")
        elif option in cached:
            # a cache hit is still a billed call; the cache is billed every hour it is enabled
            out.append(rest_requests(option))
            out.append(
                Charge(
                    option,
                    "front_door",
                    "cache_hours",
                    f"cache-hour ({cached[option]:g} GB)",
                    np.ones(n),
                    cache_hour_price(prices, cached[option]),
                )
            )
            out += behind(option, "cached")
        elif option == "apigw_websocket":
            out.append(
                Charge(
                    option,
                    "front_door",
                    "messages",
                    "message-unit (32 KB)",
                    q("websocket_message_units"),
                    tiered(prices.apigw_websocket_messages, prices.free_websocket_messages),
                )
            )
            out.append(
                Charge(
                    option,
                    "front_door",
                    "connection_minutes",
                    "connection-minute",
                    q("connection_minutes"),
                    tiered(
                        TieredPrice.flat(prices.apigw_websocket_connection_minutes),
                        prices.free_websocket_connection_minutes,
                    ),
                )
            )
            out += behind(option, "apigw")
        else:  # pragma: no cover - config restricts the names
            raise ValueError(f"unknown option {option!r}")
    return out


def month_keys(hours: pa.Array | pa.ChunkedArray) -> NDArray[np.int64]:
    """Calendar month (UTC) of each hour as ``year * 12 + month - 1``."""
    ts = np.asarray(hours.to_numpy(), dtype="datetime64[M]")
    return ts.astype(np.int64)


def cost_timeline(meters: pa.Table, scenario: Scenario, prices: RegionPrices) -> pa.Table:
    """The cost table (:data:`COST_COLUMNS`) of a meter table under a region's prices."""
    hours = meters.column("hour")
    months = month_keys(hours)
    rows: dict[str, list[object]] = {k: [] for k in COST_COLUMNS}
    hour_values = hours.to_pylist()
    for charge in charges(meters, scenario, prices):
        for hour_index, tier, quantity, unit_price in _priced(charge, months):
            rows["hour"].append(hour_values[hour_index])
            rows["option"].append(charge.option)
            rows["category"].append(charge.category)
            rows["component"].append(charge.component)
            rows["tier"].append(tier)
            rows["quantity"].append(quantity)
            rows["unit"].append(charge.unit)
            rows["unit_price_usd"].append(unit_price)
            rows["cost_usd"].append(quantity * unit_price)
    schema = pa.schema(
        [
            ("hour", hours.type),
            ("option", pa.string()),
            ("category", pa.string()),
            ("component", pa.string()),
            ("tier", pa.int16()),
            ("quantity", pa.float64()),
            ("unit", pa.string()),
            ("unit_price_usd", pa.float64()),
            ("cost_usd", pa.float64()),
        ]
    )
    return pa.table(rows, schema=schema)


def _priced(
    charge: Charge, months: NDArray[np.int64]
) -> Iterable[tuple[int, int | None, float, float]]:
    """``(hour index, tier, quantity, unit price)`` rows of one charge."""
    price = charge.price
    if isinstance(price, Price):
        for i, q in enumerate(charge.quantity):
            yield i, None, float(q), price.value
        return
    month_to_date = 0.0
    current_month = None
    for i, q in enumerate(charge.quantity):
        if months[i] != current_month:
            current_month, month_to_date = months[i], 0.0
        segments = tier_segments(month_to_date, float(q), price.tiers)
        if not segments:
            # a zero-usage hour still gets a row, at the month-to-date tier's price
            tier = _tier_at(price, month_to_date)
            yield i, tier, 0.0, price.tiers[tier].price
        for seg in segments:
            yield i, seg.tier, seg.quantity, seg.unit_price
        month_to_date += float(q)


def _tier_at(price: TieredPrice, month_to_date: float) -> int:
    for k, tier in enumerate(price.tiers):
        if tier.up_to is None or month_to_date < tier.up_to:
            return k
    return len(price.tiers) - 1
