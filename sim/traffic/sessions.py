"""Client sessions on keep-alive connections: both the request arrival process and the connections.

Session starts follow the traffic's own process at its rate / ``requests_per_session`` (a Poisson
stream for a profile; a scaled replay, MMPP, Hawkes... otherwise), each placed uniformly within its
second. A session sends ``N`` requests (geometric on 1, 2, ... or fixed, mean ``m``) separated by
think times ``G``; its first request opens a connection. A gap longer than the idle timeout ``T``
means the load balancer closed the connection at ``previous request + T`` and the next request opens
a new one; after the last request the client closes the connection ``min(linger, T)`` later. Requests
still due after a window are carried into the next, with their connections; so are the session
requests of a warm-up before the first window (see :class:`SessionArrivals`).

The request rate is the traffic's rate, smoothed over a session's length: the expected rate at
``t`` is ``m ×`` the session-start rate averaged over the preceding session lengths, which is the
configured rate wherever it varies slowly over ``(m − 1) × E[G]`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from sim.traffic.arrivals import ArrivalProcess, ArrivalWindow
from sim.traffic.bursts import window_edges
from sim.traffic.connections import think_time_sampler
from sim.traffic.models import SECONDS_PER_DAY, SessionsModel
from sim.traffic.profiles import RateProfile

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class SessionRequests:
    """Requests of some sessions: time, whether it opens a connection, and that connection's end
    (NaN for requests that ride an open connection)."""

    times_epoch_s: FloatArray
    opens: BoolArray
    conn_end_epoch_s: FloatArray

    @classmethod
    def empty(cls) -> SessionRequests:
        return cls(np.zeros(0), np.zeros(0, dtype=np.bool_), np.zeros(0))

    def take(self, mask: BoolArray) -> SessionRequests:
        return SessionRequests(
            self.times_epoch_s[mask], self.opens[mask], self.conn_end_epoch_s[mask]
        )

    @staticmethod
    def concat(parts: list[SessionRequests]) -> SessionRequests:
        return SessionRequests(
            np.concatenate([p.times_epoch_s for p in parts]),
            np.concatenate([p.opens for p in parts]),
            np.concatenate([p.conn_end_epoch_s for p in parts]),
        )


def expand_sessions(
    rng: np.random.Generator, starts_epoch_s: FloatArray, cfg: SessionsModel
) -> SessionRequests:
    """All requests of sessions starting at ``starts_epoch_s``, with their connections."""
    s = starts_epoch_s.size
    m = cfg.requests_per_session
    if cfg.requests_distribution == "fixed":
        n = np.full(s, int(m), dtype=np.int64)
    else:
        n = rng.geometric(1.0 / m, s).astype(np.int64)
    r = int(n.sum())
    if r == 0:
        return SessionRequests.empty()
    first = np.cumsum(n) - n  # index of each session's first request
    gap = think_time_sampler(cfg)(rng, r)  # the gap before each request (0 for a first one)
    gap[first] = 0.0
    cum = np.cumsum(gap)
    t = np.repeat(starts_epoch_s - cum[first], n)
    t += cum
    timeout = cfg.idle_timeout_s
    opens = gap > timeout
    opens[first] = True
    # a connection ends after the request before the next opening one (or the very last)
    open_idx = np.flatnonzero(opens)
    last = np.empty(open_idx.size, dtype=np.int64)
    last[:-1] = open_idx[1:] - 1
    last[-1] = r - 1
    after = np.full(r, timeout)
    after[first[1:] - 1] = min(cfg.linger_s, timeout)  # a session's last request
    after[-1] = min(cfg.linger_s, timeout)
    conn_end = np.full(r, np.nan)
    conn_end[open_idx] = t[last] + after[last]
    return SessionRequests(t, opens, conn_end)


@dataclass
class SessionArrivals:
    """Requests sent by sessions (see the module docstring), window after window.

    Warm-up: before the first window, sessions are simulated over ``W = min(1 day, 20 × mean session
    length + 60 s)`` seconds, so the first window already sees the sessions under way (the chance
    that a session outlasts 20 mean lengths is below 1e-8 for geometric counts and exponential
    think times). Connections opened during the warm-up are not reported: the period starts with no
    connections on record, as for a new load balancer (requests after the start that ride them are
    counted; the connections' remaining open time is not, which under-counts active connections
    for about one session length).
    """

    starts: ArrivalProcess  # the session-start process (traffic scaled by 1 / requests_per_session)
    cfg: SessionsModel
    requests: ArrivalProcess  # the traffic at full scale: its profile is the configured rate
    _pending: SessionRequests = field(default_factory=SessionRequests.empty, repr=False)
    _started: bool = field(default=False, repr=False)

    @property
    def profile(self) -> RateProfile:
        return self.requests.profile

    @property
    def mean_session_s(self) -> float:
        c = self.cfg
        return (c.requests_per_session - 1) * c.think_time_s

    def expected_per_s(self, t_mid_epoch_s: FloatArray) -> FloatArray:
        return self.starts.expected_per_s(t_mid_epoch_s) * self.cfg.requests_per_session

    def _start_times(self, rng: np.random.Generator, t_mid_epoch_s: FloatArray) -> FloatArray:
        k = self.starts.counts(rng, t_mid_epoch_s)
        return np.repeat(t_mid_epoch_s - 0.5, k) + rng.random(int(k.sum()))

    def _warm_up(self, rng: np.random.Generator, a: float) -> None:
        w = int(min(SECONDS_PER_DAY, 20 * self.mean_session_s + 60))
        chunk = 3600
        for lo in range(-w, 0, chunk):
            mids = a + np.arange(lo, min(lo + chunk, 0), dtype=np.float64) + 0.5
            reqs = expand_sessions(rng, self._start_times(rng, mids), self.cfg)
            # requests and connections before the start are not recorded
            live = reqs.take(reqs.times_epoch_s >= a)
            self._pending = SessionRequests.concat([self._pending, live])

    def window(self, rng: np.random.Generator, t_mid_epoch_s: FloatArray) -> ArrivalWindow:
        a, b = window_edges(t_mid_epoch_s)
        if not self._started:
            self._started = True
            self._warm_up(rng, a)
        fresh = expand_sessions(rng, self._start_times(rng, t_mid_epoch_s), self.cfg)
        every = SessionRequests.concat([self._pending, fresh])
        due = every.times_epoch_s < b
        now = every.take(due)
        self._pending = every.take(~due)
        size = t_mid_epoch_s.size
        idx = (now.times_epoch_s - a).astype(np.int64)  # ≥ 0: truncation is the floor
        np.minimum(idx, size - 1, out=idx)
        counts = np.bincount(idx, minlength=size).astype(np.int64)
        return ArrivalWindow(counts, now.times_epoch_s, now.opens, now.conn_end_epoch_s[now.opens])

    def counts(self, rng: np.random.Generator, t_mid_epoch_s: FloatArray) -> IntArray:
        return self.window(rng, t_mid_epoch_s).counts
