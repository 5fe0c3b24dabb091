"""Client connections of time-ordered logged requests, worked out batch by batch with only the live
connections carried between batches.

The model (README, "Start from your own logs"): a connection opens with the first request on its
client key, or with the first after a gap longer than the idle timeout since the latest response on
that key, and closes ``idle_timeout_s`` after the latest response of its requests (a response ends
at arrival + logged processing time, or at the arrival where none is logged).

How long a connection stays open is known only when it closes; but its open time *up to any instant*
is known from the requests before that instant. So a batch reports, besides which of its requests
open a connection, each touched connection's open time as far as its requests so far show it: a new
connection from its opening request to ``latest response + idle timeout``, an older one from where
its last report ended to there (:class:`Spans`). Added up over the batches, these pieces are exactly
each connection's ``[open, close)``. A connection is forgotten once its close is behind the latest
arrival: any later request on its key opens a new one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from sim.logs.requests import segmented_running_max

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Spans:
    """What one batch tells of the connections.

    ``opens``: per request, it opens a connection; ``known``: per request, the log names its
    connection; ``open_end_s``: per opening request, its connection's open time so far ends there
    (it starts at the request); ``carried_start_s``/``carried_end_s``: more open time of
    connections opened in earlier batches; ``closed_start_s``/``closed_end_s``: the connections that
    closed for good (open and close), in no particular order.
    """

    opens: NDArray[np.bool_]
    known: NDArray[np.bool_]
    open_end_s: FloatArray
    carried_start_s: FloatArray
    carried_end_s: FloatArray
    closed_start_s: FloatArray
    closed_end_s: FloatArray


def _empty() -> FloatArray:
    return np.zeros(0, dtype=np.float64)


class ConnectionTracker:
    """The connections of a stream of requests in time order (:meth:`add` a batch at a time)."""

    def __init__(self, idle_timeout_s: float) -> None:
        self.idle_s = float(idle_timeout_s)
        self.keys: pa.Array | None = None  # live connections' client keys
        self.last_done_s = _empty()  # latest response end of each live connection
        self.opened_s = _empty()  # when it opened
        self.reported_s = _empty()  # its open time is reported up to here

    @property
    def live(self) -> int:
        """Connections carried (not yet known to be closed)."""
        return int(self.last_done_s.size)

    def add(self, time_s: FloatArray, key: pa.Array | pa.ChunkedArray, done_s: FloatArray) -> Spans:
        """One batch: arrival times (not before any earlier batch's, non-decreasing), client keys
        (null: not known) and response ends (≥ arrival)."""
        n = time_s.size
        if isinstance(key, pa.ChunkedArray):
            key = key.combine_chunks() if key.num_chunks else pa.array([], key.type)
        known = (
            np.ones(n, dtype=np.bool_)
            if key.null_count == 0
            else np.asarray(key.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
        )
        opens = np.zeros(n, dtype=np.bool_)
        open_end = np.zeros(n, dtype=np.float64)
        carried_a, carried_b = _empty(), _empty()
        closed_a, closed_b = [_empty()], [_empty()]
        rows = np.flatnonzero(known)
        if rows.size:
            slot = self._slots(key.filter(pa.array(known)) if rows.size < n else key)
            order = np.argsort(slot, kind="stable")  # by connection, then arrival
            idx = rows[order]
            s, a, d = slot[order], time_s[idx], done_s[idx]
            first = np.ones(s.size, dtype=np.bool_)
            first[1:] = s[1:] != s[:-1]
            seg = np.cumsum(first) - 1
            run_max = segmented_running_max(d, seg)
            prev = np.empty_like(run_max)
            prev[0] = -np.inf
            prev[1:] = np.where(first[1:], -np.inf, run_max[:-1])
            state = self.last_done_s[s]  # -inf for a key not live
            prev = np.maximum(prev, state)
            new = a > prev + self.idle_s
            # groups of rows on one connection: each segment's rows up to its next new one
            starts = np.flatnonzero(new | first)
            group_max = np.maximum.reduceat(d, starts)
            continues = ~new[starts]  # the first group of a segment, on a live connection
            group_max = np.where(continues, np.maximum(group_max, state[starts]), group_max)
            end = group_max + self.idle_s
            opened = np.where(continues, self.opened_s[s[starts]], a[starts])
            last = np.ones(starts.size, dtype=np.bool_)
            last[:-1] = s[starts[1:]] != s[starts[:-1]]
            opens[idx[new]] = True
            new_group = ~continues
            open_end[idx[starts[new_group]]] = end[new_group]
            reported = np.where(continues, self.reported_s[s[starts]], a[starts])
            more = continues & (end > reported)
            carried_a, carried_b = reported[more], end[more]
            closed_a.append(opened[~last])
            closed_b.append(end[~last])
            # a live connection whose key opens a new one here closed at its bound
            first_new = first[starts] & ~continues & np.isfinite(state[starts])
            gone = s[starts[first_new]]
            closed_a.append(self.opened_s[gone])
            closed_b.append(self.last_done_s[gone] + self.idle_s)
            tail = starts[last]
            ls = s[tail]
            self.last_done_s[ls] = group_max[last]
            self.opened_s[ls] = opened[last]
            self.reported_s[ls] = end[last]
        if n:
            closed_a.append(self._expire(float(time_s[-1]), closed_b))
        return Spans(
            opens, known, open_end[opens], carried_a, carried_b,
            np.concatenate(closed_a), np.concatenate(closed_b),
        )  # fmt: skip

    def _slots(self, key: pa.Array) -> NDArray[np.int64]:
        """Each key's slot among the live connections; new keys get new slots (state -inf)."""
        encoded = pc.dictionary_encode(key)
        values = encoded.dictionary
        if self.keys is None or len(self.keys) == 0:
            found = pa.nulls(len(values), pa.int32())
            self.keys = values.slice(0, 0)
        else:
            found = pc.index_in(values, value_set=self.keys)
        pos = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        missing = np.flatnonzero(pos < 0)
        if missing.size:
            base = len(self.keys)
            pos[missing] = base + np.arange(missing.size)
            self.keys = pa.concat_arrays([self.keys, values.take(pa.array(missing))])
            grow = np.full(missing.size, -np.inf)
            self.last_done_s = np.concatenate([self.last_done_s, grow])
            self.opened_s = np.concatenate([self.opened_s, grow])
            self.reported_s = np.concatenate([self.reported_s, grow])
        indices = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        return pos[indices]

    def _expire(self, now_s: float, closed_end: list[FloatArray]) -> FloatArray:
        """Forget the connections closed before ``now_s``; their opens (and ends, appended to
        ``closed_end``)."""
        gone = self.last_done_s + self.idle_s < now_s
        if not gone.any() or self.keys is None:
            return _empty()
        closed_end.append(self.last_done_s[gone] + self.idle_s)
        opened = self.opened_s[gone]
        keep = ~gone
        self.keys = self.keys.filter(pa.array(keep))
        self.last_done_s = self.last_done_s[keep]
        self.opened_s = self.opened_s[keep]
        self.reported_s = self.reported_s[keep]
        return opened

    def open_from(self, start_s: float) -> tuple[FloatArray, FloatArray]:
        """The live connections' open time from ``start_s`` on, as far as reported (``[start_s,
        reported end)`` of those reported beyond it)."""
        end = self.reported_s[self.reported_s > start_s]
        return np.full(end.size, start_s), end.copy()

    def finish(self) -> tuple[FloatArray, FloatArray]:
        """Close every live connection: their opens and closes."""
        out = self.opened_s.copy(), self.last_done_s + self.idle_s
        self.keys = None
        self.last_done_s = self.opened_s = self.reported_s = _empty()
        return out
