"""Benchmark: replaying a day of ALB access logs (run by hand; figures go in the README).

Writes a day of seed-like ALB access logs once (``--lines`` requests, 5 M by default: the seed's
day; one gzip file per 5 minutes as ELB delivers them, every field of AWS's format), then times,
each in a fresh process so that nothing is cached:

* ``read``: reading and checking the logs (``sim.logs.readers.read_access_logs``), lines/s;
* ``convert``: ``sim logs convert`` (read, sort, hash the client connections, write Parquet);
* ``replay logs``: ``sim run`` of a one-day scenario replaying the logs (``--no-plots``);
* ``replay table``: the same run replaying the converted table;

and each one's peak memory (maximum resident set size).

    python benchmarks/bench_logs.py                 # 5 M lines in /tmp/sim-bench-logs
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


def write_logs(directory: Path, n: int, seed: int = 1) -> None:
    """``n`` requests over a day (the seed's daily cycle), 10 per keep-alive connection, 1 KB
    each way, as ALB access log lines in one gzip file per 5 minutes."""
    rng = np.random.default_rng(seed)
    hours = np.arange(24)
    shape = np.exp(2.0 * (np.cos(2 * np.pi * (hours - 14) / 24) - 1))
    per_hour = rng.multinomial(n, shape / shape.sum())
    t = np.concatenate([h * 3600 + np.sort(rng.random(c) * 3600) for h, c in enumerate(per_hour)])
    t = T0 + t
    conns = max(1, n // 10)
    client_id = rng.integers(0, conns, n)
    received = rng.integers(900, 1150, n)
    sent = rng.integers(900, 1150, n)
    target_s = np.round(rng.lognormal(np.log(40), 0.4, n)) / 1000  # logged to the ms
    directory.mkdir(parents=True, exist_ok=True)
    files = np.floor((t - T0) / 300).astype(np.int64)
    edges = np.searchsorted(files, np.arange(files.max() + 2))
    for f in range(int(files.max()) + 1):
        lo, hi = int(edges[f]), int(edges[f + 1])
        if lo == hi:
            continue
        sl = slice(lo, hi)
        micros = np.round(t[sl] * 1e6).astype(np.int64)
        whole = pa.array(micros // 1_000_000, pa.timestamp("s", tz="UTC"))
        created = pc.strftime(whole, format="%Y-%m-%dT%H:%M:%S", locale="C")
        frac = pc.cast(pa.array(micros % 1_000_000), pa.string())
        frac = pc.utf8_lpad(frac, 6, "0")
        stamp = pc.binary_join_element_wise(created, ".", frac, "Z", "")
        ip = pc.binary_join_element_wise(
            "10.", pc.cast(pa.array(client_id[sl] // 65536 % 256), pa.string()), ".",
            pc.cast(pa.array(client_id[sl] // 256 % 256), pa.string()), ".",
            pc.cast(pa.array(client_id[sl] % 256), pa.string()), ":",
            pc.cast(pa.array(1024 + client_id[sl] % 60000), pa.string()), "",
        )  # fmt: skip
        tid = pc.binary_join_element_wise("TID_", pc.cast(pa.array(client_id[sl]), pa.string()), "")
        line = pc.binary_join_element_wise(
            "https", stamp, "app/my-alb/50dc6c495c0c9188", ip, "-", "0.001",
            pc.cast(pa.array(target_s[sl]), pa.string()), "0.000", "200", "200",
            pc.cast(pa.array(received[sl]), pa.string()), pc.cast(pa.array(sent[sl]), pa.string()),
            '"GET https://api.example.com:443/v1/items?id=42 HTTP/1.1"', '"okhttp/4.12.0"',
            "ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fn/73e2d6bc24d8a067",
            '"Root=1-58337281-1d84f3d73c47ec4e58577259"', '"api.example.com"',
            '"arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"',
            "0", stamp, '"forward"', '"-"', '"-"', '"-"', '"-"', '"-"', '"-"', tid,
            '"-"', '"-"', '"-"', " ",
        )  # fmt: skip
        text = "\n".join(line.to_pylist()) + "\n"
        end = datetime.fromtimestamp(T0 + 300 * (f + 1), UTC).strftime("%Y%m%dT%H%MZ")
        name = (
            f"123456789012_elasticloadbalancing_us-east-1_app.my-alb.50dc6c495c0c9188_{end}_"
            f"10.0.{f % 4}.7_{f:08x}.log.gz"
        )  # AWS's naming: the interval's end, the node's address, a random string
        with gzip.open(directory / name, "wt", compresslevel=1) as fh:
            fh.write(text)


def timed(code: str) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter: its wall time and peak RSS (MiB)."""
    wrapper = (
        "import resource, time, json\n"
        "t = time.perf_counter()\n" + code + "\n"
        "print(json.dumps({'s': time.perf_counter() - t, "
        "'rss_mib': max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024}))\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper], check=True, capture_output=True,
                         text=True).stdout  # fmt: skip
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/sim-bench-logs"))
    args = parser.parse_args()
    logs = args.dir / f"alb-{args.lines}"
    if not logs.is_dir():
        began = time.perf_counter()
        write_logs(logs, args.lines)
        print(f"wrote {args.lines:,} lines into {logs} in {time.perf_counter() - began:.0f} s")
    size = sum(f.stat().st_size for f in logs.iterdir())
    print(f"{args.lines:,} ALB log lines, {len(list(logs.iterdir()))} gzip files, "
          f"{size / 2**20:,.0f} MiB; {os.cpu_count()} cores")  # fmt: skip
    table = args.dir / f"requests-{args.lines}.parquet"
    table.unlink(missing_ok=True)
    for config, path in (("logs.toml", logs), ("table.toml", table)):
        (args.dir / config).write_text(SCENARIO.format(path=path))
    sim = f"{Path(sys.executable).parent / 'sim'}"
    results = {
        "read": timed(
            f"from sim.logs.readers import read_access_logs\nread_access_logs({str(logs)!r}, 'alb')"
        ),
        "convert": timed(
            f"import subprocess\nsubprocess.run([{sim!r}, 'logs', 'convert', {str(logs)!r}, "
            f"'--out', {str(table)!r}], check=True, capture_output=True)"
        ),
    }
    for name, config in (("replay logs", "logs.toml"), ("replay table", "table.toml")):
        out = args.dir / f"out-{config[:-5]}"
        results[name] = timed(
            f"import subprocess\nsubprocess.run([{sim!r}, 'run', {str(args.dir / config)!r}, "
            f"'--out', {str(out)!r}, '--no-plots', '-q'], check=True)"
        )
    for name, r in results.items():
        rate = f", {args.lines / r['s'] / 1e6:.2f} M lines/s" if name in ("read", "convert") else ""
        print(f"{name:>13}: {r['s']:6.1f} s{rate}, peak memory {r['rss_mib']:,.0f} MiB")


if __name__ == "__main__":
    main()
