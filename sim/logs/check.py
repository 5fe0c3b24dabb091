"""``sim logs check``: the replayed ALB meters, hour by hour, against the load balancer's own
CloudWatch metrics, which is how a user checks the connection model on their own load balancer.

CloudWatch files read (as the AWS CLI and console write them):

* ``aws cloudwatch get-metric-data`` JSON: ``MetricDataResults`` with ``Label`` (or ``Id``) naming
  the metric, ``Timestamps`` and ``Values``;
* ``aws cloudwatch get-metric-statistics`` JSON: ``Label`` and ``Datapoints`` with ``Timestamp`` and
  the statistic compared (``Sum``; ``Average`` for ``ConsumedLCUs``); several such documents may be
  concatenated in one file;
* CSV: a header row with a time column (``Timestamp``, ``timestamp``, ``Time`` or ``time``) and one
  column per metric whose name contains the metric's (e.g. ``ConsumedLCUs`` or
  ``my-alb ConsumedLCUs``); empty cells are missing.

Each metric is compared per clock hour (UTC) as the ALB bills it (ELB measures every 60 s; the
datapoints' period must divide an hour):

* ``NewConnectionCount``, ``ProcessedBytes``: the hour's sum, against the replay's
  ``new_connections`` and ``processed_bytes``;
* ``ActiveConnectionCount`` (statistic Sum, the one AWS calls meaningful): the hour's sum / 60, the
  mean per-minute count of concurrent connections, against the replay's mean open connections
  (``active_connections``). CloudWatch also counts the load balancer's connections to targets:
  with Lambda targets there are none;
* ``ConsumedLCUs``: the mean of the hour's datapoints, against the replay's LCUs.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim.errors import TraceError
from sim.units import SECONDS_PER_HOUR, iso_utc

#: CloudWatch metric -> (replay meter column, how the hour is formed from the datapoints).
METRICS: dict[str, tuple[str, str]] = {
    "NewConnectionCount": ("new_connections", "sum"),
    "ActiveConnectionCount": ("active_connections", "sum/60"),
    "ProcessedBytes": ("processed_bytes", "sum"),
    "ConsumedLCUs": ("lcu", "mean"),
}
_STATISTICS = ("Sum", "Average", "Maximum", "Minimum", "SampleCount")


@dataclass(frozen=True)
class Series:
    """One metric's datapoints: epoch seconds and values."""

    metric: str
    times_s: NDArray[np.float64]
    values: NDArray[np.float64]


def _epoch(text: Any, where: str) -> float:
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    if not isinstance(text, str):
        raise TraceError(f"{where}: expected a timestamp, got {text!r}")
    raw = text.strip().replace("Z", "+00:00")
    try:
        stamp = datetime.fromisoformat(raw)
    except ValueError:
        try:
            stamp = datetime.strptime(text.strip(), "%Y/%m/%d %H:%M:%S")
        except ValueError:
            raise TraceError(f"{where}: not an ISO 8601 timestamp: {text!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TraceError(f"{where}: expected a number, got {value!r}")
    try:
        out = float(value)
    except ValueError:
        raise TraceError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(out):
        raise TraceError(f"{where}: expected a finite number, got {value!r}")
    return out


def _metric_of(name: str) -> str | None:
    for metric in METRICS:
        if metric.lower() in name.lower():
            return metric
    return None


def read_cloudwatch(path: str | Path) -> dict[str, Series]:
    """The ALB metrics in a CloudWatch export (see the module docstring), by metric name."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TraceError(f"{path}: CloudWatch file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: cannot be read ({exc})") from None
    stripped = text.lstrip()
    if not stripped:
        raise TraceError(f"{path}: is empty")
    found = _read_json(str(path), stripped) if stripped[0] in "{[" else _read_csv(str(path), text)
    if not found:
        raise TraceError(
            f"{path}: holds none of the metrics {', '.join(METRICS)} (label a query with the "
            "metric's name)"
        )
    return found


def _read_json(path: str, text: str) -> dict[str, Series]:
    docs: list[Any] = []
    decoder = json.JSONDecoder()
    i = 0
    while i < len(text):
        try:
            doc, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise TraceError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}") from None
        docs.extend(doc if isinstance(doc, list) else [doc])
        i = end
        while i < len(text) and text[i].isspace():
            i += 1
    out: dict[str, list[tuple[float, float]]] = {}
    for n, doc in enumerate(docs, 1):
        where = f"{path}, document {n}"
        if not isinstance(doc, Mapping):
            raise TraceError(f"{where}: expected a JSON object")
        if "MetricDataResults" in doc:
            for k, result in enumerate(doc["MetricDataResults"]):
                at = f"{where}, MetricDataResults[{k}]"
                label = str(result.get("Label") or result.get("Id") or "")
                metric = _metric_of(label) or _metric_of(str(result.get("Id", "")))
                if metric is None:
                    continue
                stamps, values = result.get("Timestamps", []), result.get("Values", [])
                if len(stamps) != len(values):
                    raise TraceError(f"{at}: {len(stamps)} Timestamps but {len(values)} Values")
                out.setdefault(metric, []).extend(
                    (_epoch(t, at), _number(v, at)) for t, v in zip(stamps, values, strict=True)
                )
        elif "Datapoints" in doc:
            metric = _metric_of(str(doc.get("Label", "")))
            if metric is None:
                continue
            want = "Average" if METRICS[metric][1] == "mean" else "Sum"
            for k, point in enumerate(doc["Datapoints"]):
                at = f"{where}, Datapoints[{k}]"
                stat = want if want in point else None
                if stat is None:
                    found = ", ".join(s for s in _STATISTICS if s in point) or "none"
                    raise TraceError(
                        f"{at}: {metric} is compared as its {want} (statistic found: {found}); "
                        f"export it with --statistics {want}"
                    )
                out.setdefault(metric, []).append(
                    (_epoch(point.get("Timestamp"), at), _number(point[stat], at))
                )
        else:
            raise TraceError(
                f"{where}: expected get-metric-data (MetricDataResults) or "
                "get-metric-statistics (Datapoints) output"
            )
    return {m: _series(m, pts, path) for m, pts in out.items() if pts}


def _read_csv(path: str, text: str) -> dict[str, Series]:
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise TraceError(f"{path}: is empty")
    header = [h.strip() for h in rows[0]]
    time_col = next(
        (i for i, h in enumerate(header) if h in ("Timestamp", "timestamp", "Time", "time")), None
    )
    if time_col is None:
        raise TraceError(f"{path}, line 1: no time column (Timestamp, timestamp, Time or time)")
    columns = {i: _metric_of(h) for i, h in enumerate(header) if i != time_col}
    out: dict[str, list[tuple[float, float]]] = {}
    for n, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise TraceError(f"{path}, line {n}: {len(row)} fields, the header has {len(header)}")
        at = f"{path}, line {n}"
        t = _epoch(row[time_col], at)
        for i, metric in columns.items():
            if metric is not None and row[i].strip():
                out.setdefault(metric, []).append((t, _number(row[i], at)))
    return {m: _series(m, pts, path) for m, pts in out.items() if pts}


def _series(metric: str, points: list[tuple[float, float]], path: str = "") -> Series:
    arr = np.array(sorted(points), dtype=np.float64)
    steps = np.diff(np.unique(arr[:, 0]))
    if steps.size:
        step = float(steps.min())
        if step <= 0 or SECONDS_PER_HOUR % step or np.any(np.mod(steps, step)):
            raise TraceError(
                f"{path}: {metric}'s datapoints are {step:g} s apart: expected a period that "
                "divides an hour (60, 300, 3600 s ...), so that each datapoint lies in one clock hour"
            )
    return Series(metric, arr[:, 0], arr[:, 1])


def hourly(series: Series, first_hour_s: float, hours: int) -> NDArray[np.float64]:
    """The metric per clock hour from ``first_hour_s`` as the module docstring says (NaN where
    CloudWatch has no datapoint in the hour)."""
    how = METRICS[series.metric][1]
    h = np.floor((series.times_s - first_hour_s) / SECONDS_PER_HOUR).astype(np.int64)
    keep = (h >= 0) & (h < hours)
    h, v = h[keep], series.values[keep]
    total: NDArray[np.float64] = np.bincount(h, v, minlength=hours).astype(np.float64)
    count = np.bincount(h, minlength=hours)
    out: NDArray[np.float64]
    if how == "sum":
        out = total
    elif how == "sum/60":
        out = total / 60.0
    else:
        out = np.divide(total, count, out=np.zeros(hours), where=count > 0)
    return np.where(count > 0, out, np.nan)


def compare(
    meters: Mapping[str, NDArray[np.float64]],
    hours_s: NDArray[np.float64],
    cloudwatch: Mapping[str, Series],
) -> dict[str, Any]:
    """Per metric: per hour the replay's value, CloudWatch's and their relative difference, and
    over the hours both have: the totals and the largest difference."""
    first = float(hours_s[0])
    n = hours_s.size
    out: dict[str, Any] = {"hours": [iso_utc(h) for h in hours_s], "metrics": {}}
    for metric, series in cloudwatch.items():
        column = METRICS[metric][0]
        ours = np.asarray(meters[column], dtype=np.float64)
        theirs = hourly(series, first, n)
        both = ~np.isnan(theirs)
        diff = np.where(both & (theirs != 0), (ours - theirs) / np.where(theirs == 0, 1, theirs),
                        np.nan)  # fmt: skip
        sum_ours, sum_theirs = float(ours[both].sum()), float(theirs[both].sum())
        finite = diff[np.isfinite(diff)]
        out["metrics"][metric] = {
            "replay_column": column,
            "hours_compared": int(both.sum()),
            "replay": [float(x) for x in ours],
            "cloudwatch": [None if math.isnan(x) else float(x) for x in theirs],
            "difference": [None if not math.isfinite(x) else float(x) for x in diff],
            "replay_total": sum_ours,
            "cloudwatch_total": sum_theirs,
            "total_difference": (sum_ours - sum_theirs) / sum_theirs if sum_theirs else None,
            "largest_hourly_difference": float(np.max(np.abs(finite))) if finite.size else None,
        }
    return out


def replay_meters(
    source: str,
    fmt: str,
    *,
    idle_timeout_s: float,
    rules_processed: int,
    lambda_target: bool,
    max_malformed_share: float,
    reorder_window_s: float = 300.0,
    connection_logs: str = "",
) -> tuple[dict[str, NDArray[np.float64]], NDArray[np.float64]]:
    """The ALB's hourly meters on the logged requests, over the clock hours they span (with
    ``connection_logs``, new connections from the ALB's connection logs)."""
    from sim.config import scenario_from_dict
    from sim.engine import simulate
    from sim.logs.source import SourceOptions, log_index
    from sim.pricing.derive import derive_columns

    opts = SourceOptions(source, fmt, max_malformed_share, (), reorder_window_s, connection_logs)
    log = log_index(opts)
    first = math.floor(log.first_s / SECONDS_PER_HOUR) * SECONDS_PER_HOUR
    last = math.floor(log.last_s / SECONDS_PER_HOUR) * SECONDS_PER_HOUR + SECONDS_PER_HOUR
    data = {
        "scenario": {
            "name": "logs-check",
            "start": datetime.fromtimestamp(first, UTC),
            "duration_days": (last - first) / 86_400,
            "region": "us-east-1",
        },
        "traffic": {
            "model": "access_log",
            "path": source,
            "format": fmt,
            "idle_timeout_s": idle_timeout_s,
            "max_malformed_share": max_malformed_share,
            "reorder_window_s": reorder_window_s,
            **({"connection_logs": connection_logs} if connection_logs else {}),
        },
        "alb": {
            "rules_processed": rules_processed,
            "target_type": "lambda" if lambda_target else "instance",
        },
        "apigateway": {"apis": []},
        "lambda_url": {"enabled": False},
        "engine": {"fidelity": "request"},
    }
    scenario = scenario_from_dict(data, "<sim logs check>")
    table = derive_columns(simulate(scenario), scenario)
    meters = {
        c: np.asarray(table.column(c).to_numpy(), dtype=np.float64) for c, _ in METRICS.values()
    }
    hours = first + SECONDS_PER_HOUR * np.arange(table.num_rows, dtype=np.float64)
    return meters, hours


def check_lines(doc: Mapping[str, Any]) -> list[str]:
    """The comparison as text: per metric the totals and the largest hourly difference."""
    lines = [f"{len(doc['hours'])} clock hours, {doc['hours'][0]} to {doc['hours'][-1]}"]
    for metric, m in doc["metrics"].items():
        total = m["total_difference"]
        worst = m["largest_hourly_difference"]
        lines.append(
            f"  {metric} vs {m['replay_column']}: replay {m['replay_total']:,.6g}, CloudWatch "
            f"{m['cloudwatch_total']:,.6g} over {m['hours_compared']} hours"
            + (f" ({100 * total:+.2f}%)" if total is not None else "")
            + (f"; largest hourly difference {100 * worst:.2f}%" if worst is not None else "")
        )
    return lines
