"""What a set of access logs holds (``sim logs summary``): period, volume, profile, sizes,
connections and their reuse, routes, status codes, durations, and what reading them found."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sim.logs.requests import RequestLog, connection_spans
from sim.units import SECONDS_PER_HOUR, iso_utc

#: Routes listed by name (the rest are summed as "other").
TOP_ROUTES = 10


def _quantiles(values: np.ndarray[Any, Any], qs: tuple[float, ...]) -> dict[str, float] | None:
    if values.size == 0:
        return None
    out = np.quantile(values, qs)
    return {f"p{round(q * 100):d}": float(v) for q, v in zip(qs, out, strict=True)}


def _sizes(log: RequestLog, name: str) -> dict[str, Any]:
    known = log.known(name)
    values = log.column(name, np.int64, 0)[known]
    return {
        "logged": int(known.sum()),
        "total": int(values.sum()),
        "mean": float(values.mean()) if values.size else None,
        **(_quantiles(values.astype(np.float64), (0.5, 0.99)) or {}),
    }


def _counts(table: pa.Table, name: str) -> list[tuple[str, int]]:
    col = table.column(name).combine_chunks()
    if isinstance(col, pa.DictionaryArray):
        col = col.dictionary_decode()
    counted = pc.value_counts(col)
    pairs = [(v if v is not None else "-", int(c)) for v, c in zip(
        counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
    )]  # fmt: skip
    return sorted(pairs, key=lambda p: (-p[1], p[0]))


def summarize(log: RequestLog, idle_timeout_s: float = 60.0) -> dict[str, Any]:
    """The summary of ``log`` as plain data (JSON-ready)."""
    t = log.time_s
    first, last = float(t[0]), float(t[-1])
    hour = np.floor(t / SECONDS_PER_HOUR).astype(np.int64)
    per_hour = np.bincount(hour - hour[0])
    sec0, per_second = log.per_second()
    hour_of_day = np.bincount(hour % 24, minlength=24)
    spans = connection_spans(log, idle_timeout_s)
    n_conn = int(spans.opens.sum())
    connected = int(spans.known.sum())
    life = spans.end_s - t[spans.opens]
    status = log.column("status", np.int64, 0)[log.known("status")]
    classes = {f"{c}xx": int(np.sum(status // 100 == c)) for c in (1, 2, 3, 4, 5)}
    dur_known = log.known("duration_ms")
    dur = log.column("duration_ms", np.float64, 0.0)[dur_known]
    routes = _counts(log.table, "route")
    top = routes[:TOP_ROUTES]
    other = sum(c for _, c in routes[TOP_ROUTES:])
    return {
        "source": dict(log.source),
        "path": log.path,
        "period": {
            "first": iso_utc(first),
            "last": iso_utc(last),
            "hours": int(per_hour.size),
            "span_s": last - first,
        },
        "requests": log.n,
        "rate": {
            "mean_per_s": log.n / max(1.0, float(per_second.size)),
            "peak_per_s": int(per_second.max()),
            "peak_second": iso_utc(sec0 + float(np.argmax(per_second))),
            "busiest_hour": {
                "start": iso_utc(float(hour[0] + np.argmax(per_hour)) * SECONDS_PER_HOUR),
                "requests": int(per_hour.max()),
            },
            "quietest_hour_requests": int(per_hour.min()),
            "per_hour_of_day": [int(x) for x in hour_of_day],
        },
        "request_bytes": _sizes(log, "request_bytes"),
        "response_bytes": _sizes(log, "response_bytes"),
        "connections": {
            "idle_timeout_s": idle_timeout_s,
            "requests_with_connection": connected,
            "connections": n_conn,
            "requests_per_connection": connected / n_conn if n_conn else None,
            "mean_lifetime_s": float(life.mean()) if life.size else None,
        },
        "routes": [{"route": r, "requests": c} for r, c in top]
        + ([{"route": "(other)", "requests": other}] if other else []),
        "distinct_routes": len(routes),
        "methods": [{"method": m, "requests": c} for m, c in _counts(log.table, "method")],
        "status": {"logged": int(status.size), **classes},
        "duration_ms": {
            "logged": int(dur.size),
            "mean": float(dur.mean()) if dur.size else None,
            **(_quantiles(dur, (0.5, 0.99)) or {}),
        },
    }


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
        )
    lines += [
        f"  period {p['first']} to {p['last']} ({p['hours']} clock hours)",
        f"  requests {doc['requests']:,}; mean {r['mean_per_s']:.3g}/s; busiest second "
        f"{r['peak_per_s']:,} ({r['peak_second']}); busiest hour {r['busiest_hour']['requests']:,} "
        f"({r['busiest_hour']['start']}), quietest {r['quietest_hour_requests']:,}",
        "  requests by hour of day (UTC): " + " ".join(f"{x:,}" for x in r["per_hour_of_day"]),
        f"  request bytes: {_size_line(q, doc['requests'])}",
        f"  response bytes: {_size_line(s, doc['requests'])}",
    ]
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
