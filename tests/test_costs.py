"""costs.parquet is exactly what PRICING.md's rules give from meters.parquet.

The checks below recompute every hour's cost from the meter table with PRICING.md's numbers written
out by hand (not through the package's book or tier code), as a reader with PRICING.md alone would,
with the default free tier (Always Free: Lambda 1 M requests and 400,000 GB-s, 100 GB out a month).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from conftest import scenario_with

import sim
from sim.errors import ConfigError
from sim.meters import fact_columns
from sim.pricing.book import load_price_book

#: Only the API Gateway options: no ALB, function URL or CloudFront (the meters here are made by hand
#: for the direct and gateway paths alone).
GATEWAY_ONLY = ("alb.enabled=false", "lambda_url.enabled=false", "cloudfront.origins=[]")

# PRICING.md, us-east-1
ALB_HOUR, LCU_HOUR, IPV4_HOUR = 0.0225, 0.008, 0.005
REST = [(333e6, 3.50e-6), (1e9, 2.80e-6), (20e9, 2.38e-6), (np.inf, 1.51e-6)]
HTTP = [(300e6, 1.00e-6), (np.inf, 0.90e-6)]
LAMBDA_REQ = [(1e6, 0.0), (np.inf, 0.20e-6)]  # Always Free: 1 M requests
LAMBDA_X86 = [(4e5, 0.0), (6e9, 0.0000166667), (15e9, 0.000015), (np.inf, 0.0000133334)]
DTO = [(100, 0.0), (10 * 1024, 0.09), (50 * 1024, 0.085), (150 * 1024, 0.07), (np.inf, 0.05)]


def cumulative(x: float, tiers: list[tuple[float, float]]) -> float:
    """Cost of the first x units of a month."""
    cost, lo = 0.0, 0.0
    for hi, price in tiers:
        cost += max(0.0, min(x, hi) - lo) * price
        lo = hi
    return cost


def hourly_by_hand(
    q: np.ndarray, tiers: list[tuple[float, float]], months: np.ndarray
) -> np.ndarray:
    out = np.empty(len(q))
    mtd, month = 0.0, None
    for i, x in enumerate(q):
        if months[i] != month:
            mtd, month = 0.0, months[i]
        out[i] = cumulative(mtd + x, tiers) - cumulative(mtd, tiers)
        mtd += x
    return out


def per_hour(costs: pa.Table, option: str, component: str, n: int) -> np.ndarray:
    rows = costs.filter(
        (pa.compute.field("option") == option) & (pa.compute.field("component") == component)
    )
    hours = rows.column("hour").to_pylist()
    first = costs.column("hour")[0].as_py()
    out = np.zeros(n)
    for h, c in zip(hours, rows.column("cost_usd").to_numpy(), strict=True):
        out[int((h - first).total_seconds() // 3600)] += c
    return out


TWO_DAYS = (
    # starts the evening of Nov 30: the month-to-date count resets at Dec 1 00:00 UTC
    "scenario.start=2026-11-30T20:00:00Z",
    "scenario.duration_days=1.5",
    "traffic.requests_per_day=50000000",
    "traffic.peak_requests_per_s=1200",
)


@pytest.fixture(scope="module")
def run_two_days() -> sim.RunResult:
    return sim.run(scenario_with(*TWO_DAYS))


def test_every_hour_is_what_pricing_md_gives(run_two_days: sim.RunResult) -> None:
    m, c = run_two_days.meters, run_two_days.costs
    n = m.num_rows
    months = np.array([h.month for h in m.column("hour").to_pylist()])
    lcu = m.column("lcu").to_numpy()
    assert np.allclose(per_hour(c, "alb", "alb_hours", n), ALB_HOUR, rtol=0, atol=1e-12)
    assert np.allclose(per_hour(c, "alb", "lcu", n), lcu * LCU_HOUR, rtol=0, atol=1e-12)
    assert np.allclose(per_hour(c, "alb", "public_ipv4", n), 2 * IPV4_HOUR, rtol=0, atol=1e-12)
    req = m.column("gateway_requests").to_numpy().astype(float)
    assert np.allclose(per_hour(c, "apigw_rest", "requests", n), hourly_by_hand(req, REST, months))
    units = m.column("gateway_http_units").to_numpy().astype(float)
    assert np.allclose(
        per_hour(c, "apigw_http", "requests", n), hourly_by_hand(units, HTTP, months)
    )
    for option, path in (("alb", "direct"), ("apigw_rest", "gateway"), ("apigw_http", "gateway")):
        inv = m.column(f"{path}_invocations").to_numpy().astype(float)
        gbs = m.column(f"{path}_billed_ms").to_numpy() / 1000 * 512 / 1024
        out_gb = m.column(f"{path}_response_bytes").to_numpy() / 2**30
        assert np.allclose(
            per_hour(c, option, "lambda_requests", n), hourly_by_hand(inv, LAMBDA_REQ, months)
        )
        assert np.allclose(
            per_hour(c, option, "lambda_gb_seconds", n), hourly_by_hand(gbs, LAMBDA_X86, months)
        )
        assert np.allclose(
            per_hour(c, option, "data_transfer", n), hourly_by_hand(out_gb, DTO, months)
        )


def test_rows_are_quantity_times_price_and_totals_add_up(run_two_days: sim.RunResult) -> None:
    c = run_two_days.costs
    q, p, cost = (c.column(k).to_numpy() for k in ("quantity", "unit_price_usd", "cost_usd"))
    assert np.array_equal(q * p, cost)
    assert (cost >= 0).all()
    summary = run_two_days.summary
    for option, t in summary["options"].items():
        rows = c.filter(pa.compute.field("option") == option)
        assert t["total_usd"] == pytest.approx(float(np.sum(rows.column("cost_usd"))), rel=1e-12)
        assert t["total_usd"] == pytest.approx(
            t["front_door_usd"] + t["backend_usd"] + t["transfer_usd"], rel=1e-12
        )


def synthetic_meters(hourly_requests: list[float], start: datetime) -> pa.Table:
    """A meter table of facts with the given accepted requests per hour and nothing else."""
    from sim.engine.paths import PathSpec

    n = len(hourly_requests)
    cols: dict[str, object] = {}
    for name in fact_columns([PathSpec("direct", False), PathSpec("gateway", True)]):
        cols[name] = np.zeros(n)
    cols["hour"] = pa.array(
        [start + timedelta(hours=i) for i in range(n)], pa.timestamp("us", tz="UTC")
    )
    cols["gateway_requests"] = np.array(hourly_requests)
    cols["gateway_http_units"] = np.array(hourly_requests)
    return pa.table(cols)


def test_a_tier_crossing_shows_in_the_hour_it_happens() -> None:
    s = scenario_with("apigateway.apis=['rest']", "backend.enabled=false", *GATEWAY_ONLY)
    prices = load_price_book().region("us-east-1")
    meters = synthetic_meters([300e6, 50e6, 10e6], datetime(2026, 11, 1, tzinfo=UTC))
    costs = sim.price(meters, s).filter(pa.compute.field("component") == "requests")
    rows = costs.to_pylist()
    assert [(r["tier"], r["quantity"]) for r in rows] == [
        (0, 300e6),
        (0, 33e6),
        (1, 17e6),
        (1, 10e6),
    ]
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(
        333e6 * 3.5e-6 + 27e6 * 2.8e-6, rel=1e-12
    )
    assert prices.apigw_rest_requests.tiers[0].price == 3.5e-6


def test_month_to_date_resets_at_the_month_start() -> None:
    s = scenario_with("apigateway.apis=['rest']", "backend.enabled=false", *GATEWAY_ONLY)
    meters = synthetic_meters([400e6, 400e6], datetime(2026, 11, 30, 23, tzinfo=UTC))
    rows = sim.price(meters, s).filter(pa.compute.field("component") == "requests").to_pylist()
    # Nov 30 23:00 crosses 333 M; Dec 1 00:00 starts again at the first tier
    assert [(r["hour"].day, r["tier"], r["quantity"]) for r in rows] == [
        (30, 0, 333e6),
        (30, 1, 67e6),
        (1, 0, 333e6),
        (1, 1, 67e6),
    ]


@pytest.mark.parametrize(
    ("choice", "free"), [("legacy_12_month", 1e6), ("always_free", 0.0), ("none", 0.0)]
)
def test_the_http_free_tier_is_a_leading_zero_price_tier_of_the_legacy_offer(
    choice: str, free: float
) -> None:
    s = scenario_with(
        "apigateway.apis=['http']",
        "backend.enabled=false",
        *GATEWAY_ONLY,
        f"pricing.free_tier='{choice}'",
    )
    meters = synthetic_meters([600_000, 600_000], datetime(2026, 11, 1, tzinfo=UTC))
    rows = sim.price(meters, s).filter(pa.compute.field("component") == "requests").to_pylist()
    assert sum(r["cost_usd"] for r in rows) == pytest.approx((1.2e6 - free) * 1e-6, rel=1e-12)


def test_other_usage_in_the_account_starts_each_month_further_up_the_tiers() -> None:
    s = scenario_with(
        "apigateway.apis=['rest']",
        "backend.enabled=false",
        *GATEWAY_ONLY,
        "account.other_monthly_usage={rest_requests=300e6}",
    )
    meters = synthetic_meters([50e6, 0.0], datetime(2026, 11, 30, 23, tzinfo=UTC))
    rows = sim.price(meters, s).filter(pa.compute.field("component") == "requests").to_pylist()
    # Nov: the account is at 300 M: 33 M in tier 1, 17 M in tier 2; Dec starts at 300 M again
    assert [(r["hour"].day, r["tier"], r["quantity"]) for r in rows] == [
        (30, 0, 33e6),
        (30, 1, 17e6),
        (1, 0, 0.0),
    ]


def test_alb_partial_hours_bill_as_full_hours() -> None:
    s = scenario_with(
        "scenario.start=2026-11-01T00:30:00Z",
        "scenario.duration_days=0.125",
        "traffic.requests_per_day=100000",
        "traffic.peak_requests_per_s=3",
    )
    r = sim.run(s)
    alb = r.costs.filter(pa.compute.field("option") == "alb")
    hours = alb.filter(pa.compute.field("component") == "alb_hours")
    # 00:30 to 03:30 touches four clock hours
    assert hours.column("quantity").to_pylist() == [1.0, 1.0, 1.0, 1.0]


def test_repricing_in_another_region_needs_no_simulation(run_two_days: sim.RunResult) -> None:
    other = scenario_with(*TWO_DAYS, "scenario.region=eu-west-1", "pricing.allow_unverified=true")
    costs = sim.price(run_two_days.meters, other)
    alb_hours = costs.filter(pa.compute.field("component") == "alb_hours")
    assert set(alb_hours.column("unit_price_usd").to_pylist()) == {0.0252}


def test_pricing_meters_under_a_scenario_that_meters_otherwise_is_refused(
    run_two_days: sim.RunResult,
) -> None:
    with pytest.raises(ConfigError) as exc:
        sim.price(
            run_two_days.meters, scenario_with(*TWO_DAYS[:-1], "traffic.peak_requests_per_s=1300")
        )
    assert [f for f, _ in exc.value.problems] == ["traffic.peak_requests_per_s"]


def test_period_totals_are_the_timelines_sums() -> None:
    """``period_totals`` (from each calendar month's quantity) against the cost timeline's rows
    summed per option, category and component: tiers crossed within a month, two months, free
    allowances and the account's other usage."""
    from sim.billing import charges_for
    from sim.config import price_book_for
    from sim.pricing.book import region_prices
    from sim.pricing.costs import cost_timeline, period_totals
    from sim.summary import option_totals

    scenario = scenario_with(
        "scenario.start=2026-11-30T00:00:00Z",
        "scenario.duration_days=2",
        "traffic.requests_per_day=5e7",
        "traffic.peak_requests_per_s=1200",
        "lambda_url.enabled=false",
        "cloudfront.origins=[]",
        "account.other_monthly_usage.rest_requests=332.99e6",  # REST's 333 M boundary: crossed
        "account.other_monthly_usage.lambda_gb_seconds=350000",
        'engine.fidelity="aggregate"',
    )
    facts = sim.simulate(scenario)
    book = price_book_for(scenario)
    derived, _, charges = charges_for(facts, scenario, region_prices(book, scenario))
    usage = dict(scenario.account.other_monthly_usage)
    costs = cost_timeline(charges, derived.column("hour"), usage)
    want = option_totals(costs)
    got = period_totals(charges, derived.column("hour"), usage)
    assert list(got) == list(want)
    for option, entry in want.items():
        for key in ("front_door_usd", "backend_usd", "transfer_usd", "total_usd"):
            assert got[option][key] == pytest.approx(entry[key], rel=1e-9, abs=1e-9)
        for component, usd in entry["components_usd"].items():
            assert got[option]["components_usd"][component] == pytest.approx(usd, rel=1e-9)
    rows = costs.to_pylist()

    def tiers_of(option: str, component: str) -> set[int]:
        return {r["tier"] for r in rows if r["option"] == option and r["component"] == component}

    assert tiers_of("apigw_rest", "requests") == {0, 1}  # the tier boundary crossed in a month
    gb_s_prices = {r["unit_price_usd"] for r in rows if r["component"] == "lambda_gb_seconds"}
    assert 0.0 in gb_s_prices and len(gb_s_prices) == 2  # the free allowance ran out
