"""Sessions and keep-alive connections: exact small cases, Little's law for active connections, the
analytic new-connection and lifetime numbers the aggregate mode uses, and the engine's batches."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conftest import scenario_with
from scipy import integrate, stats

from sim._model import tuples
from sim.engine import simulate
from sim.engine.core import Context, Horizon, generate, source_batches
from sim.rng import run_seed_sequence, streams
from sim.traffic.connections import Sessions, build_connection_model
from sim.traffic.models import SessionsModel
from sim.traffic.sessions import expand_sessions


def sessions(**kw: Any) -> SessionsModel:
    return SessionsModel.model_validate(tuples({"model": "sessions", **kw}))


def test_a_keep_alive_session_is_one_connection() -> None:
    cfg = sessions(
        requests_per_session=3,
        requests_distribution="fixed",
        think_time_s=10,
        think_time_distribution="fixed",
        idle_timeout_s=60,
        linger_s=0,
    )
    r = expand_sessions(np.random.default_rng(0), np.array([100.0, 1000.0]), cfg)
    assert r.times_epoch_s.tolist() == [100, 110, 120, 1000, 1010, 1020]
    assert r.opens.tolist() == [True, False, False, True, False, False]
    assert r.conn_end_epoch_s[r.opens].tolist() == [120, 1020]  # the client closes at once
    model = Sessions(cfg)
    assert model.expected_new_per_request() == pytest.approx(1 / 3)
    assert model.expected_lifetime_s() == pytest.approx(20)


def test_the_idle_timeout_closes_and_the_next_request_reconnects() -> None:
    cfg = sessions(
        requests_per_session=3,
        requests_distribution="fixed",
        think_time_s=90,
        think_time_distribution="fixed",
        idle_timeout_s=60,
        linger_s=5,
    )
    r = expand_sessions(np.random.default_rng(0), np.array([0.0]), cfg)
    assert r.opens.tolist() == [True, True, True]
    # closed by the load balancer 60 s after each request; the last by the client 5 s after it
    assert r.conn_end_epoch_s.tolist() == [60, 150, 185]
    model = Sessions(cfg)
    assert model.expected_new_per_request() == 1
    assert model.expected_lifetime_s() == pytest.approx((60 + 60 + 5) / 3)
    # a client that lingers past the timeout is cut at the timeout
    long = Sessions(cfg.model_copy(update={"linger_s": 500}))
    assert long.expected_lifetime_s() == pytest.approx(60)


def test_lognormal_think_time_numbers_are_the_integrals() -> None:
    cfg = sessions(
        think_time_s=40,
        think_time_distribution="lognormal",
        think_time_sigma=1.2,
        idle_timeout_s=60,
    )
    model = Sessions(cfg)
    d = stats.lognorm(s=1.2, scale=math.exp(math.log(40) - 1.2**2 / 2))
    assert model.p_gap_closes == pytest.approx(d.sf(60), rel=1e-10)
    below, _ = integrate.quad(lambda x: x * d.pdf(x), 0, 60)
    assert model.mean_gap_open_s == pytest.approx(below + 60 * d.sf(60), rel=1e-8)


def per_session_moments(cfg: SessionsModel, n: int = 200_000) -> dict[str, float]:
    """Plug-in second moments of a session's requests, connections and connection time."""
    rng = np.random.default_rng(99)
    starts = np.arange(n) * 1e6  # far apart: one session each
    r = expand_sessions(rng, starts, cfg)
    sid = np.floor(r.times_epoch_s / 1e6).astype(np.int64)
    reqs = np.bincount(sid, minlength=n)
    conns = np.bincount(sid, weights=r.opens, minlength=n)
    open_s = np.bincount(
        sid[r.opens], weights=r.conn_end_epoch_s[r.opens] - r.times_epoch_s[r.opens], minlength=n
    )
    return {
        "N2": float((reqs**2).mean()),
        "C2": float((conns**2).mean()),
        "O2": float((open_s**2).mean()),
    }


def test_littles_law_and_new_connections_in_the_meters() -> None:
    """Sessions start as a Poisson stream of rate λ/m; per session the requests N, connections C
    and connection-time O are i.i.d., so totals over T are compound Poisson with variance
    (λ/m) T E[X²]. Little's law: mean open connections = (new connections per second) × mean
    lifetime = λ · expected_new_per_request · expected_lifetime_s. Edge allowance: sessions cut by
    the period's ends (about 2 × (session length + timeout) / T of the totals)."""
    rate, days = 40.0, 2
    cfg = dict(requests_per_session=8, think_time_s=20, idle_timeout_s=30, linger_s=10)
    s = scenario_with(
        f"traffic={{model='constant', requests_per_s={rate}}}",
        "connections={model='sessions', " + ", ".join(f"{k}={v}" for k, v in cfg.items()) + "}",
        f"scenario.duration_days={days}",
    )
    m = simulate(s)
    model = Sessions(s.connections)  # type: ignore[arg-type]
    mom = per_session_moments(s.connections)  # type: ignore[arg-type]
    t = days * 86_400
    lam_s = rate / 8
    edge = 2 * (7 * 20 + 30 + 10) / t

    requests = m.column("requests").to_numpy().sum()
    assert abs(requests - rate * t) < 5 * math.sqrt(lam_s * t * mom["N2"]) + edge * rate * t

    new = m.column("new_connections").to_numpy().sum()
    expected_new = rate * t * model.expected_new_per_request()
    assert abs(new - expected_new) < 5 * math.sqrt(lam_s * t * mom["C2"]) + edge * expected_new

    active = m.column("active_connections").to_numpy().mean()
    little = rate * model.expected_new_per_request() * model.expected_lifetime_s()
    assert abs(active - little) < 5 * math.sqrt(lam_s * t * mom["O2"]) / t + edge * little
    # and reconnects after idle gaps happen: P(G > T) = exp(−30/20)
    assert model.expected_new_per_request() == pytest.approx((1 + 7 * math.exp(-1.5)) / 8)


def test_the_engine_takes_the_sessions_own_connections() -> None:
    """The source hands the batch the sessions' connections (grouped by second); the meters
    count exactly those (no connection model draws anything else)."""
    s = scenario_with(
        "traffic={model='constant', requests_per_s=20}",
        "connections={model='sessions', requests_per_session=5, requests_distribution='fixed', "
        "think_time_s=2, think_time_distribution='fixed', idle_timeout_s=60}",
        "scenario.duration_days=0.25",
    )
    horizon = Horizon.of(s)
    seq = run_seed_sequence(s.scenario.seed)
    ctx = Context(s, horizon, seq)
    batches = [generate(ctx, b) for b in source_batches(s, horizon, streams(seq)["arrivals"])]
    new_per_hour = []
    for b in batches:
        c = b.connections
        assert c is not None
        assert (np.diff(np.floor(b.arrival_s)) >= 0).all()  # grouped by second
        assert (
            np.bincount(
                np.floor(b.arrival_s).astype(int) - b.start_s, minlength=b.end_s - b.start_s
            )
            == b.counts
        ).all()
        assert (c.start_s == b.arrival_s[c.new]).all()
        assert np.allclose(c.end_s - c.start_s, 8.0)  # 4 gaps of 2 s, closed at once
        new_per_hour.append(int(c.new.sum()))
    meters = simulate(s)
    assert meters.column("new_connections").to_numpy().tolist() == new_per_hour
    assert meters.column("requests").to_numpy().tolist() == [b.n for b in batches]


def test_sessions_follow_a_replay_or_a_burst_process() -> None:
    """Session starts come from the traffic's own process at 1/m of its volume."""
    from sim.traffic.arrivals import arrivals_for

    s = scenario_with(
        "traffic={model='profile', requests_per_s=30, burst={model='hawkes', "
        "branching_ratio=0.5, decay_s=5}}",
        "connections={model='sessions', requests_per_session=4}",
    )
    p = arrivals_for(s)
    rng = np.random.default_rng(3)
    t0 = s.scenario.start.timestamp()
    counts = np.concatenate(
        [p.counts(rng, t0 + np.arange(a, a + 3600) + 0.5) for a in range(0, 20 * 3600, 3600)]
    )
    assert p.expected_per_s(np.array([t0]))[0] == pytest.approx(30)
    # loose: Hawkes clusters of sessions of requests; the point is the volume is kept
    assert abs(counts.mean() / 30 - 1) < 0.05
    assert build_connection_model(s.connections).expected_new_per_request() == pytest.approx(
        (1 + 3 * math.exp(-60 / 5)) / 4
    )
