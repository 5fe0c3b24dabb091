"""Exact replay of access logs as an arrival process (``traffic.model = "access_log"``).

Every logged request plays once, at its logged time shifted so that the log instant ``begin`` falls
on the scenario's start, with its logged sizes, target processing time and client connection (see
:func:`sim.logs.requests.connection_spans` for when a logged connection opens and closes). Requests
outside the period do not play; a connection opened before the period's start and still open at it
is open at the start (not a new connection of the period), as the log shows. Nothing is drawn for
what the log gives; what it does not give is marked unknown for the engine to draw from the
scenario's models (:class:`ArrivalWindow`'s ``-1`` sizes, NaN durations, ``unconnected`` requests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from sim.logs.requests import ConnectionSpans, RequestLog, connection_spans
from sim.traffic.arrivals import ArrivalWindow
from sim.traffic.models import AccessLogTraffic
from sim.traffic.replay import ReplayProfile
from sim.traffic.traces import Trace

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@lru_cache(maxsize=4)
def _spans(log: RequestLog, idle_timeout_s: float) -> ConnectionSpans:
    return connection_spans(log, idle_timeout_s)


@lru_cache(maxsize=4)
def _trace(log: RequestLog) -> Trace:
    first, counts = log.per_second()
    return Trace(log.path, "timestamps", first, 1, counts)


@dataclass
class LogArrivals:
    """The logged requests, window by window (a :class:`DetailedArrivalProcess`)."""

    log: RequestLog
    spans: ConnectionSpans
    shift_s: float  # added to a logged time to give its time in the simulated period
    profile: ReplayProfile  # the logged per-second counts, for rates and resources
    use_durations: bool = True
    _end_of: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # per request that opens a connection, its end; NaN elsewhere
        end = np.full(self.log.n, np.nan)
        end[self.spans.opens] = self.spans.end_s
        self._end_of = end

    @classmethod
    def from_config(
        cls, cfg: AccessLogTraffic, start_epoch_s: float | None, scale: float = 1.0
    ) -> LogArrivals:
        if scale != 1.0:
            raise ValueError("an access-log replay plays each logged request once (scale 1)")
        log = cfg.requests()
        begin = cfg.begin_epoch_s()
        start = begin if start_epoch_s is None else float(start_epoch_s)
        trace = _trace(log)
        offset = int(np.floor(begin)) - trace.start_epoch_s
        profile = ReplayProfile(trace, float(np.floor(start)), offset, False, 1.0)
        return cls(
            log, _spans(log, cfg.idle_timeout_s), start - begin, profile, cfg.durations == "log"
        )

    def expected_per_s(self, t_mid_epoch_s: FloatArray) -> FloatArray:
        return self.profile.rate_per_s(t_mid_epoch_s)

    def counts(self, rng: np.random.Generator, t_mid_epoch_s: FloatArray) -> IntArray:
        return self.window(rng, t_mid_epoch_s).counts

    def _rows(self, a_epoch_s: float, b_epoch_s: float) -> slice:
        t = self.log.time_s
        lo = int(np.searchsorted(t, a_epoch_s - self.shift_s, side="left"))
        hi = int(np.searchsorted(t, b_epoch_s - self.shift_s, side="left"))
        return slice(lo, hi)

    def window(self, rng: np.random.Generator, t_mid_epoch_s: FloatArray) -> ArrivalWindow:
        """The logged requests of the window's seconds (nothing is drawn: ``rng`` is unused)."""
        del rng
        if t_mid_epoch_s.size == 0:
            empty = np.zeros(0)
            return ArrivalWindow(np.zeros(0, np.int64), empty, np.zeros(0, np.bool_), empty)
        a = float(np.floor(t_mid_epoch_s[0]))
        b = float(np.floor(t_mid_epoch_s[-1])) + 1.0
        rows = self._rows(a, b)
        log, spans = self.log, self.spans
        # a logged time 1 ulp under the window's end can play at the end itself: keep it inside
        times = np.minimum(log.time_s[rows] + self.shift_s, np.nextafter(b, -np.inf))
        times = np.maximum(times, a)
        second = np.clip(np.floor(times - a).astype(np.int64), 0, int(b - a) - 1)
        counts = np.bincount(second, minlength=int(b - a)).astype(np.int64)
        opens = spans.opens[rows]
        ends = np.maximum(self._end_of[rows][opens] + self.shift_s, times[opens])
        duration = (
            log.column("duration_ms", np.float64, np.nan)[rows]
            if self.use_durations
            else np.full(times.size, np.nan)
        )
        return ArrivalWindow(
            counts,
            times,
            opens,
            ends,
            request_bytes=log.column("request_bytes", np.int64, -1)[rows],
            response_bytes=log.column("response_bytes", np.int64, -1)[rows],
            duration_ms=duration,
            unconnected=~spans.known[rows],
        )

    def open_at_start(self, start_epoch_s: float) -> FloatArray:
        """Remaining open time (s) of each logged connection open when the period starts: opened
        before it, closing after it."""
        first = self._rows(-np.inf, start_epoch_s).stop
        opened = self.spans.opens[:first]
        ends = self._end_of[:first][opened] + self.shift_s
        return np.asarray(ends[ends > start_epoch_s] - start_epoch_s, dtype=np.float64)


def replay_summary(
    cfg: AccessLogTraffic, start_epoch_s: float, duration_s: float
) -> dict[str, object]:
    """What a replay read and played: the logs' files, lines, malformed lines (left out, with the
    first), and how many logged requests fell before, in and after the period."""
    log = cfg.requests()
    shift = start_epoch_s - cfg.begin_epoch_s()
    t = log.time_s
    lo = int(np.searchsorted(t, start_epoch_s - shift, side="left"))
    hi = int(np.searchsorted(t, start_epoch_s + duration_s - shift, side="left"))
    src = dict(log.source)
    files = src.get("files")
    return {
        "path": cfg.path,
        "format": src.get("format", cfg.format),
        "files": len(files) if isinstance(files, list) else 1,
        "lines": src.get("lines"),
        "malformed": src.get("malformed", 0),
        "first_malformed": src.get("first_malformed"),
        "logged_requests": log.n,
        "before_period": lo,
        "replayed": hi - lo,
        "after_period": log.n - hi,
        "with_connection": int(log.known("connection").sum()),
        "begin": cfg.begin_epoch_s(),
        "idle_timeout_s": cfg.idle_timeout_s,
        "durations": cfg.durations,
    }
