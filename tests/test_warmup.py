"""``engine.warmup_s``: seconds simulated before the period and not billed.

At ``request`` fidelity the warm-up's batches are the first batches of a longer run (the same
windows, the same batch streams, the same ordered state), so a warm-up run's meters are exactly the
longer run's from the period's first hour on, for every mechanism whose state crosses the start
(connections open, the REST cache, the token bucket, CloudFront's caches and pooled connections).
``aggregate`` fidelity takes the warm-up's connections in expectation: with a fixed lifetime shorter
than the warm-up they are those of ``connections.start = "steady_state"``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from conftest import scenario_with

from sim.config import MAX_WARMUP_S, Scenario
from sim.engine import simulate
from sim.engine.core import Horizon
from sim.errors import ConfigError

#: Everything whose state spans batches: a throttled gateway, an LRU and a TTL REST cache,
#: CloudFront in front (edge caches, pooled connections to the ALB), connections that live minutes.
MECHANISMS = (
    "engine.batch_s=600",
    "connections={model='per_connection', requests_per_connection=20, lifetime_s=240, "
    "lifetime_distribution='exponential', start='empty'}",
    "apigateway.throttle={rate_per_s=60, burst=80}",
    "payload.response={model='fixed', bytes=1000000}",
    "apigateway.cache={enabled=true, sizes_gb=[0.5, 237], ttl_s=300, "
    "cacheable_share=0.6, keys={model='zipf', count=2000, exponent=1.0}}",
    "cloudfront.cache={enabled=true, ttl_s=60, cacheable_share=0.5, "
    "keys={model='zipf', count=500, exponent=1.0}}",
)


def _run(*overrides: str, **kwargs: Any) -> pa.Table:
    return simulate(scenario_with(*MECHANISMS, *overrides), **kwargs)


def _assert_same_rows(got: pa.Table, want: pa.Table) -> None:
    assert got.column_names == want.column_names
    assert got.num_rows == want.num_rows
    for name in got.column_names:
        a, b = got.column(name), want.column(name)
        if pa.types.is_floating(a.type):  # connection-seconds: sums of clipped intervals
            np.testing.assert_allclose(
                a.to_numpy(), b.to_numpy(), rtol=1e-9, atol=1e-6, err_msg=name
            )
        else:
            assert a.equals(b), name


def test_a_warm_up_is_the_beginning_of_a_longer_run() -> None:
    """Two hours from 13:00 after a one-hour warm-up are, meter by meter, the hours from 13:00 of
    a run from 12:00 (whose connections start empty, as the warm-up's do)."""
    warm = _run(
        "scenario.start=2026-11-01T13:00:00Z", "scenario.duration='2h'", "engine.warmup_s=3600"
    )
    long = _run("scenario.start=2026-11-01T12:00:00Z", "scenario.duration='3h'")
    assert warm.column("hour").to_pylist() == long.column("hour").to_pylist()[1:]
    _assert_same_rows(warm, long.slice(1))
    # the mechanisms crossed the start: a cold start differs
    cold = _run("scenario.start=2026-11-01T13:00:00Z", "scenario.duration='2h'")
    first = {k: cold.column(k)[0].as_py() for k in ("active_connections", "cached_237gb_hits")}
    assert first["active_connections"] < warm.column("active_connections")[0].as_py()
    assert first["cached_237gb_hits"] < warm.column("cached_237gb_hits")[0].as_py()


def test_a_start_inside_an_hour_bills_only_the_part_after_it() -> None:
    """From 13:30 after 30 min of warm-up: the 13:00 row holds the half hour after the start (its
    requests those of the longer run's second half of that hour); the later rows are the longer
    run's."""
    warm = _run(
        "scenario.start=2026-11-01T13:30:00Z", "scenario.duration='90m'", "engine.warmup_s=1800"
    )
    long = _run("scenario.start=2026-11-01T13:00:00Z", "scenario.duration='2h'")
    assert warm.column("hour_s").to_pylist() == [1800, 3600]
    _assert_same_rows(warm.slice(1), long.slice(1))
    first_half = _run("scenario.start=2026-11-01T13:00:00Z", "scenario.duration='30m'")
    assert (
        warm.column("requests")[0].as_py() + first_half.column("requests")[0].as_py()
        == long.column("requests")[0].as_py()
    )


def test_a_warm_up_gives_the_same_meters_on_any_number_of_workers() -> None:
    over = ("scenario.start=2026-11-01T13:00:00Z", "scenario.duration='1h'", "engine.warmup_s=2400")
    one = _run(*over, workers=1)
    _assert_same_rows(_run(*over, workers=2), one)


def test_sim_traffic_shows_the_counts_the_warm_run_prices() -> None:
    """The warm-up's counts are drawn first from the run's arrival stream, by the engine and by
    ``sim traffic`` alike: the period's hours show the priced requests and busiest seconds."""
    from sim.traffic.inspect import simulate_traffic

    s = scenario_with(
        "scenario.start=2026-11-01T13:30:00Z", "scenario.duration='3h'", "engine.warmup_s=5400"
    )
    requests, _, peak = simulate_traffic(s).hours
    priced = simulate(s)
    assert priced.column("requests").to_pylist() == requests.tolist()
    assert priced.column("peak_rps").to_pylist() == peak.tolist()


def test_aggregate_takes_the_warm_ups_connections_in_expectation() -> None:
    """A fixed 120 s lifetime, warm-up of an hour: the connections opened in it and open at the
    start are steady state's (the same expectation); a warm-up of 60 s holds half of them."""

    def first_minute_open(*overrides: str) -> float:
        s = scenario_with(
            "engine.fidelity='aggregate'",
            "connections={model='per_connection', requests_per_connection=10, lifetime_s=120, "
            "lifetime_distribution='fixed', start='empty'}",
            "traffic={model='constant', requests_per_s=50}",
            "scenario.duration='1h'",
            *overrides,
        )
        return float(simulate(s).column("connection_minutes")[0].as_py())

    steady = first_minute_open("connections.start='steady_state'")
    empty = first_minute_open()
    warm = first_minute_open("engine.warmup_s=3600")
    half = first_minute_open("engine.warmup_s=60")
    # a fixed lifetime T at rate λ/k leaves λ/k·T²/2 connection-seconds after the start
    carried_min = 50 / 10 * 120**2 / 2 / 60
    assert warm == pytest.approx(steady, rel=1e-12)
    assert warm - empty == pytest.approx(carried_min, rel=1e-9)
    # opened in the last 60 s only: λ/k · ∫_0^60 (120 − a) da = λ/k · 5,400 s
    assert half - empty == pytest.approx(50 / 10 * 5400 / 60, rel=1e-9)


def test_the_horizon_splits_batches_at_the_start() -> None:
    s = scenario_with(
        "scenario.start=2026-11-01T13:20:00Z", "scenario.duration='40m'", "engine.warmup_s=1500"
    )
    hz = Horizon.of(s, warmup=True)
    assert hz.origin_epoch_s % 3600 == 0  # 12:00, the warm-up's hour
    assert (hz.start_s, hz.warmup_s, hz.end_s, hz.first_hour) == (4800, 1500, 7200, 1)
    assert hz.batches(3600) == [(3300, 3600), (3600, 4800), (4800, 7200)]
    assert Horizon.of(s).batches(3600) == [(1200, 3600)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", "integer"),
        ("-1", "greater than or equal to 0"),
        (str(MAX_WARMUP_S + 1), "less than or equal to"),
        ("1.5", "integer"),
    ],
)
def test_a_bad_warm_up_is_refused(value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        scenario_with(f"engine.warmup_s={value}")
    assert "engine.warmup_s" in str(err.value) and expected in str(err.value)


def test_reference_fidelity_refuses_a_warm_up() -> None:
    with pytest.raises(ConfigError, match=r"engine\.warmup_s"):
        scenario_with("engine.warmup_s=60", "engine.fidelity='reference'")
    s: Scenario = scenario_with("engine.warmup_s=60", "scenario.duration='1h'")
    with pytest.raises(ConfigError, match="reference fidelity"):
        simulate(s, fidelity="reference")
