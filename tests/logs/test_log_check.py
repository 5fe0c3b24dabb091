"""``sim logs check``: CloudWatch exports read as the AWS CLI writes them, hour by hour against the
replay. The CloudWatch figures here are computed from the logged requests independently (per
minute, as ELB publishes them), so a replay that metered anything else would differ."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.errors import TraceError
from sim.logs.check import compare, hourly, read_cloudwatch, replay_meters
from sim.logs.requests import normalize

T0 = 1_764_547_200.0  # 2025-12-01T00:00:00Z
IDLE = 60.0


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """Two hours of requests on 40 keep-alive connections that each send one request every
    2-50 s (so none idles out), and the per-minute CloudWatch figures of that traffic."""
    rng = np.random.default_rng(11)
    times, clients = [], []
    starts = T0 + rng.random(40) * 300
    for c, t in enumerate(starts):
        while t < T0 + 7000:
            times.append(t)
            clients.append(f"203.0.113.{c}:5{c:04d}")
            t += 2 + rng.random() * 48
    order = np.argsort(times)
    t = np.asarray(times)[order]
    n = t.size
    req = rng.integers(300, 3000, n)
    resp = rng.integers(300, 30_000, n)
    raw = pa.table(
        {
            "time_s": t,
            "request_bytes": pa.array(req, pa.int64()),
            "response_bytes": pa.array(resp, pa.int64()),
            "client": [clients[i] for i in order],
            "route": ["/"] * n,
            "method": ["GET"] * n,
            "duration_ms": pa.array(np.zeros(n)),
            "status": pa.array(np.full(n, 200), pa.int32()),
            "event_type": pa.nulls(n, pa.string()),
        }
    )
    path = tmp_path_factory.mktemp("check") / "requests.parquet"
    pq.write_table(normalize(raw, salt=b"s"), path)
    # CloudWatch, per minute: connections opened, bytes processed, mean connections open
    minute = np.floor((t - T0) / 60).astype(int)
    minutes = 120
    by_client: dict[str, list[float]] = {}
    for k, ti in zip(raw.column("client").to_pylist(), t, strict=True):
        by_client.setdefault(k, []).append(ti)
    opened = np.zeros(minutes)
    open_s = np.zeros(minutes)
    for ts in by_client.values():
        a, b = ts[0], min(ts[-1] + IDLE, T0 + 7200)
        opened[int((a - T0) // 60)] += 1
        for m in range(minutes):
            lo = T0 + 60 * m
            open_s[m] += max(0.0, min(b, lo + 60) - max(a, lo))
    processed = np.bincount(minute, req + resp, minlength=minutes).astype(np.int64)
    stamps = [iso(T0 + 60 * m) for m in range(minutes)]
    cw = {
        "NewConnectionCount": opened,
        "ProcessedBytes": processed,
        "ActiveConnectionCount": open_s / 60,
    }
    return path, {"stamps": stamps, "values": cw}


def write_metric_data(path: Path, stamps: list[str], values: dict[str, Any]) -> None:
    results = [
        {"Id": f"m{i}", "Label": name, "Timestamps": stamps[::-1], "Values": [float(x) for x in v[::-1]],
         "StatusCode": "Complete"}
        for i, (name, v) in enumerate(values.items())
    ]  # fmt: skip
    path.write_text(json.dumps({"MetricDataResults": results, "Messages": []}))


def test_replay_equals_cloudwatch_computed_from_the_requests(
    logged: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    source, cw = logged
    export = tmp_path / "metrics.json"
    write_metric_data(export, cw["stamps"], cw["values"])
    meters, hours = replay_meters(
        str(source), "auto", idle_timeout_s=IDLE, rules_processed=10, lambda_target=True,
        max_malformed_share=0.001,
    )  # fmt: skip
    doc = compare(meters, hours, read_cloudwatch(export))
    assert doc["hours"] == [iso(T0), iso(T0 + 3600)]
    for metric in ("NewConnectionCount", "ProcessedBytes"):
        m = doc["metrics"][metric]
        assert m["hours_compared"] == 2
        assert m["replay"] == m["cloudwatch"], metric
    active = doc["metrics"]["ActiveConnectionCount"]
    np.testing.assert_allclose(active["replay"], active["cloudwatch"], rtol=1e-9)


def test_csv_and_get_metric_statistics_read_alike(
    logged: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    _, cw = logged
    stamps, values = cw["stamps"], cw["values"]
    csv_path = tmp_path / "metrics.csv"
    lines = ["Timestamp,my-alb NewConnectionCount,ProcessedBytes (Sum)"]
    lines += [
        f"{s},{values['NewConnectionCount'][i]:g},{values['ProcessedBytes'][i]:d}"
        for i, s in enumerate(stamps)
    ]
    csv_path.write_text("\n".join(lines) + "\n")
    stats = tmp_path / "stats.json"
    docs = [
        {"Label": name, "Datapoints": [{"Timestamp": s, "Sum": float(v[i]), "Unit": "Count"}
                                       for i, s in enumerate(stamps)]}
        for name, v in values.items()
        if name != "ActiveConnectionCount"
    ]  # fmt: skip
    stats.write_text("\n".join(json.dumps(d) for d in docs))
    a, b = read_cloudwatch(csv_path), read_cloudwatch(stats)
    assert set(a) == set(b) == {"NewConnectionCount", "ProcessedBytes"}
    for name in a:
        np.testing.assert_array_equal(hourly(a[name], T0, 2), hourly(b[name], T0, 2))
        assert hourly(a[name], T0, 2).sum() == values[name].sum()


def test_hours_without_datapoints_are_not_compared() -> None:
    from sim.logs.check import Series

    s = Series("ConsumedLCUs", np.array([T0, T0 + 60, T0 + 7200]), np.array([1.0, 3.0, 5.0]))
    got = hourly(s, T0, 3)
    assert got[0] == 2.0 and np.isnan(got[1]) and got[2] == 5.0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "is empty"),
        ('{"Nothing": 1}', "expected get-metric-data"),
        ('{"MetricDataResults": [{"Label": "Foo", "Timestamps": [], "Values": []}]}',
         "holds none of the metrics"),
        ('{"MetricDataResults": [{"Label": "ProcessedBytes", "Timestamps": ["2025-12-01T00:00:00Z"],'
         ' "Values": [true]}]}', "expected a number"),
        ("Timestamp,ProcessedBytes\n2025-12-01T00:00:00Z,abc\n", "line 2: expected a number"),
        ("when,ProcessedBytes\n", "no time column"),
        ('{"Label": "ProcessedBytes", "Datapoints": [{"Timestamp": "2025-12-01T00:00:00Z",'
         ' "Average": 5.0}]}', "compared as its Sum"),
        ("Timestamp,ProcessedBytes\n2025-12-01T00:00:00Z,1\n2025-12-01T00:07:00Z,2\n",
         "420 s apart"),
    ],
)  # fmt: skip
def test_bad_exports_are_named(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "cw.json"
    path.write_text(text)
    with pytest.raises(TraceError, match=match):
        read_cloudwatch(path)
