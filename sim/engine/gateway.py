"""What stands between a request and the Lambda function: throttles and the REST API cache.

Each is a stateful object fed the batches in time order (state that spans batches is carried here):

* :class:`TokenBucket`: API Gateway's account throttle (rate, burst), per second;
* :class:`TtlCache`: exact TTL caching per key (an entry is stored on a miss and expires ``ttl_s``
  later; requests for the key before then are hits);
* :class:`LossSystem`: Lambda's concurrency limit, exactly, as a loss system (one per
  deployment: each option's Lambda sees only that option's invocations); :func:`erlang_b` is the
  ``aggregate`` fidelity's model of it.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

#: API Gateway caches no response larger than this (bytes): "responses up to 1,048,576 bytes".
CACHE_MAX_ITEM_BYTES = 1_048_576
#: A WebSocket API refuses messages over 128 KB (API Gateway quotas), either way.
WEBSOCKET_MAX_MESSAGE_BYTES = 131_072


@dataclass
class TokenBucket:
    """A token bucket refilled at ``rate_per_s`` up to ``burst``, evaluated per second.

    Within a second, arrivals are spread evenly (as Poisson arrivals are on average), so the second
    can serve at most ``tokens at its start + rate × 1 s``; what is left (capped at ``burst``) carries
    over. Requests over that are throttled (HTTP 429: not billed by API Gateway, not passed on).
    """

    rate_per_s: float
    burst: float
    tokens: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def throttle(self, counts: NDArray[np.int64]) -> NDArray[np.int64]:
        """Requests throttled in each second of ``counts`` (consecutive seconds)."""
        out = np.zeros_like(counts)
        rate, burst, tokens = self.rate_per_s, self.burst, self.tokens
        over = np.flatnonzero(counts > rate)
        i, n = 0, counts.size
        while i < n:
            if tokens >= burst:  # a full bucket stays full until a second exceeds the rate
                j = int(np.searchsorted(over, i))
                if j == over.size:
                    break
                i = int(over[j])
            c = int(counts[i])
            served = min(c, math.floor(tokens + rate))
            out[i] = c - served
            tokens = min(burst, tokens + rate - served)
            i += 1
        self.tokens = tokens
        return out


def _capped_walk(
    y0: float, d: NDArray[np.float64], cap: float | NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The recursion ``y_k = min(cap_k, y_{k−1} + d_k)`` in closed form (no Python loop):
    ``y_k = S_k + min(y_0, min_{j≤k}(cap_j − S_j))`` with ``S`` the cumulative sum of ``d``.

    Returns ``(y, m)``: the walk and ``m_k = min_{j≤k}(cap_j − S_j)`` (``y_k`` does not depend on
    ``y_0`` once ``m_k ≤ y_0``)."""
    s = np.cumsum(d)
    m = np.minimum.accumulate(np.asarray(cap - s, dtype=np.float64))
    return s + np.minimum(y0, m), m


@dataclass
class ContinuousTokenBucket:
    """API Gateway's token bucket in continuous time, exactly, request by request: tokens refill at
    ``rate_per_s`` up to ``burst``; a request that finds at least one token takes it, one that finds
    none is throttled (HTTP 429: not billed, not passed on). State that spans batches: the exact
    tokens at the end of the last batch.

    Exact and cheap when the bucket cannot run dry: a per-second lower bound of the tokens,
    ``L_{s+1} = min(burst, L_s + rate) − n_s``, proves that no request of the batch is refused when
    ``L_s ≥ n_s`` in every second (a second's arrivals take at most ``n_s`` of the tokens it starts
    with). The exact tokens at the batch's end then follow from the arrivals since the bucket was
    last provably full (the last second, for a lightly used bucket: a handful of sorted arrivals).
    Where the bound fails, the batch's arrivals are sorted and walked one by one from the first
    second that may refuse (a Python loop: about a million requests a second).
    """

    rate_per_s: float
    burst: float
    tokens: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def throttle(
        self, counts: NDArray[np.int64], arrival_s: NDArray[np.float64], first_second: int
    ) -> NDArray[np.bool_] | None:
        """Per request (grouped by second, as in a batch): throttled? ``None`` when none is."""
        n_s = counts.astype(np.float64)
        rate, burst = self.rate_per_s, self.burst
        # lower bounds of the tokens at the start of each second, and after the last one
        walk, _ = _capped_walk(self.tokens, rate - n_s, burst - n_s)
        lower = np.concatenate(([self.tokens], walk))
        short = np.flatnonzero(lower[:-1] < n_s)
        end_s = float(first_second + counts.size)
        offsets = np.concatenate(([0], np.cumsum(counts)))
        if short.size == 0:
            self.tokens = self._end_tokens(arrival_s, offsets, lower, first_second, counts.size)
            return None
        s0 = int(short[0])
        start = self._end_tokens(
            arrival_s[: offsets[s0]], offsets[: s0 + 1], lower, first_second, s0
        )
        lo = int(offsets[s0])
        order = np.argsort(arrival_s[lo:], kind="stable")
        times = arrival_s[lo:][order].tolist()
        refused = np.zeros(len(times), dtype=np.bool_)
        tokens, last = start, float(first_second + s0)
        for i, t in enumerate(times):
            tokens = min(burst, tokens + rate * (t - last))
            last = t
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                refused[i] = True
        self.tokens = min(burst, tokens + rate * (end_s - last))
        mask = np.zeros(arrival_s.size, dtype=np.bool_)
        mask[lo + order[refused]] = True
        return mask if mask.any() else None

    def _end_tokens(
        self,
        arrival_s: NDArray[np.float64],
        offsets: NDArray[np.int64],
        lower: NDArray[np.float64],
        first_second: int,
        seconds: int,
    ) -> float:
        """Exact tokens after ``seconds`` refusal-free seconds from the batch's start: from the
        arrivals of a trailing window of ``k`` seconds (1, 2, 4 ... up to all), the first window
        whose arrivals determine the result whatever the tokens were at its start (≥ ``lower``)."""
        burst, rate = self.burst, self.rate_per_s
        end_s = float(first_second + seconds)
        if seconds == 0:
            return self.tokens
        k = 1
        while True:
            w = max(0, seconds - k)
            t0 = float(first_second + w)
            t = np.sort(arrival_s[offsets[w] : offsets[seconds]])
            y0 = self.tokens if w == 0 else float(lower[w])
            if t.size == 0:
                determined = w == 0 or y0 + rate * (end_s - t0) >= burst
                if determined:
                    return float(min(burst, y0 + rate * (end_s - t0)))
            else:
                d = rate * np.diff(t, prepend=t0) - 1.0
                walk, m = _capped_walk(y0, d, burst - 1.0)
                last_m = float(m[-1])
                y_end = float(min(burst, walk[-1] + rate * (end_s - float(t[-1]))))
                if w == 0 or last_m <= y0:
                    return y_end
            if w == 0:  # pragma: no cover - the whole batch always determines it
                return y0
            k *= 2


def throttled_mask(
    counts: NDArray[np.int64],
    throttled: NDArray[np.int64],
    arrival_s: NDArray[np.float64],
    first_second: int,
) -> NDArray[np.bool_]:
    """Per request: throttled? The last ``throttled[s]`` arrivals of second ``s`` are refused."""
    mask = np.zeros(arrival_s.size, dtype=np.bool_)
    seconds = np.flatnonzero(throttled)
    if seconds.size == 0:
        return mask
    offsets = np.concatenate(([0], np.cumsum(counts)))
    for s in seconds:
        lo, hi = int(offsets[s]), int(offsets[s + 1])
        order = np.argsort(arrival_s[lo:hi], kind="stable")
        mask[lo + order[hi - lo - int(throttled[s]) :]] = True
    return mask


@dataclass(frozen=True)
class ZipfKeys:
    """Keys ``0 … count−1`` with P(k) ∝ (k+1)^(−exponent), drawn by inverse CDF."""

    count: int
    exponent: float

    @property
    def probabilities(self) -> NDArray[np.float64]:
        w = np.arange(1, self.count + 1, dtype=np.float64) ** (-self.exponent)
        return np.asarray(w / w.sum(), dtype=np.float64)

    def sampler(self) -> _KeySampler:
        return _KeySampler(np.cumsum(self.probabilities))


@dataclass(frozen=True)
class _KeySampler:
    """Inverse-CDF sampling with a guide table (Chen and Asau's cutpoint method): the guide gives,
    for each of ``K`` equal slices of [0, 1), the first key whose CDF reaches it, so each draw
    needs a step or two from there instead of a binary search over ``K`` keys."""

    cdf: NDArray[np.float64]

    @property
    def guide(self) -> NDArray[np.int64]:
        cells = np.arange(self.cdf.size, dtype=np.float64) / self.cdf.size
        return np.asarray(np.searchsorted(self.cdf, cells, side="right"), dtype=np.int64)

    def __call__(self, rng: np.random.Generator, n: int) -> NDArray[np.int64]:
        u = rng.random(n) * self.cdf[-1]
        guide: NDArray[np.int64] = self._guide  # type: ignore[attr-defined]
        last = self.cdf.size - 1
        idx = guide[np.minimum((u / self.cdf[-1] * self.cdf.size).astype(np.int64), last)]
        idx = np.minimum(idx, last)
        todo = np.flatnonzero(self.cdf[idx] <= u)
        while todo.size:  # walk forward to the first key whose CDF exceeds u
            idx[todo] += 1
            np.minimum(idx, last, out=idx)
            todo = todo[(self.cdf[idx[todo]] <= u[todo]) & (idx[todo] < last)]
        return np.asarray(idx, dtype=np.int64)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_guide", self.guide)


@dataclass
class TtlCache:
    """Exact TTL cache: a miss stores the key until ``miss time + ttl_s``, for caches where every
    key fits (see :class:`LruTtlCache` for the others).

    Vectorised per batch: requests are ordered by (key, time); within a key, the request after a
    miss at ``t`` that is the next miss is the first at or after ``t + ttl``, so the misses are
    found by following those "next miss" pointers from each key's first miss, all keys at once.
    """

    key_count: int
    ttl_s: float
    expiry_s: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        self.expiry_s = np.full(self.key_count, -np.inf)

    def lookup(self, arrival_s: NDArray[np.float64], keys: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Hit (True) or miss for each request (times need not be sorted)."""
        n = arrival_s.size
        hit = np.ones(n, dtype=np.bool_)
        if n == 0:
            return hit
        if self.ttl_s <= 0:
            return ~hit
        order = np.lexsort((arrival_s, keys))
        k = keys[order]
        t = arrival_s[order]
        first = np.flatnonzero(np.diff(k, prepend=-1))  # start of each key's run
        end = np.append(first[1:], n)  # one past its end
        run_of = np.repeat(np.arange(first.size), end - first)
        # Lay the runs on one sorted axis, each key's times offset by a stride longer than any
        # span, so one searchsorted finds, for every request, the first request of the same key
        # at or after its time + ttl: the next miss if this request is a miss.
        t0 = float(t.min())
        stride = float(t.max()) - t0 + 2 * self.ttl_s + 1.0
        shifted = (t - t0) + run_of * stride
        nxt = np.minimum(np.searchsorted(shifted, shifted + self.ttl_s, side="left"), end[run_of])
        # each key's first miss: its first request at or after the expiry carried from before
        carried = self.expiry_s[k[first]] - t0 + np.arange(first.size) * stride
        start = np.clip(np.searchsorted(shifted, carried, side="left"), first, end)
        runs = np.flatnonzero(start < end)
        pos = start[runs]
        miss_sorted = np.zeros(n, dtype=np.bool_)
        last = np.full(first.size, -1, dtype=np.int64)
        while pos.size:  # one step per miss of the busiest key: ≈ batch length / ttl
            miss_sorted[pos] = True
            last[runs] = pos
            pos = nxt[pos]
            keep = pos < end[runs]
            pos, runs = pos[keep], runs[keep]
        hit[order] = ~miss_sorted
        has = last >= 0
        self.expiry_s[k[first[has]]] = t[last[has]] + self.ttl_s
        return hit


@dataclass
class LruTtlCache:
    """Exact TTL cache with a capacity of ``capacity`` entries, least recently used evicted first.

    Used when the keys cannot all fit (``key_count > capacity``); request by request in time order
    (a Python loop: about a million cacheable requests a second). An expired entry keeps its place
    until it is requested again (a miss that refreshes it) or evicted.
    """

    capacity: int
    ttl_s: float
    _entries: OrderedDict[int, float] = field(default_factory=OrderedDict)

    def lookup(self, arrival_s: NDArray[np.float64], keys: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Hit (True) or miss for each request (times need not be sorted)."""
        order = np.argsort(arrival_s, kind="stable")
        hits = np.zeros(arrival_s.size, dtype=np.bool_)
        entries, ttl, capacity = self._entries, self.ttl_s, self.capacity
        for i, t, k in zip(
            order.tolist(), arrival_s[order].tolist(), keys[order].tolist(), strict=True
        ):
            expiry = entries.get(k)
            if expiry is not None and t < expiry:
                hits[i] = True
                entries.move_to_end(k)
                continue
            entries[k] = t + ttl
            entries.move_to_end(k)
            if len(entries) > capacity:
                entries.popitem(last=False)
        return hits


def cache_capacity_entries(size_gb: float, mean_response_bytes: float) -> int:
    """Entries a cache of ``size_gb`` (2^30 bytes per GB) holds at the mean response size."""
    return max(1, int(size_gb * 2**30 // max(1.0, mean_response_bytes)))


def che_hit_probabilities(
    probabilities: NDArray[np.float64], capacity: float
) -> NDArray[np.float64]:
    """Che's approximation for an LRU cache under independent requests: key ``k`` is a hit with
    probability ``1 − exp(−p_k·x)``, where ``x`` solves ``Σ_k (1 − exp(−p_k·x)) = capacity``
    (``x`` is the characteristic time in units of requests, so the result does not depend on
    the request rate). All ones when every key fits."""
    if capacity >= probabilities.size:
        return np.ones(probabilities.size)
    x = che_characteristic_time(probabilities, capacity)
    return np.asarray(-np.expm1(-probabilities * x), dtype=np.float64)


def ttl_hit_ratio(rate_per_s: NDArray[np.float64] | float, ttl_s: float) -> NDArray[np.float64]:
    """Hit ratio of a TTL cache (timer set on a miss, not reset by hits) under Poisson requests.

    Each miss starts a cycle of length ``ttl`` plus the wait for the next request; a cycle holds
    ``1 + λ·ttl`` requests on average, one of them a miss: ``h = λ·ttl / (1 + λ·ttl)`` (renewal
    argument; with capacity bound, Che's approximation replaces ``ttl`` by the characteristic time).
    """
    x = np.asarray(rate_per_s, dtype=np.float64) * ttl_s
    return np.asarray(x / (1.0 + x), dtype=np.float64)


def che_characteristic_time(rates_per_s: NDArray[np.float64], capacity: float) -> float:
    """Che's approximation for an LRU cache of ``capacity`` entries: the ``T`` with
    ``Σ_k (1 − exp(−λ_k T)) = capacity`` (``inf`` when every key fits)."""
    if capacity >= rates_per_s.size:
        return math.inf
    lo, hi = 0.0, 1.0
    while np.sum(-np.expm1(-rates_per_s * hi)) < capacity:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        if np.sum(-np.expm1(-rates_per_s * mid)) < capacity:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def little_concurrency(
    counts: NDArray[np.int64], duration_ms: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Per second: execution-seconds started in it (requests ordered by second, as in a batch):
    the mean concurrency by Little's law when the load is steady."""
    out = np.zeros(counts.size, dtype=np.float64)
    busy = np.flatnonzero(counts)
    if busy.size:
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[busy]
        out[busy] = np.add.reduceat(duration_ms, starts) / 1000.0
    return out


@dataclass
class LossSystem:
    """Lambda's concurrency limit as a loss system, exactly: an invocation arriving while ``limit``
    admitted invocations are still running is refused (throttled); a refused invocation occupies
    nothing. State that spans batches: the end times of admitted invocations still running.

    An invocation is admitted iff fewer than ``limit`` admitted invocations run at its arrival,
    processed in arrival order. Before the exact sequential pass, two bounds decide whether the
    limit can bind at all (then every invocation is admitted, and nothing more is done):

    1. per second: the invocations that can still run at any instant of second ``s`` arrived in
       seconds ``s − ⌈d_max⌉ … s`` (``d_max`` the batch's longest duration), plus those carried in;
    2. per invocation: without the limit, the number running at arrival ``i`` is
       ``#{j < i: t_j + d_j > t_i}`` (plus carried ones); the limit only ever lowers it.

    If either bound stays below ``limit``, no invocation is refused. Otherwise the batch is run in
    arrival order with a heap of end times (a Python loop: about a million invocations a second),
    from the first invocation the second bound flags.
    """

    limit: int | None
    running_end_s: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    def admit(
        self,
        arrival_s: NDArray[np.float64],
        duration_ms: NDArray[np.float64],
        counts: NDArray[np.int64],
        first_second: int,
    ) -> NDArray[np.bool_]:
        """Per invocation (grouped by second, as in a batch): admitted (True) or throttled."""
        n = arrival_s.size
        admitted = np.ones(n, dtype=np.bool_)
        if self.limit is None or n == 0:
            return admitted
        limit = self.limit
        duration_s = duration_ms / 1000.0
        carried = self.running_end_s[self.running_end_s > first_second]
        span = math.ceil(float(duration_s.max()))
        cum = np.concatenate(([0], np.cumsum(counts)))
        window = cum[1:] - cum[np.maximum(0, np.arange(1, counts.size + 1) - span - 1)]
        if int(window.max(initial=0)) + carried.size < limit:
            self._carry(carried, arrival_s + duration_s, first_second + counts.size)
            return admitted
        order = np.argsort(arrival_s, kind="stable")
        t = arrival_s[order]
        end = t + duration_s[order]
        ends_sorted = np.sort(end)
        ended = np.searchsorted(ends_sorted, t, side="right")  # j with t_j + d_j ≤ t_i
        still = carried.size - np.searchsorted(np.sort(carried), t, side="right")  # ends > t_i
        running = np.arange(n) - ended + still
        over = np.flatnonzero(running >= limit)
        if over.size == 0:
            self._carry(carried, end, first_second + counts.size)
            return admitted
        first = int(over[0])
        heap = [float(e) for e in carried] + [float(e) for e in end[:first]]
        heapq.heapify(heap)
        keep = np.ones(n, dtype=np.bool_)
        for k in range(first, n):
            tk = float(t[k])
            while heap and heap[0] <= tk:
                heapq.heappop(heap)
            if len(heap) < limit:
                heapq.heappush(heap, float(end[k]))
            else:
                keep[k] = False
        admitted[order] = keep
        horizon = first_second + counts.size
        self.running_end_s = np.array([e for e in heap if e > horizon], dtype=np.float64)
        return admitted

    def _carry(self, carried: NDArray[np.float64], ends: NDArray[np.float64], horizon: int) -> None:
        self.running_end_s = np.concatenate((carried[carried > horizon], ends[ends > horizon]))


def erlang_b(servers: int, offered_load: NDArray[np.float64]) -> NDArray[np.float64]:
    """Erlang's loss formula ``B(c, a) = (aᶜ/c!) / Σ_{k≤c} aᵏ/k!``: the share of Poisson arrivals a
    loss system of ``c`` servers refuses at offered load ``a`` (arrival rate × mean holding time),
    for any holding-time distribution (insensitivity). Computed as the Poisson ratio
    ``pmf(c; a) / cdf(c; a)``, stable for large ``c``."""
    from scipy.stats import poisson

    a = np.asarray(offered_load, dtype=np.float64)
    out = np.zeros(a.shape)
    busy = a > 0
    if busy.any():
        out[busy] = np.exp(poisson.logpmf(servers, a[busy]) - poisson.logcdf(servers, a[busy]))
    return out
