"""Benchmark: ``sim fit`` against the replay on real traces and on synthetic ALB logs of known
burstiness (run by hand; the figures go in the README's "Fitting" paragraph).

For each source, ``sim fit SOURCE --out fit.toml --report DIR`` runs in a fresh process; the
script prints the burst model the fit chose, each option's bill against the replay's (the largest
difference; the issue's target: within 3 %), the 99th percentile over hours of the busiest second
(``peak_rps``, the mean of 5 seeds, and its standard error from their spread; target: within
10 % of the replay's), what the fit's own predictive check expected, how far one draw strays
(the relative standard deviation of one seed's percentile: the replay is one draw), for the
synthetic sources the true model's percentile (mean ± sd over 20 draws), and the CPU and wall
time.

Sources (``--only`` picks some):

* ``nasa-day``: the shipped NASA 1995 day (per second);
* ``nasa-july``: 30 days of July 1995 from the full NASA trace (``--traces``, per second);
* ``nasa-full``: the whole NASA trace (July and August 1995, the August outage included);
* ``wc-day``: the shipped WorldCup98 day (per minute: no per-second burstiness to fit);
* ``wc-full``: the whole WorldCup98 trace (per minute, 87 days, 1.35 G requests: slow);
* ``alb-poisson``, ``alb-mmpp``, ``alb-hawkes``, ``alb-hawkes-2s``: two days of ALB access logs
  (``tests/logs/logs_helpers.py``'s lines, gzip) whose per-second counts come from sim's own
  processes at 5 req/s × a daily cosine: Poisson; an MMPP (levels 0.5 and 3, shares 0.8 and 0.2,
  redrawn every 30 s); Hawkes n = 0.5, τ = 0.2 s (amplitude 0.8); Hawkes n = 0.5, τ = 2 s.

    python benchmarks/bench_fit.py                       # all but wc-full
    python benchmarks/bench_fit.py --only nasa-day alb-hawkes
    python benchmarks/bench_fit.py --traces ../shared/traces --only wc-full
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_764_547_200  # 2025-12-01T00:00:00Z, a Monday
DAY = 86_400

SYNTHETIC: dict[str, tuple[dict[str, Any], float]] = {
    "alb-poisson": ({"model": "poisson"}, 0.6),
    "alb-mmpp": (
        {"model": "mmpp", "levels": (0.5, 3.0), "shares": (0.8, 0.2), "redraw_s": 30.0},
        0.6,
    ),
    "alb-hawkes": ({"model": "hawkes", "branching_ratio": 0.5, "decay_s": 0.2}, 0.8),
    "alb-hawkes-2s": ({"model": "hawkes", "branching_ratio": 0.5, "decay_s": 2.0}, 0.6),
}


def synthetic_logs(name: str, directory: Path, days: int = 2, rate: float = 5.0) -> Path:
    """Two days of ALB logs whose per-second counts come from sim's own burst process."""
    sys.path.insert(0, str(ROOT / "tests" / "logs"))
    from logs_helpers import alb_line, write

    from sim.logs.burstfit import Candidate

    spec, amplitude = SYNTHETIC[name]
    path = directory / f"{name}.log.gz"
    if path.exists():
        return path
    rng = np.random.default_rng(11)
    t = np.arange(days * DAY) + 0.5
    m = rate * (1 + amplitude * np.cos(2 * np.pi * (t / 3600 - 14) / 24))
    process = Candidate(**spec).process()
    if process is None:
        counts = rng.poisson(m)
    else:
        counts = np.concatenate(
            [process.counts(rng, t[i : i + DAY], m[i : i + DAY]) for i in range(0, t.size, DAY)]
        )
    second = np.repeat(np.arange(t.size), counts)
    times = T0 + second + rng.random(second.size)
    clients = rng.integers(0, 400, second.size)
    sent = rng.integers(300, 3000, second.size)
    lines = (
        alb_line(
            t_s=float(ts),
            client=f"10.0.{c // 250}.{c % 250}:{40000 + c}",
            conn=f"TID_{c:08x}",
            sent=str(s),
        )
        for ts, c, s in zip(times, clients, sent, strict=True)
    )
    return write(path, lines, gz=True)


def truth_p99(name: str, runs: int = 20, days: int = 2, rate: float = 5.0) -> tuple[float, float]:
    """A synthetic source's true model: the mean and standard deviation over ``runs`` draws of the
    99th percentile over hours of the busiest second (how far one draw, the replay, strays)."""
    from sim.logs.burstfit import Candidate

    spec, amplitude = SYNTHETIC[name]
    t = np.arange(days * DAY) + 0.5
    m = rate * (1 + amplitude * np.cos(2 * np.pi * (t / 3600 - 14) / 24))
    p99 = []
    for r in range(runs):
        rng = np.random.default_rng([99, r])
        process = Candidate(**spec).process()
        if process is None:
            counts = rng.poisson(m)
        else:
            counts = np.concatenate(
                [process.counts(rng, t[i : i + DAY], m[i : i + DAY]) for i in range(0, t.size, DAY)]
            )
        p99.append(float(np.quantile(counts.reshape(-1, 3600).max(axis=1), 0.99)))
    return float(np.mean(p99)), float(np.std(p99, ddof=1))


def nasa_july(traces: Path, directory: Path) -> Path:
    """July 2–31 1995 (30 days, whole UTC days) of the full NASA trace, as a counts Parquet."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = directory / "nasa-http-1995-07-per-second.parquet"
    if path.exists():
        return path
    table = pq.read_table(traces / "nasa-http-1995-per-second.parquet")
    ts = pa.timestamp("ms", tz="UTC")
    a = pa.scalar(dt.datetime(1995, 7, 2, tzinfo=dt.UTC), ts)
    b = pa.scalar(dt.datetime(1995, 8, 1, tzinfo=dt.UTC), ts)
    keep = pc.and_(pc.greater_equal(table["timestamp"], a), pc.less(table["timestamp"], b))
    pq.write_table(table.filter(keep), path)
    return path


def source(name: str, traces: Path, directory: Path) -> Path:
    if name == "nasa-day":
        return ROOT / "configs/traces/nasa-http-1995-07-13-per-second.csv.gz"
    if name == "wc-day":
        return ROOT / "configs/traces/worldcup98-1998-06-30-per-minute.csv.gz"
    if name == "nasa-july":
        return nasa_july(traces, directory)
    if name == "nasa-full":
        return traces / "nasa-http-1995-per-second.parquet"
    if name == "wc-full":
        return traces / "worldcup98-per-minute.csv.gz"
    return synthetic_logs(name, directory)


def run_fit(name: str, path: Path, directory: Path) -> dict[str, Any]:
    out, report = directory / f"{name}.toml", directory / f"{name}-report"
    for old in (out,):
        if old.exists():
            old.unlink()
    if report.exists():
        for f in report.iterdir():
            f.unlink()
        report.rmdir()
    sim = [sys.executable, "-m", "sim"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([*sim, "fit", str(path), "--out", str(out), "--report", str(report)],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    doc = json.loads((report / "fit.json").read_text())
    doc["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    doc["wall_s"] = wall
    doc["maxrss_mib"] = after.ru_maxrss / 1024
    return doc


def main() -> None:
    names = ["nasa-day", "nasa-july", "nasa-full", "wc-day", *SYNTHETIC]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=[*names, "wc-full"], default=names)
    parser.add_argument("--traces", type=Path, default=ROOT.parent / "shared" / "traces")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/sim-bench-fit"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"load {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M')}")
    head = (f"{'source':14s} {'hours':>5s} {'chosen':8s} {'|bill Δ|':>7s} {'p99 replay':>10s} "
            f"{'p99 fitted':>13s} {'Δ':>7s} {'check':>6s} {'cpu s':>6s} {'wall s':>6s}")  # fmt: skip
    print(head)
    for name in args.only:
        doc = run_fit(name, source(name, args.traces, args.dir), args.dir)
        p = doc["peak_rps_p99"]
        burst = doc.get("burst") or {}
        chosen = burst.get("chosen", "-")
        check = burst.get("candidates", {}).get(chosen, {}).get("p99_simulated")
        se = p.get("fitted_se") or 0.0
        # one seed's spread: how far one draw of the fitted scenario strays from its mean
        draw = (
            np.std(p["fitted_per_seed"], ddof=1) / p["fitted"]
            if len(p["fitted_per_seed"]) > 1
            else 0
        )
        truth = ""
        if name in SYNTHETIC:
            mean, sd = truth_p99(name)
            truth = f"{mean:5.1f} ± {sd:4.1f}"
        print(
            f"{name:14s} {doc['period']['hours']:5d} {chosen:8s} "
            f"{100 * doc['largest_bill_difference']:6.2f}% {p['replay']:10.1f} "
            f"{p['fitted']:7.1f} ± {se:4.1f} {100 * p['difference']:+6.1f}% "
            f"{'' if check is None else f'{check:6.1f}':6s} {100 * draw:5.1f}% {truth:>12s} "
            f"{doc['cpu_s']:6.1f} {doc['wall_s']:6.1f}",
            flush=True,
        )
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
