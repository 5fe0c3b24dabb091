"""CloudFront's pooled connections to the origin (a documented model), exactly in ``request`` and
``reference`` fidelity and in expectation in ``aggregate`` fidelity.

CloudFront keeps its own kept-alive connections to the origin (origin keep-alive 5 s by default, up
to 60 s; PRICING.md, "Amazon CloudFront"), so an ALB behind it sees CloudFront's connections, not the
clients'. The model: requests reach the origin from ``cloudfront.edge_locations`` edge locations,
equally (each request at one drawn uniformly); each holds a connection for its origin response time
(the function's duration; at least 1 µs); and **each edge location's pool holds, at every moment, as
many connections as the most requests it had in flight at once during the last keep-alive interval**
``K``. Its k-th connection ("level k") therefore opens when the edge's in-flight count reaches ``k``
while no level-k connection is open, and closes ``K`` seconds after the count last fell below ``k``
unless it reaches ``k`` again before: a pool that reuses its idle connections and closes those idle
for ``K``.

* :class:`EdgePool` evaluates the model on sorted events, vectorised, batch by batch (state that
  spans batches: the requests still in flight and each level's open connection);
* :class:`EventPool` evaluates it one event at a time (for ``reference`` fidelity: each request a
  SimPy process);
* :func:`expected_pool` gives the expected connections per second for Poisson arrivals (``aggregate``
  fidelity): with ``m = λ·d`` the mean in flight (M/G/∞: Poisson(m), any duration distribution),
  level k is open with probability ``1 − P(N < k)·exp(−K·λ·P(N = k−1)/P(N < k))`` and opens at rate
  ``λ·P(N = k−1)·exp(−K·λ·P(N = k−1)/P(N < k))``. For ``k = 1`` both are exact (the edge was empty
  for the last ``K`` seconds with probability ``e^{−λK}·e^{−m}``; an arrival finds it so with the
  same probability, by PASTA); for ``k > 1`` they treat the up-crossings of ``k`` as a Poisson stream
  (an approximation, good while ``K`` is long against a busy period).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from sim.engine.intervals import add_interval_seconds
from sim.units import SECONDS_PER_HOUR

#: The shortest time a request holds a connection (a response the origin returns at once).
MIN_HOLD_S = 1e-6


@dataclass
class EdgePool:
    """The model, vectorised: feed :meth:`add` the forwarded requests batch by batch in time order,
    then :meth:`finish`; ``new`` and ``connection_s`` hold the connections opened and the
    connection-seconds per hour of the run."""

    edges: int
    keepalive_s: float
    n_hours: int
    end_s: float
    new: NDArray[np.float64] = field(init=False)
    connection_s: NDArray[np.float64] = field(init=False)
    _carry_e: NDArray[np.int64] = field(init=False)
    _carry_f: NDArray[np.float64] = field(init=False)
    _open_since: NDArray[np.float64] = field(init=False)  # [edge, level]; nan: closed
    _close_at: NDArray[np.float64] = field(init=False)  # inf: still in demand

    def __post_init__(self) -> None:
        self.new = np.zeros(self.n_hours)
        self.connection_s = np.zeros(self.n_hours)
        self._carry_e = np.zeros(0, np.int64)
        self._carry_f = np.zeros(0)
        self._open_since = np.full((self.edges, 0), np.nan)
        self._close_at = np.full((self.edges, 0), -np.inf)

    @staticmethod
    def _key_type(span: int) -> type[np.signedinteger]:
        """The narrowest integer type for sort keys below ``span`` (numpy radix-sorts 16-bit keys
        in a stable sort)."""
        return np.int16 if span < 2**15 else np.int32 if span < 2**31 else np.int64

    def _levels(self, n: int) -> None:
        have = self._open_since.shape[1]
        if n > have:
            grow = max(n, 2 * have) - have
            self._open_since = np.hstack((self._open_since, np.full((self.edges, grow), np.nan)))
            self._close_at = np.hstack((self._close_at, np.full((self.edges, grow), -np.inf)))

    def _emit(self, start: NDArray[np.float64], end: NDArray[np.float64]) -> None:
        add_interval_seconds(
            self.connection_s, SECONDS_PER_HOUR, start, np.minimum(end, self.end_s)
        )

    def add(
        self,
        edge: NDArray[np.int64],
        arrival_s: NDArray[np.float64],
        hold_s: NDArray[np.float64],
        batch_end_s: float,
    ) -> None:
        """Requests forwarded in a batch that ends at ``batch_end_s`` (any order)."""
        k = self.keepalive_s
        c0 = np.bincount(self._carry_e, minlength=self.edges)
        # releases listed first, so that at a tie a release comes before an arrival
        ev_e = np.concatenate((self._carry_e, edge, edge))
        ev_t = np.concatenate(
            (self._carry_f, arrival_s + np.maximum(hold_s, MIN_HOLD_S), arrival_s)
        )
        ev_d = np.concatenate(
            (-np.ones(self._carry_e.size + edge.size, np.int64), np.ones(edge.size, np.int64))
        )
        later = (ev_d < 0) & (ev_t >= batch_end_s)
        self._carry_e, self._carry_f = ev_e[later], ev_t[later]
        now = ~later
        e, t, d = ev_e[now], ev_t[now], ev_d[now]
        if e.size:
            # by time (stable: a few nearly sorted runs), then by edge (a stable radix sort)
            order = np.argsort(t, kind="stable")
            order = order[np.argsort(e[order].astype(self._key_type(self.edges)), kind="stable")]
            e, t, d = e[order], t[order], d[order]
            cs = np.cumsum(d)
            first = np.flatnonzero(np.diff(e, prepend=-1))
            runs = np.diff(np.append(first, e.size))
            count = c0[e] + cs - np.repeat(cs[first] - d[first], runs)
            level = np.where(d > 0, count, count + 1)  # the level an event starts or ends
            top = int(level.max())
            self._levels(top)
            # stable: time order within each (edge, level)
            key = (e * (top + 1) + level).astype(self._key_type(self.edges * (top + 1)))
            grouped = np.argsort(key, kind="stable")
            e, t, d, level = e[grouped], t[grouped], d[grouped], level[grouped] - 1
            self._groups(e, t, d, level, k)
        self._close_idle(batch_end_s)

    def _groups(
        self,
        e: NDArray[np.int64],
        t: NDArray[np.float64],
        d: NDArray[np.int64],
        lv: NDArray[np.int64],
        k: float,
    ) -> None:
        n = e.size
        idx = np.arange(n)
        gstart_mask = np.ones(n, np.bool_)
        gstart_mask[1:] = (e[1:] != e[:-1]) | (lv[1:] != lv[:-1])
        gfirst = np.flatnonzero(gstart_mask)
        gsize = np.diff(np.append(gfirst, n))
        gof = np.repeat(np.arange(gfirst.size), gsize)
        first_pos = gfirst[gof]
        ge, gl = e[gfirst], lv[gfirst]
        carried_since = self._open_since[ge, gl]
        carried_close = self._close_at[ge, gl]
        up = d > 0
        # the close time an arrival is compared with: K after the previous release of its group,
        # or the carried close time for the group's first event
        prev_close = np.empty(n)
        prev_close[1:] = t[:-1] + k
        is_first = idx == first_pos
        prev_close[is_first] = carried_close[gof[is_first]]
        new = up & (t > prev_close)
        self.new += np.bincount(
            (t[new] // SECONDS_PER_HOUR).astype(np.int64), minlength=self.n_hours
        )[: self.n_hours]
        # the start of the connection each event belongs to: the group's last new arrival so far,
        # or the carried connection's start
        last_new = np.maximum.accumulate(np.where(new, idx, -1))
        own = last_new >= first_pos
        start_at = np.where(own, t[np.maximum(last_new, 0)], carried_since[gof])
        # each new arrival ends the group's previous connection (if any) at its close time
        before = np.where(idx > first_pos, start_at[np.maximum(idx - 1, 0)], carried_since[gof])
        ends_prev = new & ~np.isnan(before)
        self._emit(before[ends_prev], prev_close[ends_prev])
        # each group's state after its last event
        last = gfirst + gsize - 1
        since = start_at[last]
        close = np.where(d[last] < 0, t[last] + k, np.inf)
        self._open_since[ge, gl] = since
        self._close_at[ge, gl] = close

    def _close_idle(self, now_s: float) -> None:
        """Close the connections whose keep-alive ran out before ``now_s``."""
        done = ~np.isnan(self._open_since) & (self._close_at <= now_s)
        if done.any():
            self._emit(self._open_since[done], self._close_at[done])
            self._open_since[done] = np.nan

    def finish(self) -> None:
        """Count the connections still open up to the period's end."""
        still = ~np.isnan(self._open_since)
        if still.any():
            self._emit(self._open_since[still], np.minimum(self._close_at[still], self.end_s))
            self._open_since[still] = np.nan

    def cut(self, now_s: float) -> None:
        """Count the connections still open up to ``now_s`` (after :meth:`add` up to it) and go on
        with them from there: the connection-seconds of a batch stay in that batch."""
        self._close_idle(now_s)
        still = ~np.isnan(self._open_since)
        if still.any():
            self._emit(self._open_since[still], np.full(int(still.sum()), now_s))
            self._open_since[still] = now_s

    def fresh(self) -> EdgePool:
        """An empty pool of the same shape (no request in flight, no connection open)."""
        return EdgePool(self.edges, self.keepalive_s, self.n_hours, self.end_s)

    def copy(self) -> EdgePool:
        """A pool in this one's state, counting from zero."""
        out = self.fresh()
        out._carry_e, out._carry_f = self._carry_e.copy(), self._carry_f.copy()
        out._open_since, out._close_at = self._open_since.copy(), self._close_at.copy()
        return out

    def reach_s(self) -> float:
        """Until when the carried state can change what happens (−inf when it cannot): ``K``
        after the last release of a request in flight, or the latest close of an idle
        connection. From then on the pool is what an empty pool fed the same requests is."""
        last = -math.inf
        if self._carry_f.size:
            last = float(self._carry_f.max()) + self.keepalive_s
        idle = ~np.isnan(self._open_since) & np.isfinite(self._close_at)
        if idle.any():
            last = max(last, float(self._close_at[idle].max()))
        return last


@dataclass
class PoolStep:
    """CloudFront's pool through one batch ``[start, end)``, split so that the ordered state does
    little (:meth:`of`) and the rest is done with the batch's meters, anywhere (:meth:`facts`).

    The pool holds, at each moment, as many connections as the most requests in flight during the
    last ``K`` seconds (module docstring): a function of the recent past only. So (exactly):

    * the state at the batch's end depends only on the requests still in flight in its last
      ``K`` seconds: an empty pool fed the requests released after ``end − K`` ends in it;
    * within the batch, the carried state changes nothing after :meth:`EdgePool.reach_s`
      (``W``): the batch's connections are an empty pool's over the batch, plus, over
      ``[start, W]``, the difference between the carried pool and an empty one fed the requests
      arriving by ``W``.

    Where the carried state reaches beyond the batch (very long responses, short batches), the
    batch runs through the carried pool itself (``sequential``)."""

    start_s: float
    end_s: float
    hour: int
    template: EdgePool
    sequential: tuple[float, float] | None = None  # (new, connection-seconds) already counted
    correction: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def of(
        cls,
        pool: EdgePool,
        edge: NDArray[np.int64],
        arrival_s: NDArray[np.float64],
        hold_s: NDArray[np.float64],
        start_s: float,
        end_s: float,
    ) -> tuple[PoolStep, EdgePool]:
        """The step through the batch's forwarded requests, and the pool's state at its end."""
        hour = int(start_s // SECONDS_PER_HOUR)
        reach = pool.reach_s()
        if reach > end_s:  # the carried state reaches beyond the batch: run it through
            pool.add(edge, arrival_s, hold_s, end_s)
            pool.cut(end_s)
            done = (float(pool.new[hour]), float(pool.connection_s[hour]))
            pool.new[hour] = pool.connection_s[hour] = 0.0
            return cls(start_s, end_s, hour, pool.fresh(), sequential=done), pool
        correction = (0.0, 0.0)
        if reach >= start_s:
            head = arrival_s <= reach
            carried, empty = pool.copy(), pool.fresh()
            for p in (carried, empty):
                p.add(edge[head], arrival_s[head], hold_s[head], reach)
                p.cut(reach)
            correction = (
                float(carried.new[hour] - empty.new[hour]),
                float(carried.connection_s[hour] - empty.connection_s[hour]),
            )
        tail = arrival_s + np.maximum(hold_s, MIN_HOLD_S) > end_s - pool.keepalive_s
        after = pool.fresh()
        after.add(edge[tail], arrival_s[tail], hold_s[tail], end_s)
        after.cut(end_s)
        after.new[:] = 0.0
        after.connection_s[:] = 0.0
        return cls(start_s, end_s, hour, pool.fresh(), correction=correction), after

    def facts(
        self, edge: NDArray[np.int64], arrival_s: NDArray[np.float64], hold_s: NDArray[np.float64]
    ) -> tuple[float, float]:
        """``(connections opened, connection-seconds)`` of the batch (its forwarded requests)."""
        if self.sequential is not None:
            return self.sequential
        new, connection_s = empty_pool(
            self.template.edges, self.template.keepalive_s, edge, arrival_s, hold_s, self.end_s
        )
        return new + self.correction[0], connection_s + self.correction[1]


def empty_pool(
    edges: int,
    keepalive_s: float,
    edge: NDArray[np.int64],
    arrival_s: NDArray[np.float64],
    hold_s: NDArray[np.float64],
    end_s: float,
) -> tuple[float, float]:
    """``(connections opened, connection-seconds up to end_s)`` of a pool that starts empty and is
    fed these requests (all before ``end_s``): :class:`EdgePool`'s model in one pass, no state.

    Each edge's arrivals (+1) and releases (−1) in time order (a release first at a tie) give each
    event its level (the count it reaches or leaves); grouped by (edge, level), a level's
    occupations alternate ``up, down, up, down …`` (it starts empty), and its connections are
    their union, each extended by ``K``: an up opens a connection unless it comes within ``K`` of
    the level's last down; a down adds ``min(the level's next up, down + K, end)`` and each up
    subtracts its time (a level still occupied at the end adds ``end``)."""
    n = arrival_s.size
    if n == 0:
        return 0.0, 0.0
    release = arrival_s + np.maximum(hold_s, MIN_HOLD_S)
    done = release < end_s  # the others are still occupied at the end
    e, ts, u = _by_edge_and_time(edges, release[done], edge[done], arrival_s, edge)
    d = u.astype(np.int32) * 2 - 1
    cs = np.cumsum(d)
    # the count before each edge's first event is 0 (the pool starts empty)
    first = np.searchsorted(e, np.arange(edges))
    offset = np.where(first > 0, cs[np.maximum(first - 1, 0)], 0)
    level = cs - offset[e] + ~u
    top = int(level.max())
    key = (e * (top + 1) + level).astype(EdgePool._key_type(edges * (top + 1)))
    grouped = np.argsort(key, kind="stable")  # time order within each (edge, level)
    key, u, ts = key[grouped], u[grouped], ts[grouped]
    m = ts.size
    downs = np.flatnonzero(~u)  # each follows its up, in its group
    after = np.minimum(downs + 1, m - 1)
    again = (downs + 1 < m) & (key[after] == key[downs])  # the level's next up
    t_down = ts[downs]
    t_next = np.where(again, ts[after], np.inf)
    base = float(ts.min())  # sums of times relative to it, for precision
    closes = np.minimum(np.minimum(t_next, t_down + keepalive_s), end_s) - base
    n_up = m - downs.size
    connection_s = (
        float(closes.sum())
        + (n_up - downs.size) * (end_s - base)
        - (float((ts - base).sum()) - float((t_down - base).sum()))
    )
    groups = 1 + int(np.count_nonzero(key[1:] != key[:-1]))
    opened = groups + int(np.count_nonzero(again & (t_next > t_down + keepalive_s)))
    return float(opened), connection_s


def _by_edge_and_time(
    edges: int,
    release_s: NDArray[np.float64],
    release_edge: NDArray[np.int64],
    arrival_s: NDArray[np.float64],
    arrival_edge: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
    """The releases and arrivals in order of (edge, time, a release before an arrival at a tie):
    their edges, times and kinds (an arrival: True). One sort of exact integer keys where they
    fit (the bits of a non-negative float order as the float does: edge, time and kind packed in
    63 bits, unpacked after the sort), else a sort by time and a stable one by edge."""
    k = release_s.size
    lo = float(min(release_s.min(initial=np.inf), arrival_s.min()))
    hi = float(max(release_s.max(initial=-np.inf), arrival_s.max()))
    if lo >= 0:
        lo_bits = int(np.float64(lo).view(np.int64))
        span = int(np.float64(hi).view(np.int64)) - lo_bits + 1
        shift = span.bit_length() + 1  # one bit for the kind of event
        if shift + max(1, edges - 1).bit_length() <= 62:
            key = np.empty(k + arrival_s.size, dtype=np.int64)
            for part, times, where, kind in (
                (slice(0, k), release_s, release_edge, 0),
                (slice(k, None), arrival_s, arrival_edge, 1),  # after releases at a tie
            ):
                view = key[part]
                np.subtract(times.view(np.int64), lo_bits, out=view)
                view <<= 1
                view += kind
                view += where.astype(np.int64) << shift
            key.sort()  # SIMD sort; equal keys are the same event twice, in any order
            e = key >> shift
            arrival = (key & 1).astype(np.bool_)
            key &= (1 << shift) - 1
            key >>= 1
            key += lo_bits
            return e, key.view(np.float64), arrival
    t = np.concatenate((release_s, arrival_s))
    edge = np.concatenate((release_edge, arrival_edge))
    order = np.argsort(t, kind="stable")  # releases are listed first
    if edges > 1:
        order = order[np.argsort(edge[order].astype(EdgePool._key_type(edges)), kind="stable")]
    return edge[order].astype(np.int64), t[order], order >= k


@dataclass
class EventPool:
    """The same model one event at a time (``acquire`` at an arrival, ``release`` when its response
    is sent), for ``reference`` fidelity and tests."""

    edges: int
    keepalive_s: float
    n_hours: int
    end_s: float
    new: NDArray[np.float64] = field(init=False)
    connection_s: NDArray[np.float64] = field(init=False)
    _count: list[int] = field(init=False)
    _levels: list[dict[int, list[float]]] = field(init=False)  # level -> [open since, close at]

    def __post_init__(self) -> None:
        self.new = np.zeros(self.n_hours)
        self.connection_s = np.zeros(self.n_hours)
        self._count = [0] * self.edges
        self._levels = [{} for _ in range(self.edges)]

    def _emit(self, start: float, end: float) -> None:
        add_interval_seconds(
            self.connection_s,
            SECONDS_PER_HOUR,
            np.array([start]),
            np.array([min(end, self.end_s)]),
        )

    def acquire(self, edge: int, t: float) -> None:
        self._count[edge] += 1
        level = self._count[edge]
        state = self._levels[edge].get(level)
        if state is not None and t <= state[1]:
            state[1] = math.inf  # an idle connection reused
            return
        if state is not None:
            self._emit(state[0], state[1])
        self._levels[edge][level] = [t, math.inf]
        self.new[int(t // SECONDS_PER_HOUR)] += 1

    def release(self, edge: int, t: float) -> None:
        level = self._count[edge]
        self._count[edge] -= 1
        self._levels[edge][level][1] = t + self.keepalive_s

    def finish(self) -> None:
        for levels in self._levels:
            for since, close in levels.values():
                self._emit(since, close)
            levels.clear()


def expected_pool(
    rate_per_s: NDArray[np.float64], mean_hold_s: float, keepalive_s: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per second, for Poisson arrivals at one edge at ``rate_per_s``: the expected connections
    opened and the expected connections open (see the module docstring)."""
    from scipy.stats import poisson

    lam = np.asarray(rate_per_s, dtype=np.float64)
    m = lam * max(mean_hold_s, MIN_HOLD_S)
    opened = np.zeros(lam.size)
    open_ = np.zeros(lam.size)
    busy = lam > 0
    if not busy.any():
        return opened, open_
    lam_b, m_b = lam[busy], m[busy]
    top = int(np.ceil(float(m_b.max()) + 12 * math.sqrt(float(m_b.max())) + 12))
    o = np.zeros(lam_b.size)
    a = np.zeros(lam_b.size)
    for level in range(1, top + 1):
        at = poisson.pmf(level - 1, m_b)  # P(N = k − 1)
        below = poisson.cdf(level - 1, m_b)  # P(N < k)
        if float(np.max(1 - below + at)) < 1e-15:
            break
        rate_up = lam_b * at
        quiet = np.exp(
            -keepalive_s * np.divide(rate_up, below, out=np.zeros_like(at), where=below > 0)
        )
        o += rate_up * quiet
        a += 1 - below * quiet
    opened[busy], open_[busy] = o, a
    return opened, open_
