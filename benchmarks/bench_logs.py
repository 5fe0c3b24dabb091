"""Benchmark: replaying and converting days of ALB access logs (run by hand; figures go in the
README).

Writes days of seed-like ALB access logs once (``--lines`` requests a day, 5 M by default: the
seed's day; one gzip file per 5 minutes named as ELB names them, every field of AWS's format,
keep-alive connections of about 10 requests), then times, each in a fresh process so that nothing
is cached:

* ``stream``: the logs read in time order through the reorder window
  (``sim.logs.stream.LogStream``, both cores), lines/s;
* ``convert``: ``sim logs convert`` (stream, connection ids, Parquet row groups), lines/s, and
  ``convert 1 core``: the same under ``taskset -c 0`` (one core);
* ``replay logs``: ``sim run`` of a scenario replaying the logs (``--no-plots``; index pass with
  its spill, then the replay), and ``replay table``: the same run replaying the converted table;
* ``summary``: ``sim logs summary``;

and each one's CPU time (user + system) and peak memory (maximum resident set size). With
``--days 1 3`` it does all of it for 1 day and for 3 days of the same traffic: memory should not
grow with the days.

    python benchmarks/bench_logs.py                        # 5 M lines in /tmp/sim-bench-logs
    python benchmarks/bench_logs.py --days 1 3 --lines 1000000
    python benchmarks/bench_logs.py --lines 1000000 --dir /data/alb-logs
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

T0 = 1_764_547_200  # 2025-12-01T00:00:00Z
DAY = 86_400

SCENARIO = """\
[scenario]
name = "bench-logs"
region = "us-east-1"

[traffic]
model = "access_log"
path = "{path}"

[alb]
rules_processed = 10

[cloudfront]
origins = []
"""


def write_logs(directory: Path, n: int, days: int = 1, seed: int = 1) -> None:
    """``n`` requests a day over ``days`` days (the seed's daily cycle), on keep-alive
    connections of 10 requests in a row, 1 KB each way, as ALB access log lines in one gzip file
    per 5 minutes, named as ELB names them (the interval's end in the name)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for day in range(days):
        _write_day(directory, n, T0 + day * DAY, rng)


def _write_day(directory: Path, n: int, t0: int, rng: np.random.Generator) -> None:
    hours = np.arange(24)
    shape = np.exp(2.0 * (np.cos(2 * np.pi * (hours - 14) / 24) - 1))
    per_hour = rng.multinomial(n, shape / shape.sum())
    t = np.concatenate([h * 3600 + np.sort(rng.random(c) * 3600) for h, c in enumerate(per_hour)])
    t = t0 + t
    # connections of 10 consecutive requests (ids drawn so that they do not follow each other)
    client_id = rng.permutation(max(1, n // 10) + 1)[np.arange(n) // 10] + (t0 - T0) // DAY * n
    received = rng.integers(900, 1150, n)
    sent = rng.integers(900, 1150, n)
    target_s = np.round(rng.lognormal(np.log(40), 0.4, n)) / 1000  # logged to the ms
    files = np.floor((t - t0) / 300).astype(np.int64)
    edges = np.searchsorted(files, np.arange(files.max() + 2))
    for f in range(int(files.max()) + 1):
        lo, hi = int(edges[f]), int(edges[f + 1])
        if lo == hi:
            continue
        sl = slice(lo, hi)
        order = rng.permutation(hi - lo)  # lines not in time order within a file
        micros = np.round(t[sl][order] * 1e6).astype(np.int64)
        whole = pa.array(micros // 1_000_000, pa.timestamp("s", tz="UTC"))
        created = pc.strftime(whole, format="%Y-%m-%dT%H:%M:%S", locale="C")
        frac = pc.cast(pa.array(micros % 1_000_000), pa.string())
        frac = pc.utf8_lpad(frac, 6, "0")
        stamp = pc.binary_join_element_wise(created, ".", frac, "Z", "")
        cid = client_id[sl][order]
        ip = pc.binary_join_element_wise(
            "10.", pc.cast(pa.array(cid // 65536 % 256), pa.string()), ".",
            pc.cast(pa.array(cid // 256 % 256), pa.string()), ".",
            pc.cast(pa.array(cid % 256), pa.string()), ":",
            pc.cast(pa.array(1024 + cid % 60000), pa.string()), "",
        )  # fmt: skip
        tid = pc.binary_join_element_wise("TID_", pc.cast(pa.array(cid), pa.string()), "")
        line = pc.binary_join_element_wise(
            "https", stamp, "app/my-alb/50dc6c495c0c9188", ip, "-", "0.001",
            pc.cast(pa.array(target_s[sl][order]), pa.string()), "0.000", "200", "200",
            pc.cast(pa.array(received[sl][order]), pa.string()),
            pc.cast(pa.array(sent[sl][order]), pa.string()),
            '"GET https://api.example.com:443/v1/items?id=42 HTTP/1.1"', '"okhttp/4.12.0"',
            "ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fn/73e2d6bc24d8a067",
            '"Root=1-58337281-1d84f3d73c47ec4e58577259"', '"api.example.com"',
            '"arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"',
            "0", stamp, '"forward"', '"-"', '"-"', '"-"', '"-"', '"-"', '"-"', tid,
            '"-"', '"-"', '"-"', " ",
        )  # fmt: skip
        text = "\n".join(line.to_pylist()) + "\n"
        end = datetime.fromtimestamp(t0 + 300 * (f + 1), UTC).strftime("%Y%m%dT%H%MZ")
        name = (
            f"123456789012_elasticloadbalancing_us-east-1_app.my-alb.50dc6c495c0c9188_{end}_"
            f"10.0.{f % 4}.7_{f:08x}.log.gz"
        )  # AWS's naming: the interval's end, the node's address, a random string
        with gzip.open(directory / name, "wt", compresslevel=1) as fh:
            fh.write(text)


def timed(code: str, taskset: str | None = None) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter (under ``taskset -c CPU`` when given): its wall time,
    CPU time (user + system, children included) and peak RSS (MiB)."""
    wrapper = (
        "import resource, time, json\n"
        "t = time.perf_counter()\n" + code + "\n"
        "s, c = resource.getrusage(resource.RUSAGE_SELF), "
        "resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps({'s': time.perf_counter() - t, "
        "'cpu_s': s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime, "
        "'rss_mib': max(s.ru_maxrss, c.ru_maxrss) / 1024}))\n"
    )
    command = [sys.executable, "-c", wrapper]
    if taskset is not None:
        command = ["taskset", "-c", taskset, *command]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def bench(directory: Path, lines: int, days: int) -> dict[str, dict[str, float]]:
    """Every step on ``days`` days of ``lines`` a day: ``{step: figures}``."""
    logs = directory / f"alb-{lines}-{days}d"
    if not logs.is_dir():  # in a child: a process forked from a large one reports its peak RSS
        began = time.perf_counter()
        code = (
            f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            f"from bench_logs import write_logs; from pathlib import Path\n"
            f"write_logs(Path({str(logs)!r}), {lines}, {days})"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
        print(f"wrote {lines * days:,} lines into {logs} in {time.perf_counter() - began:.0f} s")
    files = list(logs.iterdir())
    size = sum(f.stat().st_size for f in files)
    print(f"{days} day(s): {lines * days:,} ALB log lines, {len(files)} gzip files, "
          f"{size / 2**20:,.0f} MiB; {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}")  # fmt: skip
    table = directory / f"requests-{lines}-{days}d.parquet"
    sim = f"{Path(sys.executable).parent / 'sim'}"
    for config, path in (("logs", logs), ("table", table)):
        (directory / f"{config}-{days}d.toml").write_text(SCENARIO.format(path=path))

    def convert() -> str:
        table.unlink(missing_ok=True)
        return (
            f"import subprocess\nsubprocess.run([{sim!r}, 'logs', 'convert', {str(logs)!r}, "
            f"'--out', {str(table)!r}], check=True, capture_output=True)"
        )

    results = {
        "stream": timed(
            "from sim.logs.stream import LogStream\n"
            f"for _ in LogStream({str(logs)!r}, 'alb', routes=False).tables(): pass"
        ),
        "convert 1 core": timed(convert(), taskset="0"),
        "convert": timed(convert()),
    }
    for name, config in (("replay logs", "logs"), ("replay table", "table")):
        out = directory / f"out-{config}-{days}d"
        results[name] = timed(
            f"import shutil, subprocess\nshutil.rmtree({str(out)!r}, ignore_errors=True)\n"
            f"subprocess.run([{sim!r}, 'run', {str(directory / f'{config}-{days}d.toml')!r}, "
            f"'--out', {str(out)!r}, '--no-plots', '-q'], check=True)"
        )
    results["summary"] = timed(
        f"import subprocess\nsubprocess.run([{sim!r}, 'logs', 'summary', {str(logs)!r}], "
        "check=True, capture_output=True)"
    )
    n = lines * days
    for name, r in results.items():
        rate = f", {n / r['s'] / 1e6:.2f} M lines/s" if name in ("stream", "convert") else ""
        if name == "convert 1 core":
            rate = f", {n / r['s'] / 1e6:.2f} M lines/s on one core"
        print(f"{name:>15}: {r['s']:6.1f} s wall, {r['cpu_s']:6.1f} s CPU{rate}, "
              f"peak memory {r['rss_mib']:,.0f} MiB")  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=5_000_000, help="log lines a day")
    parser.add_argument("--days", type=int, nargs="+", default=[1], help="days of logs, each run")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/sim-bench-logs"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    runs = {days: bench(args.dir, args.lines, days) for days in args.days}
    if len(runs) > 1:
        print("peak memory by days of logs (MiB):")
        for step in next(iter(runs.values())):
            print(f"{step:>15}: " + ", ".join(
                f"{d} d {r[step]['rss_mib']:,.0f}" for d, r in runs.items()
            ))  # fmt: skip


if __name__ == "__main__":
    main()
