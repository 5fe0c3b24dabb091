"""What stands between a request and the Lambda function: throttles and the REST API cache.

Each is a stateful object fed the batches in time order (state that spans batches is carried here):

* :class:`TokenBucket`: API Gateway's account throttle (rate, burst), per second;
* :class:`TtlCache`: exact TTL caching per key (an entry is stored on a miss and expires ``ttl_s``
  later; requests for the key before then are hits);
* :class:`ConcurrencyLimit`: Lambda's concurrency limit, from arrivals and durations per second
  (Little's law).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


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


@dataclass(frozen=True)
class ConcurrencyLimit:
    """Lambda concurrency per second, and what a concurrency limit throttles.

    The concurrency of a second is estimated by Little's law as the execution time of the
    invocations that start in it (``Σ duration`` over its arrivals, in execution-seconds per second),
    the same estimate ``aggregate`` fidelity makes from counts. When it exceeds the limit, the share
    ``1 − limit / concurrency`` of the second's invocations is counted as throttled (which ones are
    refused depends on order within the second, so only the count is kept).
    """

    limit: float | None

    @staticmethod
    def second_concurrency(
        counts: NDArray[np.int64], duration_ms: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Execution-seconds started in each second (requests ordered by second, as in a batch)."""
        out = np.zeros(counts.size, dtype=np.float64)
        busy = np.flatnonzero(counts)
        if busy.size:
            starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[busy]
            out[busy] = np.add.reduceat(duration_ms, starts) / 1000.0
        return out

    def throttled(
        self, counts: NDArray[np.int64], concurrency: NDArray[np.float64]
    ) -> NDArray[np.int64]:
        """Invocations throttled in each second."""
        if self.limit is None:
            return np.zeros_like(counts)
        over = concurrency > self.limit
        share = np.zeros(counts.size)
        share[over] = 1.0 - self.limit / concurrency[over]
        return np.asarray(np.rint(counts * share), dtype=np.int64)
