"""Properties of the billing rules: LCUs, metering units, Lambda units, conversions, cost helpers."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.pricing import (
    LCU_DIMENSIONS,
    LcuDimensions,
    RegionPrices,
    alb_hour_cost_usd,
    billed_duration_ms,
    bytes_to_gb,
    data_transfer_out_cost_usd,
    dominant_dimension,
    gb_seconds,
    http_request_units,
    http_requests_cost_usd,
    lambda_compute_cost_usd,
    lambda_requests_cost_usd,
    lcu,
    lcu_active_connections,
    lcu_new_connections,
    lcu_processed_bytes,
    lcu_rule_evaluations,
    load_price_book,
    rest_requests_cost_usd,
    rule_evaluations_per_s,
    validate_memory_mb,
    websocket_connection_minutes_cost_usd,
    websocket_message_units,
    websocket_messages_cost_usd,
)
from sim.pricing.apigateway import HTTP_METERING_INCREMENT_BYTES, WEBSOCKET_METERING_INCREMENT_BYTES

BOOK = load_price_book()
REGIONS = list(BOOK.regions.values())

lcus = st.floats(0, 1e4, allow_nan=False, allow_infinity=False)
counts = st.floats(0, 1e12, allow_nan=False, allow_infinity=False)
sizes = st.floats(0, 1e8, allow_nan=False, allow_infinity=False)


# --------------------------------------------------------------------------- ALB


@given(lcus, lcus, lcus, lcus)
def test_lcu_is_the_max_of_its_dimensions(a: float, b: float, c: float, d: float) -> None:
    billed = lcu(a, b, c, d)
    assert billed == max(a, b, c, d)
    dims = LcuDimensions(a, b, c, d)
    assert dims.lcu == billed
    values = dict(zip(LCU_DIMENSIONS, (a, b, c, d), strict=True))
    assert values[dims.dominant] == billed
    # ties go to the first dimension in the fixed order
    assert dims.dominant == next(name for name in LCU_DIMENSIONS if values[name] == billed)


def test_lcu_ties_in_fixed_order() -> None:
    assert LcuDimensions(1, 1, 1, 1).dominant == "new_connections"
    assert LcuDimensions(0, 2, 2, 0).dominant == "active_connections"
    assert LcuDimensions(0, 0, 0, 0).dominant == "new_connections"


@given(st.lists(st.tuples(lcus, lcus, lcus, lcus), min_size=1, max_size=24))
def test_lcu_works_on_hourly_columns(rows: list[tuple[float, float, float, float]]) -> None:
    cols = [np.array(col) for col in zip(*rows, strict=True)]
    billed = lcu(*cols)
    assert isinstance(billed, np.ndarray)
    assert billed.tolist() == [max(r) for r in rows]
    names = dominant_dimension(*cols)
    assert list(names) == [LcuDimensions(*r).dominant for r in rows]
    # the hourly max summed is never below the max of monthly sums
    assert billed.sum() >= max(col.sum() for col in cols) - 1e-9


@given(st.floats(0, 1e6), st.integers(0, 10))
def test_no_rule_evaluations_for_ten_rules_or_fewer(rate: float, rules: int) -> None:
    assert rule_evaluations_per_s(rate, rules) == 0.0
    assert lcu_rule_evaluations(rate * 3600, rules) == 0.0


@given(st.floats(0, 1e6), st.integers(11, 1000))
def test_rule_evaluations_beyond_ten(rate: float, rules: int) -> None:
    assert rule_evaluations_per_s(rate, rules) == pytest.approx(rate * (rules - 10))


def test_lcu_capacities() -> None:
    assert lcu_new_connections(25 * 3600) == 1.0
    assert lcu_active_connections(3000) == 1.0
    assert lcu_active_connections(1500, mutual_tls=True) == 1.0
    assert lcu_processed_bytes(1e9, lambda_target=False) == 1.0
    assert lcu_processed_bytes(0.4e9, lambda_target=True) == pytest.approx(1.0)
    assert lcu_rule_evaluations(1 * 3600, rules_processed=1010) == 1.0
    assert lcu_new_connections(25 * 1800, hour_s=1800) == 1.0


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: lcu_new_connections(x),
        lambda x: lcu_active_connections(x),
        lambda x: lcu_processed_bytes(x, lambda_target=True),
        lambda x: lcu_rule_evaluations(x, 20),
    ],
)
def test_lcu_functions_are_elementwise(fn: Callable[..., object]) -> None:
    x = np.array([0.0, 1.0, 1234.5, 9.9e9])
    out = fn(x)
    assert isinstance(out, np.ndarray)
    assert out.shape == x.shape
    assert out.tolist() == pytest.approx([fn(float(v)) for v in x])
    assert isinstance(fn(3.0), float)
    with pytest.raises(ValueError):
        fn(np.array([1.0, -1.0]))
    with pytest.raises(ValueError):
        fn(-1.0)


@given(lcus, st.integers(0, 3), st.integers(0, 6))
def test_alb_hour_cost_is_positive_and_monotone(units: float, stores: int, ips: int) -> None:
    for r in REGIONS:

        def hour(x: float, r: RegionPrices = r) -> float:
            return alb_hour_cost_usd(
                x,
                r.alb_hour.value,
                r.alb_lcu_hour.value,
                trust_stores=stores,
                trust_store_price=r.alb_trust_store_hour.value,
                public_ipv4_addresses=ips,
                ipv4_price=r.public_ipv4_hour.value,
            )

        assert hour(units) >= r.alb_hour.value
        assert hour(units + 1) > hour(units)


def test_alb_hour_cost_needs_prices_for_extras() -> None:
    with pytest.raises(ValueError, match="trust_store_price"):
        alb_hour_cost_usd(1.0, 0.0225, 0.008, trust_stores=1)
    with pytest.raises(ValueError, match="ipv4_price"):
        alb_hour_cost_usd(1.0, 0.0225, 0.008, public_ipv4_addresses=2)
    hours = alb_hour_cost_usd(np.array([0.0, 1.0]), 0.0225, 0.008, 0, None, 2, 0.005)
    assert hours.tolist() == pytest.approx([0.0325, 0.0405])


# --------------------------------------------------------------------------- API Gateway units


@given(sizes)
def test_http_units_cover_the_payload(size: float) -> None:
    units = http_request_units(size)
    assert isinstance(units, int)
    assert units >= 1
    assert units * HTTP_METERING_INCREMENT_BYTES >= size
    assert units == 1 or (units - 1) * HTTP_METERING_INCREMENT_BYTES < size


@given(sizes)
def test_websocket_units_cover_the_message(size: float) -> None:
    units = websocket_message_units(size)
    assert units >= 1
    assert units * WEBSOCKET_METERING_INCREMENT_BYTES >= size
    assert units == 1 or (units - 1) * WEBSOCKET_METERING_INCREMENT_BYTES < size


def test_units_on_arrays() -> None:
    http = http_request_units(np.array([0, 1, 524_288, 524_289, 4.5 * 2**20]))
    assert http.dtype == np.int64
    assert http.tolist() == [1, 1, 1, 2, 9]
    ws = websocket_message_units(np.array([0, 32 * 1024, 33 * 1024]))
    assert ws.dtype == np.int64
    assert ws.tolist() == [1, 1, 2]
    with pytest.raises(ValueError):
        http_request_units(-1)


# --------------------------------------------------------------------------- Lambda


@given(st.floats(0, 1e6, allow_nan=False))
def test_billed_duration_rounds_up_to_1_ms(duration: float) -> None:
    billed = billed_duration_ms(duration)
    assert billed == math.ceil(duration)
    assert duration <= billed
    assert billed - 1 < duration


def test_billed_duration_on_arrays() -> None:
    assert billed_duration_ms(np.array([0.2, 1.0, 1.0001])).tolist() == [1.0, 1.0, 2.0]


@pytest.mark.parametrize("memory", [127, 10_241, -1, math.nan])
def test_memory_outside_lambda_range_raises(memory: float) -> None:
    with pytest.raises(ValueError):
        validate_memory_mb(memory)
    with pytest.raises(ValueError):
        gb_seconds(memory, 1000)


def test_gb_seconds() -> None:
    assert gb_seconds(128, 1000) == 0.125
    assert gb_seconds(10_240, 1000) == 10.0
    assert gb_seconds(1024, np.array([1.0, 2000.0])).tolist() == [0.001, 2.0]


# --------------------------------------------------------------------------- transfer


@given(st.floats(0, 1e15, allow_nan=False))
def test_gb_conventions(n_bytes: float) -> None:
    decimal = bytes_to_gb(n_bytes, "decimal")
    binary = bytes_to_gb(n_bytes, "binary")
    assert decimal == pytest.approx(n_bytes / 1e9)
    assert binary == pytest.approx(n_bytes / 2**30)
    assert binary <= decimal


def test_gb_convention_must_be_named() -> None:
    with pytest.raises(ValueError):
        bytes_to_gb(1.0, "metric")  # type: ignore[call-overload]


# --------------------------------------------------------------------------- cost helpers


def _cost_functions(
    r: RegionPrices, free: bool = True
) -> dict[str, Callable[[float, float], float]]:
    k = 1.0 if free else 0.0
    return {
        "rest": lambda q, prior: rest_requests_cost_usd(q, r.apigw_rest_requests, prior),
        "http": lambda q, prior: http_requests_cost_usd(q, r.apigw_http_requests, prior),
        "ws": lambda q, prior: websocket_messages_cost_usd(q, r.apigw_websocket_messages, prior),
        "minutes": lambda q, prior: websocket_connection_minutes_cost_usd(
            q,
            r.apigw_websocket_connection_minutes,
            prior,
            k * r.free_tier["websocket_connection_minutes"].quantity,
        ),
        "lambda_requests": lambda q, prior: lambda_requests_cost_usd(
            q, r.lambda_requests, prior, k * r.free_tier["lambda_requests"].quantity
        ),
        "x86": lambda q, prior: lambda_compute_cost_usd(
            q, r.lambda_gb_second_x86, prior, k * r.free_tier["lambda_gb_seconds"].quantity
        ),
        "arm64": lambda q, prior: lambda_compute_cost_usd(q, r.lambda_gb_second_arm64, prior),
        "transfer": lambda q, prior: data_transfer_out_cost_usd(
            q / 1e6, r.data_transfer_out, prior / 1e6, k * r.free_tier["data_transfer_gb"].quantity
        ),
    }


@given(counts, counts, counts)
def test_costs_never_negative_and_monotone(a: float, b: float, prior: float) -> None:
    lo, hi = sorted((a, b))
    for r in REGIONS:
        for name, fn in _cost_functions(r).items():
            low, high = fn(lo, prior), fn(hi, prior)
            assert 0 <= low <= high * (1 + 1e-12) + 1e-12, (r.region, name)


@given(counts, counts)
def test_later_units_never_cost_more(quantity: float, prior: float) -> None:
    # tiers only fall: without a free allowance, the same quantity costs no more later in the month
    for r in REGIONS:
        for name, fn in _cost_functions(r, free=False).items():
            assert fn(quantity, prior) <= fn(quantity, 0.0) * (1 + 1e-9) + 1e-9, (r.region, name)
