"""Pricing: pure billing rules of AWS front doors and a sourced, dated price book.

Pricing never imports the engine or SimPy: a stored run can be re-priced without re-simulating.
"""

from __future__ import annotations

from sim.pricing.alb import (
    LCU_DIMENSIONS,
    LcuDimensions,
    alb_hour_cost_usd,
    dominant_dimension,
    lcu,
    lcu_active_connections,
    lcu_new_connections,
    lcu_processed_bytes,
    lcu_rule_evaluations,
    rule_evaluations_per_s,
)
from sim.pricing.apigateway import (
    cache_cost_usd,
    cache_hour_price,
    http_request_units,
    http_requests_cost_usd,
    rest_requests_cost_usd,
    websocket_connection_minutes_cost_usd,
    websocket_message_units,
    websocket_messages_cost_usd,
)
from sim.pricing.book import (
    DEFAULT_BOOK_ID,
    Price,
    PriceBook,
    PriceBookError,
    RegionPrices,
    Tier,
    TieredPrice,
    UnknownRegionError,
    load_price_book,
    price_rows,
)
from sim.pricing.lambda_ import (
    billed_duration_ms,
    gb_seconds,
    lambda_compute_cost_usd,
    lambda_requests_cost_usd,
    validate_memory_mb,
)
from sim.pricing.tiers import (
    Segment,
    cumulative_cost,
    period_costs,
    priced_cost_usd,
    priced_segments,
    tier_segments,
    tiered_cost,
)
from sim.pricing.transfer import bytes_to_gb, data_transfer_out_cost_usd

__all__ = [
    "DEFAULT_BOOK_ID",
    "LCU_DIMENSIONS",
    "LcuDimensions",
    "Price",
    "PriceBook",
    "PriceBookError",
    "RegionPrices",
    "Segment",
    "Tier",
    "TieredPrice",
    "UnknownRegionError",
    "alb_hour_cost_usd",
    "billed_duration_ms",
    "bytes_to_gb",
    "cache_cost_usd",
    "cache_hour_price",
    "cumulative_cost",
    "data_transfer_out_cost_usd",
    "dominant_dimension",
    "gb_seconds",
    "http_request_units",
    "http_requests_cost_usd",
    "lambda_compute_cost_usd",
    "lambda_requests_cost_usd",
    "lcu",
    "lcu_active_connections",
    "lcu_new_connections",
    "lcu_processed_bytes",
    "lcu_rule_evaluations",
    "load_price_book",
    "period_costs",
    "price_rows",
    "priced_cost_usd",
    "priced_segments",
    "rest_requests_cost_usd",
    "rule_evaluations_per_s",
    "tier_segments",
    "tiered_cost",
    "validate_memory_mb",
    "websocket_connection_minutes_cost_usd",
    "websocket_message_units",
    "websocket_messages_cost_usd",
]
