from __future__ import annotations

import numpy as np
import pytest
from conftest import metered, scenario_with

from sim.engine import simulate
from sim.engine.core import Horizon
from sim.meters import add_interval_seconds, meter_columns


def short(*extra: str) -> list[str]:
    return [
        "scenario.duration_days=0.25",
        "traffic.requests_per_day=500000",
        "traffic.peak_requests_per_s=12",
        *extra,
    ]


def test_same_seed_same_meters_and_other_seed_differs() -> None:
    s = scenario_with(*short())
    a, b = simulate(s), simulate(s)
    assert a.equals(b)
    c = simulate(s, seed=s.scenario.seed + 1)
    assert not a.equals(c)


def test_meter_table_has_the_documented_columns() -> None:
    s = scenario_with(*short())
    m = metered(s)
    assert m.column_names == meter_columns(s)
    assert m.num_rows == 6
    assert str(m.schema.field("hour").type) == "timestamp[us, tz=UTC]"


def test_batches_never_straddle_hours_and_partial_hours_are_metered() -> None:
    s = scenario_with(
        *short(
            "scenario.start=2026-11-01T00:30:00Z", "scenario.duration_days=0.0520833333333333333"
        )
    )
    # 00:30 + 75 min = 01:45: two clock hours, 1800 s and 2700 s inside the period
    hz = Horizon.of(s)
    assert hz.n_hours == 2
    assert all(a // 3600 == (b - 1) // 3600 for a, b in hz.batches(3600))
    m = simulate(s)
    assert m.column("hour_s").to_pylist() == [1800, 2700]
    assert m.column("hour").to_pylist()[0].isoformat() == "2026-11-01T00:00:00+00:00"


def test_requests_per_second_are_consistent() -> None:
    m = simulate(scenario_with(*short()))
    req = m.column("requests").to_numpy()
    assert (m.column("peak_rps").to_numpy() * 3600 >= req).all()
    assert (m.column("mean_rps").to_numpy() == req / 3600).all()


def test_rule_evaluations_and_http_units_and_lambda_gb_seconds() -> None:
    m = metered(
        scenario_with(
            *short(
                "alb.rules_processed=60",
                "payload.request={model='fixed', bytes=600000}",
                "backend.duration={model='fixed', ms=40.2}",
                "backend.memory_mb=512",
            )
        )
    )
    req = m.column("requests").to_numpy()
    assert (m.column("rule_evaluations").to_numpy() == req * 50).all()
    assert np.allclose(m.column("lcu_rule_evaluations").to_numpy(), req / 3600 * 50 / 1000)
    # 600,000 bytes is 2 units of 512 KB (524,288 bytes)
    assert (m.column("gateway_http_units").to_numpy() == 2 * req).all()
    # 40.2 ms bills as 41 ms; 512 MB is 0.5 GB
    for path in ("direct", "gateway"):
        assert (m.column(f"{path}_billed_ms").to_numpy() == 41 * req).all()
        assert np.allclose(m.column(f"{path}_gb_seconds").to_numpy(), req * 0.041 * 0.5)


def test_processed_bytes_and_lcu_are_the_max_of_dimensions() -> None:
    m = metered(scenario_with(*short()))
    req = m.column("requests").to_numpy()
    assert (m.column("processed_bytes").to_numpy() == req * 2048).all()
    dims = np.vstack(
        [
            m.column(f"lcu_{d}").to_numpy()
            for d in (
                "new_connections",
                "active_connections",
                "processed_bytes",
                "rule_evaluations",
            )
        ]
    )
    assert np.array_equal(m.column("lcu").to_numpy(), dims.max(axis=0))
    assert np.allclose(m.column("lcu_processed_bytes").to_numpy(), req * 2048 / 1e9 / 0.4)


def test_interval_accumulator_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    starts = rng.uniform(0, 900, 300)
    ends = starts + rng.exponential(70, 300)
    acc = np.zeros(20)
    add_interval_seconds(acc, 60.0, starts, ends)
    brute = np.zeros(20)
    for s, e in zip(starts, ends, strict=True):
        for k in range(20):
            brute[k] += max(0.0, min(e, (k + 1) * 60.0) - max(s, k * 60.0))
    assert np.allclose(acc, brute, rtol=0, atol=1e-9)


def test_connection_seconds_add_up_exactly() -> None:
    """Mean active connections × 3600 summed over hours = Σ connection lifetimes (clipped); the
    period starts with no connection open (those open at a steady start: tests/test_warm_start.py)."""
    s = scenario_with(
        *short(
            "connections.lifetime_distribution='fixed'",
            "connections.lifetime_s=5",
            "connections.requests_per_connection=1",
            "connections.start='empty'",
        )
    )
    m = simulate(s)
    conn_s = (m.column("active_connections").to_numpy() * 3600).sum()
    new = m.column("new_connections").to_numpy().sum()
    assert new == m.column("requests").to_numpy().sum()
    # every connection lasts 5 s; those opened in the last 5 s are clipped at the end
    assert new * 5 - 5 * 5 * 12 <= conn_s <= new * 5


@pytest.mark.parametrize("k", [1.0, 4.0, 25.0])
def test_littles_law_for_active_connections(k: float) -> None:
    """E[open connections] = (λ / k) · E[lifetime]; tolerance from the compound-Poisson variance."""
    rate, life = 40.0, 20.0
    s = scenario_with(
        "traffic={model='constant', requests_per_s=40.0}",
        "scenario.duration_days=0.5",
        f"connections.requests_per_connection={k}",
        f"connections.lifetime_s={life}",
    )
    m = simulate(s)
    period_s = 0.5 * 86400
    nu = rate / k
    active = m.column("active_connections").to_numpy().mean()
    # Σ lifetimes over N ~ Poisson(νT) exponential lifetimes: Var = νT·E[L²] = νT·2L²
    sd = np.sqrt(nu * period_s * 2 * life**2) / period_s
    assert abs(active - nu * life) < 5 * sd + nu * life * life / period_s  # + end clipping
    new_rate = m.column("new_connections").to_numpy().sum() / period_s
    assert abs(new_rate - nu) < 5 * np.sqrt(nu / period_s)
