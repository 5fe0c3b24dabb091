"""The published pricing examples of PRICING.md (1-18), through the engine's own pricing functions.

Prices come from the packaged price book (us-east-1), never from the test, except example 12, which
AWS published when x86 Lambda cost $0.00001667 per GB-s (the book holds today's $0.0000166667).
Dollar totals are asserted to the cent, intermediate values as the examples state them.
"""

from __future__ import annotations

import pytest

from sim.pricing import (
    LcuDimensions,
    RegionPrices,
    Tier,
    TieredPrice,
    alb_hour_cost_usd,
    billed_duration_ms,
    bytes_to_gb,
    cache_cost_usd,
    cache_hour_price,
    data_transfer_out_cost_usd,
    gb_seconds,
    http_request_units,
    http_requests_cost_usd,
    lambda_compute_cost_usd,
    lambda_requests_cost_usd,
    lcu_active_connections,
    lcu_new_connections,
    lcu_processed_bytes,
    lcu_rule_evaluations,
    load_price_book,
    priced_segments,
    rest_requests_cost_usd,
    rule_evaluations_per_s,
    tier_segments,
    websocket_connection_minutes_cost_usd,
    websocket_message_units,
    websocket_messages_cost_usd,
)
from sim.pricing.cloudfront import cloudfront_month_usd, plan_fee_usd, plan_upgrade_usd
from sim.pricing.lattice import lattice_billed_requests, lattice_month_usd
from sim.pricing.waf import waf_month_usd

MINUTES_PER_30_DAYS = 60 * 24 * 30


def cents(x: float) -> float:
    return round(x, 2)


@pytest.fixture(scope="module")
def us_east() -> RegionPrices:
    return load_price_book().region("us-east-1")


def test_01_alb_with_mutual_tls(us_east: RegionPrices) -> None:
    # 1 new connection/s, each lasting 2 min; 5 requests/s; 300 KB/s processed; 1 rule; EC2 targets.
    new = lcu_new_connections(1 * 3600)
    active_connections = 1 * 120  # Little's law: 1/s x 120 s
    active = lcu_active_connections(active_connections)
    processed = lcu_processed_bytes(300e3 * 3600, lambda_target=False)
    rules = lcu_rule_evaluations(5 * 3600, rules_processed=1)
    assert new == pytest.approx(0.04)
    assert active == pytest.approx(0.04)  # the example divides by 3,000
    assert processed == pytest.approx(1.08)  # 1.08 decimal GB in the hour
    assert rules == 0.0
    dims = LcuDimensions(new, active, processed, rules)
    assert dims.lcu == pytest.approx(1.08)
    assert dims.dominant == "processed_bytes"
    # With the 1,500-connection mutual-TLS capacity the active dimension doubles; bytes still dominate.
    active_mtls = lcu_active_connections(active_connections, mutual_tls=True)
    assert active_mtls == pytest.approx(0.08)
    assert LcuDimensions(new, active_mtls, processed, rules).lcu == pytest.approx(1.08)

    # the example's own published trust-store price, $0.0056 (example 18: the book has $0.005)
    hour = alb_hour_cost_usd(
        dims.lcu,
        us_east.alb_hour.value,
        us_east.alb_lcu_hour.value,
        trust_stores=1,
        trust_store_price=0.0056,
    )
    assert hour == pytest.approx(0.0225 + 0.0056 + 1.08 * 0.008)
    assert hour == pytest.approx(0.03674, abs=1e-12)
    assert cents(hour * 24 * 30) == 26.45


def test_18_the_trust_store_price_is_the_offer_files(us_east: RegionPrices) -> None:
    """PRICING.md example 18: the us-east-1 ELB offer file (2026-08-01 terms) prices "$0.005 per
    associated Application load balancer Trust Store unit-hour"; the book takes the file's price."""
    ts = us_east.alb_trust_store_hour
    assert ts.value == 0.005
    assert ts.file is not None and ts.file.startswith("bulk-api/AWSELB-us-east-1.json")
    hour = alb_hour_cost_usd(1.08, us_east.alb_hour.value, us_east.alb_lcu_hour.value, 1, ts.value)
    assert hour == pytest.approx(0.0225 + 0.005 + 1.08 * 0.008, abs=1e-12)


def test_02_alb_rule_evaluations() -> None:
    assert rule_evaluations_per_s(5, rules_processed=60) == pytest.approx(250.0)
    assert lcu_rule_evaluations(5 * 3600, rules_processed=60) == pytest.approx(0.25)


def test_03_http_api(us_east: RegionPrices) -> None:
    requests = 10_000 * MINUTES_PER_30_DAYS
    assert requests == 432_000_000
    segments = tier_segments(0, requests, us_east.apigw_http_requests.tiers)
    assert [(s.tier, s.quantity) for s in segments] == [(0, 300e6), (1, 132e6)]
    assert [cents(s.cost) for s in segments] == [300.00, 118.80]
    assert cents(http_requests_cost_usd(requests, us_east.apigw_http_requests)) == 418.80


def test_04_http_api_512_kb_increments(us_east: RegionPrices) -> None:
    calls = 25 * MINUTES_PER_30_DAYS
    units_each = http_request_units(4.5 * 1024 * 1024)
    assert units_each == 9
    assert calls * units_each == 9_720_000
    assert cents(http_requests_cost_usd(calls * units_each, us_east.apigw_http_requests)) == 9.72
    # the increment applies to the request: 12 KB in, 46 KB out counts as 1
    assert http_request_units(12 * 1024) == 1


def test_05_rest_api(us_east: RegionPrices) -> None:
    calls = 5_000_000
    calls_usd = rest_requests_cost_usd(calls, us_east.apigw_rest_requests)
    assert cents(calls_usd) == 17.50
    response_bytes = calls * 3 * 1024  # 3 KB each = 15,000,000 KB
    gb = bytes_to_gb(response_bytes, "binary")  # AWS's API Gateway examples: 1,048,576 KB per GB
    assert round(gb, 1) == 14.3
    transfer_usd = data_transfer_out_cost_usd(gb, us_east.data_transfer_out)
    assert cents(transfer_usd) == 1.29
    assert cents(calls_usd + transfer_usd) == 18.79


def test_06_rest_api_tiers(us_east: RegionPrices) -> None:
    calls = 15_000_000_000
    segments = tier_segments(0, calls, us_east.apigw_rest_requests.tiers)
    assert [s.quantity for s in segments] == [333e6, 667e6, 14e9]
    assert [cents(s.cost) for s in segments] == [1165.50, 1867.60, 33320.00]
    calls_usd = rest_requests_cost_usd(calls, us_east.apigw_rest_requests)
    assert cents(calls_usd) == 36353.10
    gb = bytes_to_gb(calls * 4 * 1024, "binary")
    assert round(gb, 2) == 57220.46
    # AWS's example applies the first-tier $0.09 to all 57,220 GB; reproduce it as published...
    flat_transfer_usd = gb * us_east.data_transfer_out.tiers[0].price
    assert cents(flat_transfer_usd) == 5149.84
    assert cents(calls_usd + flat_transfer_usd) == 41502.94
    # ...and note that the tiered rule (what the engine bills) is cheaper past 10 TB.
    assert data_transfer_out_cost_usd(gb, us_east.data_transfer_out) < flat_transfer_usd


def test_07_cache(us_east: RegionPrices) -> None:
    price = cache_hour_price(us_east, 1.6)
    assert price.value == 0.038
    assert cache_cost_usd(24, price) == pytest.approx(0.912)


def test_08_websocket(us_east: RegionPrices) -> None:
    users, days = 1000, 30
    assert websocket_message_units(3 * 1024) == 1
    messages = users * (100 + 500) * days
    assert messages == 18_000_000
    minutes = users * 12 * 60 * days
    assert minutes == 21_600_000
    messages_usd = websocket_messages_cost_usd(messages, us_east.apigw_websocket_messages)
    minutes_usd = websocket_connection_minutes_cost_usd(
        minutes, us_east.apigw_websocket_connection_minutes
    )
    assert cents(messages_usd) == 18.00
    assert cents(minutes_usd) == 5.40
    assert cents(messages_usd + minutes_usd) == 23.40


def test_09_rest_tiers_past_20_billion(us_east: RegionPrices) -> None:
    segments = tier_segments(0, 21_000_000_000, us_east.apigw_rest_requests.tiers)
    assert [cents(s.cost) for s in segments] == [1165.50, 1867.60, 45220.00, 1510.00]
    assert cents(rest_requests_cost_usd(21e9, us_east.apigw_rest_requests)) == 49763.10


def test_10_http_tiers(us_east: RegionPrices) -> None:
    units_each = http_request_units(512 * 1024)
    assert units_each == 1
    segments = tier_segments(0, 1_000_000_000 * units_each, us_east.apigw_http_requests.tiers)
    assert [cents(s.cost) for s in segments] == [300.00, 630.00]
    assert cents(http_requests_cost_usd(1e9, us_east.apigw_http_requests)) == 930.00


def test_11_cache_hours(us_east: RegionPrices) -> None:
    assert cents(cache_cost_usd(730, cache_hour_price(us_east, 0.5))) == 14.60
    assert cents(cache_cost_usd(730, cache_hour_price(us_east, 237))) == 2774.00


def test_12_lambda_with_free_tier(us_east: RegionPrices) -> None:
    # AWS's older example priced x86 at $0.00001667 per GB-s; today's book says $0.0000166667
    # (which would give $18.33), so the historical single tier is built here explicitly.
    historical = TieredPrice(
        tiers=(Tier(None, 0.00001667),),
        unit="USD per GB-second, x86",
        source="https://aws.amazon.com/lambda/pricing/",
        retrieved="historical example",
    )
    invocations = 3_000_000
    per_invocation = gb_seconds(512, billed_duration_ms(1000.0))
    assert per_invocation == 0.5
    total_gb_s = invocations * per_invocation
    assert total_gb_s == 1_500_000
    free_gb_s = us_east.free_tier["lambda_gb_seconds"].quantity
    assert free_gb_s == 400_000

    # The free tier is the month's first units: a $0 segment, then the paid one.
    segments = priced_segments(total_gb_s, historical, free_quantity=free_gb_s)
    assert [(s.quantity, s.unit_price) for s in segments] == [
        (400_000, 0.0),
        (1_100_000, 0.00001667),
    ]
    compute_usd = lambda_compute_cost_usd(total_gb_s, historical, free_gb_seconds=free_gb_s)
    assert cents(compute_usd) == 18.34

    requests_usd = lambda_requests_cost_usd(
        invocations,
        us_east.lambda_requests,
        free_requests=us_east.free_tier["lambda_requests"].quantity,
    )
    assert us_east.free_tier["lambda_requests"].quantity == 1_000_000
    assert cents(requests_usd) == 0.40
    assert cents(compute_usd + requests_usd) == 18.74

    # Same rule on the book's current tiers: boundaries stay at their published cumulative counts.
    current = us_east.lambda_gb_second_x86.with_free(free_gb_s)
    assert [t.up_to for t in current.tiers] == [400_000, 6e9, 15e9, None]
    assert cents(
        lambda_compute_cost_usd(total_gb_s, us_east.lambda_gb_second_x86, 0, free_gb_s)
    ) == (18.33)


# --------------------------------------------------------------------------- examples 13-17
def test_13_waf(us_east: RegionPrices) -> None:
    # 1 web ACL, 7 rules (5 custom + 2 managed rule groups), 10 M requests in a month
    assert us_east.need("waf_web_acl_month").value == 5.0
    assert us_east.need("waf_rule_month").value == 1.0
    assert us_east.need("waf_requests").value == 0.60 / 1e6
    usd = waf_month_usd(us_east, web_acls=1, rules=7, requests=10e6)
    assert cents(usd) == 18.00


@pytest.mark.parametrize(
    ("requests", "bot_share", "expected"),
    [(10e6, 0.10, 29.00), (10e6, 1.0, 29.00), (30e6, 1.0, 61.00)],
)
def test_14_waf_with_bot_control(
    us_east: RegionPrices, requests: float, bot_share: float, expected: float
) -> None:
    # 8 rules (Bot Control's rule group among them), + $10 a month; Bot Control's requests are free
    # up to 10 M a month and $1.00 per million after (the price data, not the guide's $30 / $39)
    tiers = us_east.need("waf_bot_control_requests").tiers
    assert [(t.up_to, t.price) for t in tiers] == [(10e6, 0.0), (None, 1.0 / 1e6)]
    usd = waf_month_usd(
        us_east,
        web_acls=1,
        rules=8,
        requests=requests,
        bot_control=True,
        bot_control_requests=bot_share * requests,
    )
    assert cents(usd) == expected


def test_15_cloudfront_flat_rate_proration(us_east: RegionPrices) -> None:
    pro, business = us_east.plan("pro"), us_east.plan("business")
    assert (pro.fee.value, business.fee.value) == (15.0, 200.0)
    # Pro activated on day 16 of a 30-day month: days 16..30
    assert cents(plan_fee_usd(pro.fee.value, days_in_month=30, days_active=15)) == 7.50
    upgrade = plan_upgrade_usd(
        pro.fee.value, business.fee.value, days_in_month=30, days_remaining=15
    )
    assert cents(upgrade) == 92.50
    assert cents(pro.fee.value + upgrade) == 107.50


def test_16_vpc_lattice(us_east: RegionPrices) -> None:
    # 100 services, 100 GB each a month, 200,000 requests an hour, 730 hours
    hours = 730
    services = 100
    assert cents(services * hours * us_east.need("lattice_service_hour").value) == 1825.00
    assert cents(10_000 * us_east.need("lattice_gb").value) == 250.00
    assert lattice_billed_requests(200_000) == 0  # under the 300,000 deducted each hour
    usd = lattice_month_usd(
        us_east, services=services, hours=hours, gb_processed=10_000, requests_per_hour=200_000
    )
    assert cents(usd) == 2075.00
    # an hour of 500,000 requests bills 200,000 of them
    assert lattice_billed_requests(500_000) == 200_000


def test_17_cloudfront_pay_as_you_go(us_east: RegionPrices) -> None:
    # 150 M HTTPS requests and 143 GB out in a US month
    no_free = cloudfront_month_usd(us_east, "United States", https_requests=150e6, gb_out=143)
    assert cents(150e6 * us_east.edge("cloudfront_requests_https", "United States").value) == 150.0
    assert round(143 * 0.085, 3) == 12.155
    assert round(no_free, 3) == 162.155
    free = us_east.free_tier
    with_free = cloudfront_month_usd(
        us_east,
        "United States",
        https_requests=150e6,
        gb_out=143,
        free_requests=free["cloudfront_requests"].quantity,
        free_gb_out=free["cloudfront_data_transfer_gb"].quantity,
    )
    assert cents(with_free) == 140.00
