"""What a set of access logs holds (``sim logs summary``): period, volume, profile, sizes,
connections and their reuse, routes, status codes, durations, and what reading them found."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sim.units import SECONDS_PER_HOUR, iso_utc

#: Routes listed by name (the rest are summed as "other").
TOP_ROUTES = 10


def _quantiles(values: np.ndarray[Any, Any], qs: tuple[float, ...]) -> dict[str, float] | None:
    if values.size == 0:
        return None
    out = np.quantile(values, qs)
    return {f"p{round(q * 100):d}": float(v) for q, v in zip(qs, out, strict=True)}


#: Resolution of the streamed quantiles: bins of ``log2(1 + v)`` this wide (a relative error
#: below 1.1e-5).
LOG_BIN = 2.0**-16


class StreamedStats:
    """Count, total, mean and quantiles of a stream of non-negative values in bounded memory:
    the values counted in bins of ``log2(1 + v)`` :data:`LOG_BIN` wide (distinct bins only), so a
    quantile is the value at its bin's centre, rounded to 5 significant digits (exact for whole
    numbers below 10⁴, within 1.1e-5 of it otherwise)."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.bins = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros(0, dtype=np.int64)

    def add(self, values: np.ndarray[Any, Any]) -> None:
        v = np.asarray(values, dtype=np.float64)
        if v.size == 0:
            return
        self.count += int(v.size)
        self.total += float(v.sum())
        b = np.floor(np.log2(1.0 + v) / LOG_BIN).astype(np.int64)
        allb = np.concatenate([self.bins, b])
        allc = np.concatenate([self.counts, np.ones(b.size, dtype=np.int64)])
        u, inv = np.unique(allb, return_inverse=True)
        self.bins, self.counts = (
            u,
            np.bincount(inv, weights=allc, minlength=u.size).astype(np.int64),
        )

    def quantiles(self, qs: tuple[float, ...]) -> dict[str, float]:
        if self.count == 0:
            return {}
        cum = np.cumsum(self.counts)

        def at(rank: int) -> float:  # the value of the order statistic ``rank`` (0-based)
            i = int(np.searchsorted(cum, rank + 1))
            return float(2.0 ** ((self.bins[i] + 0.5) * LOG_BIN) - 1.0)

        out = {}
        for q in qs:  # numpy's default: linear between the two order statistics around q(n-1)
            h = q * (self.count - 1)
            lo = int(np.floor(h))
            value = at(lo) + (h - lo) * (at(min(lo + 1, self.count - 1)) - at(lo))
            out[f"p{round(q * 100):d}"] = float(f"{value:.5g}")
        return out

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


def summarize(opts: Any, idle_timeout_s: float = 60.0) -> dict[str, Any]:
    """The summary of the logs or request table ``opts`` (:class:`sim.logs.source.SourceOptions`)
    names, as plain data (JSON-ready), from one streaming pass (memory does not grow with the
    lines: per-second counts, live connections, the distinct routes and methods)."""
    from sim.logs.conntrack import ConnectionTracker
    from sim.logs.source import _SecondCounts, request_batches, table_source

    stream = None if opts.table else opts.stream(routes=True)
    seconds = _SecondCounts(opts.path)
    tracker = ConnectionTracker(idle_timeout_s)
    sizes = {"request_bytes": StreamedStats(), "response_bytes": StreamedStats()}
    durations = StreamedStats()
    routes: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    classes = np.zeros(6, dtype=np.int64)
    status_logged = n = connected = n_conn = 0
    life_s = 0.0
    life_n = 0
    first = last = float("nan")
    cols = ("route", "method", "status")
    attempts = failed = unlogged = 0
    reports: list[Any] = []
    for b in request_batches(opts, cols, stream=stream, reports=reports):
        if b.n == 0:
            continue
        spans = tracker.add(b.time_s, b.key, b.done_s(idle_timeout_s))
        n_conn += int(spans.opens.sum())
        life_s += float((spans.closed_end_s - spans.closed_start_s).sum())
        life_n += int(spans.closed_end_s.size)
        req = b.requests()
        if not req.all():  # connection logs: attempts open connections, requests do not
            attempts += int((~req).sum())
            failed += int(b.failed[~req].sum()) if b.failed is not None else 0
            unlogged += int(spans.opens[req].sum())
            connected += int(spans.known[req].sum())
            b = b.take(req)
            if b.n == 0:
                continue
        elif opts.connection_logs:
            unlogged += int(spans.opens.sum())
            connected += int(spans.known.sum())
        else:
            connected += int(spans.known.sum())
        if n == 0:
            first = float(b.time_s[0])
        last = float(b.time_s[-1])
        n += b.n
        seconds.add(b.time_s)
        for name, stats in sizes.items():
            v = getattr(b, name)
            stats.add(v[v >= 0])
        d = b.duration_ms
        durations.add(d[~np.isnan(d)])
        _count(routes, b.columns["route"])
        _count(methods, b.columns["method"])
        status = b.columns["status"]
        if status.null_count < len(status):
            st = np.asarray(status.drop_null().to_numpy(), dtype=np.int64)
            status_logged += st.size
            classes += np.bincount(np.clip(st // 100, 0, 5), minlength=6)[:6]
    if n == 0:
        from sim.errors import TraceError

        raise TraceError(f"{opts.path}: the logs hold no requests")
    opened, closed = tracker.finish()
    life_s += float((closed - opened).sum())
    life_n += int(closed.size)
    sec0, per_second = seconds.result()
    hour0 = int(np.floor(first / SECONDS_PER_HOUR))
    hour_of_second = (sec0 + np.arange(per_second.size)) // SECONDS_PER_HOUR - hour0
    per_hour = np.bincount(hour_of_second, weights=per_second).astype(np.int64)
    hod = np.bincount(
        (hour0 + np.arange(per_hour.size)) % 24, weights=per_hour, minlength=24
    ).astype(np.int64)
    source = stream.report.as_dict() if stream is not None else table_source(opts.path)
    ranked = sorted(routes.items(), key=lambda p: (-p[1], p[0]))
    top = ranked[:TOP_ROUTES]
    other = sum(c for _, c in ranked[TOP_ROUTES:])

    def size_doc(st: StreamedStats) -> dict[str, Any]:
        return {
            "logged": st.count,
            "total": round(st.total),
            "mean": st.mean,
            **st.quantiles((0.5, 0.99)),
        }

    return {
        "source": source,
        "path": opts.path,
        "period": {
            "first": iso_utc(first),
            "last": iso_utc(last),
            "hours": int(per_hour.size),
            "span_s": last - first,
        },
        "requests": n,
        "rate": {
            "mean_per_s": n / max(1.0, float(per_second.size)),
            "peak_per_s": int(per_second.max()),
            "peak_second": iso_utc(sec0 + float(np.argmax(per_second))),
            "busiest_hour": {
                "start": iso_utc(float(hour0 + np.argmax(per_hour)) * SECONDS_PER_HOUR),
                "requests": int(per_hour.max()),
            },
            "quietest_hour_requests": int(per_hour.min()),
            "per_hour_of_day": [int(x) for x in hod],
        },
        "request_bytes": size_doc(sizes["request_bytes"]),
        "response_bytes": size_doc(sizes["response_bytes"]),
        "connections": {
            "idle_timeout_s": idle_timeout_s,
            "requests_with_connection": connected,
            "connections": n_conn,
            "requests_per_connection": connected / n_conn if n_conn else None,
            "mean_lifetime_s": life_s / life_n if life_n else None,
            **(
                {
                    "connection_logs": opts.connection_logs,
                    "attempts": attempts,
                    "failed_attempts": failed,
                    "opened_by_requests": unlogged,
                    "read": reports[0].as_dict() if reports else None,
                }
                if opts.connection_logs
                else {}
            ),
        },
        "routes": [{"route": r, "requests": c} for r, c in top]
        + ([{"route": "(other)", "requests": other}] if other else []),
        "distinct_routes": len(routes),
        "methods": [
            {"method": m, "requests": c}
            for m, c in sorted(methods.items(), key=lambda p: (-p[1], p[0]))
        ],
        "status": {"logged": status_logged, **{f"{c}xx": int(classes[c]) for c in (1, 2, 3, 4, 5)}},
        "duration_ms": {
            "logged": durations.count,
            "mean": durations.mean,
            **durations.quantiles((0.5, 0.99)),
        },
    }


def _count(counter: Counter[str], col: pa.Array) -> None:
    if isinstance(col, pa.DictionaryArray):
        col = col.dictionary_decode()
    counted = pc.value_counts(col)
    for v, c in zip(
        counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
    ):
        counter["-" if v is None else v] += int(c)


def summary_lines(doc: dict[str, Any]) -> list[str]:
    """The summary as lines of text for a terminal."""
    src = doc["source"]
    p, r = doc["period"], doc["rate"]
    q, s = doc["request_bytes"], doc["response_bytes"]
    c, d = doc["connections"], doc["duration_ms"]
    lines = [f"{doc['path']}: {src.get('format', '?')} logs"]
    if "lines" in src:
        lines.append(
            f"  lines {src['lines']:,}, requests {src.get('rows', doc['requests']):,}, "
            f"malformed {src.get('malformed', 0):,}"
            + (
                f" (first: {_first_bad(src['first_malformed'])})"
                if src.get("first_malformed")
                else ""
            )
            + (
                f", later than the {src.get('reorder_window_s', 0):g} s reorder window "
                f"{src['late']:,} (first: {_first_late(src.get('first_late'))})"
                if src.get("late")
                else ""
            )
        )
        if src.get("order"):
            lines.append(f"  files read in time order from their {src['order']}")
    lines += [
        f"  period {p['first']} to {p['last']} ({p['hours']} clock hours)",
        f"  requests {doc['requests']:,}; mean {r['mean_per_s']:.3g}/s; busiest second "
        f"{r['peak_per_s']:,} ({r['peak_second']}); busiest hour {r['busiest_hour']['requests']:,} "
        f"({r['busiest_hour']['start']}), quietest {r['quietest_hour_requests']:,}",
        "  requests by hour of day (UTC): " + " ".join(f"{x:,}" for x in r["per_hour_of_day"]),
        f"  request bytes: {_size_line(q, doc['requests'])}",
        f"  response bytes: {_size_line(s, doc['requests'])}",
    ]
    if c.get("connection_logs"):
        lines.append(
            f"  connection logs: {c['attempts']:,} connection attempts ({c['failed_attempts']:,} "
            f"failed) open the connections; {c['opened_by_requests']:,} more opened by requests "
            "whose connection they do not show"
        )
    if c["connections"]:
        lines.append(
            f"  connections {c['connections']:,} for {c['requests_with_connection']:,} requests "
            f"({c['requests_per_connection']:.3g} requests each, open {c['mean_lifetime_s']:.3g} s "
            f"on average with a {c['idle_timeout_s']:g} s idle timeout)"
        )
    else:
        lines.append("  connections: the logs name no client connection")
    lines.append(
        f"  routes {doc['distinct_routes']:,}: "
        + ", ".join(f"{x['route']} {x['requests']:,}" for x in doc["routes"])
    )
    st = doc["status"]
    lines.append(
        f"  status ({st['logged']:,} logged): "
        + ", ".join(f"{k} {st[k]:,}" for k in ("2xx", "3xx", "4xx", "5xx") if st[k])
    )
    if d["logged"]:
        lines.append(
            f"  target processing time: mean {d['mean']:.4g} ms, median {d['p50']:.4g} ms, "
            f"p99 {d['p99']:.4g} ms ({d['logged']:,} logged)"
        )
    else:
        lines.append("  target processing time: not logged")
    return lines


def _size_line(x: dict[str, Any], n: int) -> str:
    if not x["logged"]:
        return "not logged"
    part = "" if x["logged"] == n else f" ({x['logged']:,} logged)"
    return (
        f"total {x['total']:,}, mean {x['mean']:.4g}, median {x['p50']:.4g}, p99 {x['p99']:.4g}"
        + part
    )


def _first_bad(first: Any) -> str:
    if isinstance(first, dict):
        where = f"{first.get('file', '?')}, line {first.get('line', '?')}"
        return f"{where}: {first.get('reason', '')}"
    if isinstance(first, (list, tuple)) and len(first) >= 2:
        return f"{first[0]}, line {first[1]}" + (f": {first[3]}" if len(first) > 3 else "")
    return str(first)


def _first_late(first: Any) -> str:
    if isinstance(first, dict):
        return (
            f"{first.get('file', '?')}, line {first.get('line', '?')}, logged at "
            f"{iso_utc(float(first.get('time_s', 0.0)))}"
        )
    return str(first)
