"""Volume tiers: segments, free tiers, and hour-by-hour pricing that adds up to the month."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.pricing import (
    Segment,
    Tier,
    TieredPrice,
    cumulative_cost,
    period_costs,
    priced_segments,
    tier_segments,
    tiered_cost,
)

HTTP = (Tier(300e6, 1.00e-6), Tier(None, 0.90e-6))


def tiered(*tiers: Tier) -> TieredPrice:
    return TieredPrice(tiers, "USD per unit", "https://example.com/", "2025-11-02")


# --------------------------------------------------------------------------- examples


def test_zero_quantity_has_no_segments() -> None:
    assert tier_segments(0, 0, HTTP) == []
    assert tier_segments(5e8, 0, HTTP) == []
    assert tiered_cost(0, HTTP) == 0.0


def test_segment_cost() -> None:
    assert Segment(tier=1, quantity=2.0, unit_price=0.5).cost == 1.0


def test_crossing_hour_is_split() -> None:
    # 250 M before this hour, 100 M in it: 50 M at tier 0, 50 M at tier 1.
    segments = tier_segments(250e6, 100e6, HTTP)
    assert [(s.tier, s.quantity, s.unit_price) for s in segments] == [
        (0, 50e6, 1.00e-6),
        (1, 50e6, 0.90e-6),
    ]


def test_after_the_crossing_only_the_last_tier() -> None:
    assert tier_segments(400e6, 10, HTTP) == [Segment(1, 10, 0.90e-6)]


@pytest.mark.parametrize(("prior", "quantity"), [(-1, 1), (0, -1), (math.nan, 1), (0, math.inf)])
def test_negative_or_non_finite_inputs_raise(prior: float, quantity: float) -> None:
    with pytest.raises(ValueError):
        tier_segments(prior, quantity, HTTP)


@pytest.mark.parametrize(
    "tiers",
    [
        (),
        (Tier(10, 1.0),),  # last tier bounded
        (Tier(None, 1.0), Tier(None, 0.5)),  # unbounded tier before the last
        (Tier(10, 1.0), Tier(5, 0.5), Tier(None, 0.1)),  # boundaries not increasing
        (Tier(None, -1.0),),  # negative price
    ],
)
def test_malformed_tiers_raise(tiers: tuple[Tier, ...]) -> None:
    with pytest.raises(ValueError):
        tier_segments(0, 1, tiers)
    with pytest.raises(ValueError):
        tiered(*tiers)


def test_with_free_zero_is_identity() -> None:
    price = tiered(*HTTP)
    assert price.with_free(0) is price


def test_with_free_keeps_published_boundaries() -> None:
    price = tiered(*HTTP).with_free(1e6)
    assert price.tiers == (Tier(1e6, 0.0), Tier(300e6, 1.00e-6), Tier(None, 0.90e-6))


def test_with_free_swallows_tiers_inside_the_allowance() -> None:
    price = tiered(Tier(10, 3.0), Tier(20, 2.0), Tier(None, 1.0)).with_free(15)
    assert price.tiers == (Tier(15, 0.0), Tier(20, 2.0), Tier(None, 1.0))
    assert tiered(Tier(10, 3.0), Tier(None, 1.0)).with_free(10).tiers == (
        Tier(10, 0.0),
        Tier(None, 1.0),
    )


def test_with_free_rejects_negative() -> None:
    with pytest.raises(ValueError):
        tiered(*HTTP).with_free(-1)


def test_free_units_used_up_by_earlier_hours() -> None:
    price = tiered(*HTTP)
    # 1 M free; 0.6 M consumed before, 0.8 M now: 0.4 M free then 0.4 M paid.
    segments = priced_segments(0.8e6, price, prior=0.6e6, free_quantity=1e6)
    assert [(s.quantity, s.unit_price) for s in segments] == [(0.4e6, 0.0), (0.4e6, 1.00e-6)]


def test_period_costs_show_the_crossing_hour() -> None:
    costs = period_costs(np.array([200e6, 200e6, 0.0, 100e6]), HTTP)
    assert costs == pytest.approx([200.0, 190.0, 0.0, 90.0])
    assert costs[2] == 0.0


def test_cumulative_cost_scalar_and_array() -> None:
    assert cumulative_cost(432e6, HTTP) == pytest.approx(418.8)
    assert cumulative_cost(np.array([0.0, 300e6, 432e6]), HTTP) == pytest.approx([0, 300, 418.8])


def test_period_costs_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        period_costs(np.array([1.0, -1.0]), HTTP)
    with pytest.raises(ValueError):
        period_costs(np.ones((2, 2)), HTTP)


# --------------------------------------------------------------------------- properties


@st.composite
def tier_tables(draw: st.DrawFn) -> tuple[Tier, ...]:
    widths = draw(st.lists(st.floats(1e-3, 1e10), min_size=0, max_size=4))
    prices = draw(st.lists(st.floats(0, 10), min_size=len(widths) + 1, max_size=len(widths) + 1))
    bounds = np.cumsum(widths).tolist()
    paid = [Tier(b, p) for b, p in zip(bounds, prices, strict=False)]
    return (*paid, Tier(None, prices[-1]))


quantities = st.floats(0, 1e11, allow_nan=False, allow_infinity=False)
hourly = st.lists(st.floats(0, 1e9, allow_nan=False, allow_infinity=False), max_size=48)


@given(tier_tables(), hourly, quantities)
def test_hourly_partition_adds_up_to_the_month(
    tiers: tuple[Tier, ...], hours: list[float], prior: float
) -> None:
    running, total_usd = prior, 0.0
    for q in hours:
        total_usd += math.fsum(s.cost for s in tier_segments(running, q, tiers))
        running += q
    expected = tiered_cost(running, tiers) - tiered_cost(prior, tiers)
    # 1e-9 of the month's cost, plus what float positions can lose: the running month-to-date
    # total is rounded to its ulp at every hour.
    max_price = max(t.price for t in tiers)
    tol = 1e-9 * (1 + tiered_cost(running, tiers))
    tol += 2 * (len(hours) + 1) * math.ulp(running) * max_price
    assert total_usd == pytest.approx(expected, rel=1e-9, abs=tol)
    vectorised = period_costs(np.array(hours, dtype=float), tiers, prior=prior)
    assert float(vectorised.sum()) == pytest.approx(expected, rel=1e-9, abs=tol)
    assert np.all(vectorised >= 0)


@given(tier_tables(), quantities, quantities)
def test_segments_cover_the_quantity_in_tier_order(
    tiers: tuple[Tier, ...], prior: float, quantity: float
) -> None:
    segments = tier_segments(prior, quantity, tiers)
    assert math.fsum(s.quantity for s in segments) == pytest.approx(quantity, rel=1e-12, abs=1e-6)
    assert all(s.quantity > 0 for s in segments)
    assert [s.tier for s in segments] == sorted({s.tier for s in segments})
    assert all(s.cost >= 0 for s in segments)


@given(tier_tables(), quantities, quantities)
def test_cost_is_monotone_and_non_negative(tiers: tuple[Tier, ...], a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert 0 <= tiered_cost(lo, tiers) <= tiered_cost(hi, tiers)
    assert cumulative_cost(lo, tiers) <= cumulative_cost(hi, tiers)


@given(tier_tables(), quantities)
def test_cumulative_cost_matches_tiered_cost(tiers: tuple[Tier, ...], q: float) -> None:
    assert cumulative_cost(q, tiers) == pytest.approx(tiered_cost(q, tiers), rel=1e-9, abs=1e-9)


@given(tier_tables(), quantities, st.floats(0, 1e10))
def test_free_tier_never_costs_more(tiers: tuple[Tier, ...], q: float, free: float) -> None:
    price = tiered(*tiers)
    with_free = tiered_cost(q, price.with_free(free).tiers)
    assert 0 <= with_free <= tiered_cost(q, tiers) * (1 + 1e-12) + 1e-9
    # the units after the allowance cost what they cost without it
    if q > free:
        beyond = math.fsum(s.cost for s in tier_segments(free, q - free, tiers))
        assert with_free == pytest.approx(beyond, rel=1e-9, abs=1e-9)
