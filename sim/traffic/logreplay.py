"""Exact replay of access logs as an arrival process (``traffic.model = "access_log"``).

Every logged request plays once, at its logged time shifted so that the log instant ``begin`` falls
on the scenario's start, with its logged sizes, target processing time and client connection (see
:mod:`sim.logs.conntrack` for when a logged connection opens and closes). Requests outside the
period do not play; a connection opened before the period's start and still open at it is open at
the start (not a new connection of the period), as the log shows. Nothing is drawn for what the log
gives; what it does not give is marked unknown for the engine to draw from the scenario's models
(:class:`ArrivalWindow`'s ``-1`` sizes, NaN durations, ``unconnected`` requests).

The logs (or request table) are streamed window by window in time order (:mod:`sim.logs.source`),
carrying only the live connections and the requests read past the current window: memory does not
grow with the number of logged requests. Each window reports the open time its requests show of the
connections (``carried_*`` for those opened in earlier windows), which add up to each connection's
whole open time. The windows must be asked for in time order, as an arrival process's are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.logs.conntrack import ConnectionTracker
from sim.logs.source import LogIndex, RequestBatch, SourceOptions, request_batches
from sim.traffic.arrivals import ArrivalWindow
from sim.traffic.models import AccessLogTraffic
from sim.traffic.replay import ReplayProfile
from sim.traffic.traces import Trace

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@lru_cache(maxsize=4)
def _trace(index: LogIndex) -> Trace:
    return Trace(index.path, "timestamps", index.first_second, 1, index.per_second.astype(np.int64))


@dataclass
class LogArrivals:
    """The logged requests, window by window (a :class:`DetailedArrivalProcess`)."""

    opts: SourceOptions
    index: LogIndex
    shift_s: float  # added to a logged time to give its time in the simulated period
    profile: ReplayProfile  # the logged per-second counts, for rates and resources
    idle_timeout_s: float
    use_durations: bool = True
    _batches: Iterator[RequestBatch] | None = field(default=None, init=False, repr=False)
    _held: list[RequestBatch] = field(default_factory=list, init=False, repr=False)
    _done: bool = field(default=False, init=False, repr=False)
    _tracker: ConnectionTracker | None = field(default=None, init=False, repr=False)
    _next_s: float = field(default=-np.inf, init=False, repr=False)  # log time read up to

    @classmethod
    def from_config(
        cls, cfg: AccessLogTraffic, start_epoch_s: float | None, scale: float = 1.0
    ) -> LogArrivals:
        if scale != 1.0:
            raise ValueError("an access-log replay plays each logged request once (scale 1)")
        index = cfg.index()
        begin = cfg.begin_epoch_s()
        start = begin if start_epoch_s is None else float(start_epoch_s)
        trace = _trace(index)
        offset = int(np.floor(begin)) - trace.start_epoch_s
        profile = ReplayProfile(trace, float(np.floor(start)), offset, False, 1.0)
        return cls(
            cfg.source_options(), index, start - begin, profile, cfg.idle_timeout_s,
            cfg.durations == "log",
        )  # fmt: skip

    def expected_per_s(self, t_mid_epoch_s: FloatArray) -> FloatArray:
        return self.profile.rate_per_s(t_mid_epoch_s)

    def counts(self, rng: np.random.Generator, t_mid_epoch_s: FloatArray) -> IntArray:
        return self.window(rng, t_mid_epoch_s).counts

    def _until(self, log_s: float) -> RequestBatch | None:
        """The requests not yet taken that arrive before ``log_s`` (in time order)."""
        if self._batches is None:
            self._batches = request_batches(self.opts)
        held = self._held
        while not self._done and (not held or held[-1].time_s[-1] < log_s):
            try:
                b = next(self._batches)
            except StopIteration:
                self._done = True
                break
            if b.n:
                held.append(b)
        parts, rest = [], []
        for b in held:
            k = int(np.searchsorted(b.time_s, log_s, side="left"))
            if k:
                parts.append(b.slice(0, k) if k < b.n else b)
            if k < b.n:
                rest.append(b.slice(k, b.n) if k else b)
        self._held = rest
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else _concat(parts)

    def _skip(self, log_s: float) -> None:
        """Read the requests before ``log_s`` (before the period) for their connections only,
        a batch at a time."""
        assert self._tracker is not None
        if self._batches is None:
            self._batches = request_batches(self.opts)
        while not self._done:
            try:
                b = next(self._batches)
            except StopIteration:
                self._done = True
                break
            k = int(np.searchsorted(b.time_s, log_s, side="left"))
            if k:
                part = b.slice(0, k) if k < b.n else b
                self._tracker.add(part.time_s, part.key, part.done_s(self.idle_timeout_s))
            if k < b.n:
                self._held.append(b.slice(k, b.n) if k else b)
                break

    def window(self, rng: np.random.Generator, t_mid_epoch_s: FloatArray) -> ArrivalWindow:
        """The logged requests of the window's seconds (nothing is drawn: ``rng`` is unused)."""
        del rng
        if t_mid_epoch_s.size == 0:
            empty = np.zeros(0)
            return ArrivalWindow(np.zeros(0, np.int64), empty, np.zeros(0, np.bool_), empty)
        a = float(np.floor(t_mid_epoch_s[0]))
        b = float(np.floor(t_mid_epoch_s[-1])) + 1.0
        log_a, log_b = a - self.shift_s, b - self.shift_s
        if log_a < self._next_s:
            raise RuntimeError("an access-log replay's windows are asked for in time order")
        carried_a, carried_b = np.zeros(0), np.zeros(0)
        if self._tracker is None:  # the connections the logs before the period leave open
            self._tracker = ConnectionTracker(self.idle_timeout_s)
            self._skip(log_a)
            carried_a, carried_b = self._tracker.open_from(log_a)
        self._next_s = log_b
        got = self._until(log_b)
        if got is None:
            empty = np.zeros(0)
            return ArrivalWindow(
                np.zeros(int(b - a), np.int64), empty, np.zeros(0, np.bool_), empty,
                request_bytes=np.zeros(0, np.int64), response_bytes=np.zeros(0, np.int64),
                duration_ms=empty, unconnected=np.zeros(0, np.bool_),
                carried_start_epoch_s=carried_a + self.shift_s,
                carried_end_epoch_s=carried_b + self.shift_s,
            )  # fmt: skip
        spans = self._tracker.add(got.time_s, got.key, got.done_s(self.idle_timeout_s))
        opens, open_end, known = spans.opens, spans.open_end_s, spans.known
        attempted_a = attempted_b = np.zeros(0)
        req = got.requests()
        if not req.all():  # connection logs: attempts open connections without a request
            by_request = req[np.flatnonzero(opens)]
            inside = self._inside(got.time_s[~req] + self.shift_s, a, b)
            attempted_a = inside[opens[~req]]
            attempted_b = np.maximum(open_end[~by_request] + self.shift_s, attempted_a)
            opens, open_end, known = opens[req], open_end[by_request], known[req]
            got = got.take(req)
        times = self._inside(got.time_s + self.shift_s, a, b)
        second = np.clip(np.floor(times - a).astype(np.int64), 0, int(b - a) - 1)
        counts = np.bincount(second, minlength=int(b - a)).astype(np.int64)
        ends = np.maximum(open_end + self.shift_s, times[opens])
        duration = got.duration_ms if self.use_durations else np.full(times.size, np.nan)
        return ArrivalWindow(
            counts,
            times,
            opens,
            ends,
            request_bytes=got.request_bytes,
            response_bytes=got.response_bytes,
            duration_ms=duration,
            unconnected=~known,
            carried_start_epoch_s=np.concatenate([carried_a, spans.carried_start_s]) + self.shift_s,
            carried_end_epoch_s=np.concatenate([carried_b, spans.carried_end_s]) + self.shift_s,
            opened_start_epoch_s=attempted_a,
            opened_end_epoch_s=attempted_b,
        )

    @staticmethod
    def _inside(t: FloatArray, a: float, b: float) -> FloatArray:
        """Times kept inside ``[a, b)``: a logged time 1 ulp under the window's end could play
        at the end itself."""
        return np.maximum(np.minimum(t, np.nextafter(b, -np.inf)), a)

    def open_at_start(self, start_epoch_s: float) -> FloatArray:
        """Nothing: the connections open when the period starts come with its first window (their
        open time is known only as their requests arrive)."""
        del start_epoch_s
        return np.zeros(0, dtype=np.float64)


def _concat(parts: list[RequestBatch]) -> RequestBatch:
    import pyarrow as pa

    def join(name: str) -> Any:
        got = [getattr(p, name) for p in parts]
        if all(x is None for x in got):
            return None
        fill = {"attempt": False, "handshake_s": 0.0, "failed": False}[name]
        return np.concatenate([x if x is not None else np.full(p.n, fill)
                               for x, p in zip(got, parts, strict=True)])  # fmt: skip

    keys = [p.key for p in parts]
    if len({k.type for k in keys}) > 1:  # logged keys with null-only ones
        keys = [k.cast(pa.string()) if k.type == pa.null() else k for k in keys]
    return RequestBatch(
        np.concatenate([p.time_s for p in parts]),
        np.concatenate([p.request_bytes for p in parts]),
        np.concatenate([p.response_bytes for p in parts]),
        np.concatenate([p.duration_ms for p in parts]),
        pa.concat_arrays(keys),
        {k: pa.concat_arrays([p.columns[k] for p in parts]) for k in parts[0].columns},
        join("attempt"), join("handshake_s"), join("failed"),
    )  # fmt: skip


def replay_summary(
    cfg: AccessLogTraffic, start_epoch_s: float, duration_s: float
) -> dict[str, object]:
    """What a replay read and played: the logs' files, lines, malformed and late lines (left out,
    with the first), and how many logged requests fell before, in and after the period."""
    index = cfg.index()
    shift = start_epoch_s - cfg.begin_epoch_s()
    lo = index.count_before(start_epoch_s - shift)
    hi = index.count_before(start_epoch_s + duration_s - shift)
    src = dict(index.source)
    files = src.get("files")
    return {
        "path": cfg.path,
        "format": src.get("format", cfg.format),
        "files": len(files) if isinstance(files, list) else 1,
        "lines": src.get("lines"),
        "malformed": src.get("malformed", 0),
        "first_malformed": src.get("first_malformed"),
        "late": src.get("late", 0),
        "first_late": src.get("first_late"),
        "reorder_window_s": src.get("reorder_window_s"),
        "logged_requests": index.n,
        "before_period": lo,
        "replayed": hi - lo,
        "after_period": index.n - hi,
        "with_connection": index.with_connection,
        **({"connection_logs": src["connection_logs"]} if src.get("connection_logs") else {}),
        "begin": cfg.begin_epoch_s(),
        "idle_timeout_s": cfg.idle_timeout_s,
        "durations": cfg.durations,
    }
