"""Engine benchmarks: speed and peak memory of each fidelity mode, and a plain SimPy baseline.

Run by hand (not part of the tests), from the repository root:

    python benchmarks/bench_engine.py            # all cases, a markdown table on stdout
    python benchmarks/bench_engine.py --quick    # a day instead of a month/year (smoke test)
    python benchmarks/bench_engine.py --in-process   # simulate() alone, warm, best of 3
    python benchmarks/bench_engine.py --workers  # sim run --workers 1 against 2, same run
    python benchmarks/bench_engine.py --cloudfront   # the shipped seed (CloudFront in front)

Each case runs in a fresh subprocess, so its peak resident memory (``ru_maxrss``) is its own and
imports are counted in its wall time. Cases:

* ``request``, ``aggregate``: the seed scenario (configs/seed.toml, 30 days, ~150 M requests),
  end to end through ``sim run`` (simulation, pricing, Parquet, summary; no plots);
* ``request (1 year)``, ``aggregate (1 year)``: the same with ``scenario.duration_days=365``;
* ``reference``: one SimPy process per request and connection, on one hour of the seed;
* ``plain SimPy``: the textbook model: one SimPy process per request (arrival by thinning of the
  seed's rate profile, hourly counters updated by each request's process), on one hour of the seed.
  The speed-up of ``request`` fidelity over it is measured in the same invocation of this script.

``--workers`` (issue 12): the seed month at ``request`` fidelity end to end (``sim run --no-plots``,
interpreter start and imports included), ``--workers 1`` and ``--workers 2`` (or ``--counts``)
alternately, ``--repeats`` times each, best of each and their ratio (timed alone: the memory
sampler, which takes CPU from the workers on 2 cores, runs in one more run per count); then a year
at ``request`` fidelity on the largest count, with the peak memory of the whole process tree (the
run's process, the forkserver and the workers: the sum of their resident sets, sampled every
50 ms). Targets on the 2-core machine: the month in at most 5 s with 2 workers, at least 1.6×
faster than with 1; the year in at most 1 GB. The machine's load (``os.getloadavg``) is printed
with every figure: wall-clock speed-ups need a quiet machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "configs" / "seed.toml"
#: The engine is measured on the seed's traffic and its original options (ALB, REST and HTTP APIs,
#: and the function URL, on the ``direct`` and ``gateway`` paths); CloudFront's pooled-connection
#: model in front of an ALB is measured on its own (``--cloudfront``).
ENGINE_ONLY = ["cloudfront.origins=[]"]

PLAIN_SIMPY = textwrap.dedent(
    """
    import math, sys, time
    import numpy as np
    import simpy
    from sim.config import load_scenario
    from sim.traffic.profiles import build_profile

    scenario = load_scenario(sys.argv[1], sys.argv[2:])
    profile = build_profile(scenario.traffic)
    start = scenario.scenario.start.timestamp()
    horizon = scenario.scenario.duration_s
    rng = np.random.default_rng(1)
    peak = profile.peak_per_s
    hours = math.ceil(horizon / 3600)
    requests = [0] * hours
    processed = [0] * hours
    new_conn = [0] * hours
    open_conn = [0]

    def request(env, t):
        h = int(t // 3600)
        requests[h] += 1
        processed[h] += 2048
        if rng.random() < 0.1:
            new_conn[h] += 1
            open_conn[0] += 1
            yield env.timeout(rng.exponential(30.0))
            open_conn[0] -= 1
        else:
            yield env.timeout(rng.lognormal(math.log(0.04), 0.5))

    # the rate of every second, looked up per event (plain Python floats: no numpy per event)
    rates = profile.rate_per_s(start + np.arange(math.ceil(horizon)) + 0.5).tolist()
    rand, expo = rng.random, rng.exponential

    def source(env):
        # non-homogeneous Poisson arrivals by thinning at the peak rate
        while True:
            yield env.timeout(expo(1.0 / peak))
            if env.now >= horizon:
                return
            if rand() * peak < rates[int(env.now)]:
                env.process(request(env, env.now))

    env = simpy.Environment()
    env.process(source(env))
    t0 = time.perf_counter()
    env.run(until=horizon)
    print(sum(requests), time.perf_counter() - t0)
    """
)


PEAK = textwrap.dedent(
    """
    import atexit, resource, runpy, sys
    atexit.register(lambda: sys.stderr.write(
        "\\nMAXRSS_KIB %d\\n" % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
    target = sys.argv[1]
    sys.argv = sys.argv[1:]
    if target.endswith(".py"):
        runpy.run_path(target, run_name="__main__")
    else:
        sys.argv[0] = target
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    """
)


def _child(args: list[str], wrapper: Path) -> tuple[float, float, str]:
    """Run ``python wrapper args``; return (wall seconds, its own peak RSS in MiB, stdout)."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(wrapper), *args], capture_output=True, text=True, cwd=ROOT
    )
    wall = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(f"{args} failed:\n{out.stderr}")
    kib = int(out.stderr.rsplit("MAXRSS_KIB", 1)[1].split()[0])
    return wall, kib / 1024, out.stdout


def _sim_run(
    days: float, fidelity: str, out: Path, wrapper: Path, workers: int = 1
) -> tuple[float, float, int]:
    cmd = [
        "sim",
        "run",
        str(SEED),
        "--fidelity",
        fidelity,
        "--set",
        f"scenario.duration_days={days}",
        "--out",
        str(out),
        "--no-plots",
        "-q",
        "--workers",
        str(workers),
    ]
    for override in ENGINE_ONLY:
        cmd += ["--set", override]
    wall, rss, _ = _child(cmd, wrapper)
    summary = json.loads((out / "summary.json").read_text())
    return wall, rss, int(summary["traffic"]["requests"])


def in_process(repeats: int = 3) -> None:
    """The simulation alone (``sim.simulate``: no interpreter start, imports or Parquet), best of
    ``repeats`` after a warm-up run, for the seed month in each fast fidelity."""
    from sim.config import load_scenario
    from sim.engine import simulate

    scenario = load_scenario(SEED, ENGINE_ONLY)
    print("| fidelity | seed month, simulate() only: best of 3 (s) | requests/s |")
    print("|---|---:|---:|")
    for fidelity in ("aggregate", "request"):
        simulate(scenario, fidelity=fidelity)
        best, n = float("inf"), 0
        for _ in range(repeats):
            t0 = time.perf_counter()
            meters = simulate(scenario, fidelity=fidelity)
            best = min(best, time.perf_counter() - t0)
            n = int(meters.column("requests").to_numpy().sum())
        print(f"| {fidelity} | {best:.3f} | {n / best:,.0f} |")


def _tree_run(cmd: list[str], *, sample: bool = True) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak of the summed resident memory of it and all its
    descendants, MiB, sampled every 50 ms). With ``sample`` false nothing runs beside it (the
    sampler takes CPU from the workers on a 2-core machine) and the peak is 0."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    top = psutil.Process(proc.pid)
    peak = 0
    while sample and proc.poll() is None:
        try:
            tree = [top, *top.children(recursive=True)]
            rss = 0
            for p in tree:
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{cmd} failed:\n{err.decode()}")
    return wall, peak / 2**20


def _run_cmd(days: float, workers: int, out: Path, overrides: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "sim", "run", str(SEED), "--fidelity", "request", "--set",
           f"scenario.duration_days={days}", "--out", str(out), "--no-plots", "-q",
           "--workers", str(workers)]  # fmt: skip
    for override in overrides:
        cmd += ["--set", override]
    return cmd


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def workers_case(counts: list[int], repeats: int, quick: bool, shipped: bool) -> None:
    """The seed month end to end with each worker count (alternately, best of ``repeats``), their
    ratios, and a year on the largest count with the process tree's peak memory."""
    overrides = [] if shipped else ENGINE_ONLY
    month, year = (1, 2) if quick else (30, 365)
    what = "shipped seed (CloudFront in front)" if shipped else "seed, cloudfront.origins=[]"
    print(f"{what}, request fidelity, sim run --no-plots, {_load()}")
    best: dict[int, float] = {w: float("inf") for w in counts}
    rss: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            for w in counts:
                out = Path(tmp) / f"m{w}-{r}"
                wall, _ = _tree_run(_run_cmd(month, w, out, overrides), sample=False)
                best[w] = min(best[w], wall)
                print(f"  {month} days, --workers {w}: {wall:.2f} s ({_load()})", flush=True)
        for w in counts:  # memory in runs of their own: the sampler is not in the timed runs
            _, rss[w] = _tree_run(_run_cmd(month, w, Path(tmp) / f"rss{w}", overrides))
        requests = json.loads((Path(tmp) / f"m{counts[0]}-0" / "summary.json").read_text())[
            "traffic"
        ]["requests"]
        print()
        print(
            f"| --workers | {month} days: best of {repeats} (s) | requests/s | peak RSS, tree (MiB) |"
        )
        print("|---:|---:|---:|---:|")
        for w in counts:
            print(f"| {w} | {best[w]:.2f} | {requests / best[w]:,.0f} | {rss[w]:,.0f} |")
        base = best[counts[0]]
        for w in counts[1:]:
            print(f"\nspeed-up of {w} workers over {counts[0]}: {base / best[w]:.2f}x")
        w = counts[-1]
        wall, peak = _tree_run(_run_cmd(year, w, Path(tmp) / "year", overrides))
        print(
            f"\n{year} days, --workers {w}: {wall:.1f} s, peak RSS of the process tree "
            f"{peak:,.0f} MiB ({_load()})"
        )


def cloudfront() -> None:
    """The seed month in ``request`` fidelity, simulate() only: without CloudFront, with it in front
    of every origin but the ALB, and as shipped (with ``cloudfront_alb``: the pooled connections)."""
    from sim.config import load_scenario
    from sim.engine import simulate

    cases = {
        "no CloudFront": ["cloudfront.origins=[]"],
        "CloudFront, no ALB origin": [
            "cloudfront.origins=['lambda_url','apigw_http','apigw_rest']"
        ],
        "as shipped (cloudfront_alb too)": [],
    }
    print(
        f"| seed month, request fidelity | simulate() only, 1 worker (s) | 2 workers (s) | {_load()} |"
    )
    print("|---|---:|---:|---|")
    for name, overrides in cases.items():
        scenario = load_scenario(SEED, overrides)
        times = []
        for workers in (1, 2):
            t0 = time.perf_counter()
            simulate(scenario, workers=workers)
            times.append(time.perf_counter() - t0)
        print(f"| {name} | {times[0]:.1f} | {times[1]:.1f} | {_load()} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a day instead of a month and a year")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="only time simulate() in this process (no subprocesses)",
    )
    parser.add_argument(
        "--cloudfront",
        action="store_true",
        help="time the seed month with and without CloudFront in front of an ALB",
    )
    parser.add_argument(
        "--workers",
        action="store_true",
        help="sim run end to end with 1 and 2 workers (--counts), and a year's peak memory",
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--shipped", action="store_true", help="with --workers: the shipped seed, CloudFront on"
    )
    args = parser.parse_args()
    if args.workers:
        workers_case(args.counts, args.repeats, args.quick, args.shipped)
        return
    if args.in_process:
        in_process()
        return
    if args.cloudfront:
        cloudfront()
        return
    month, year = (1, 1) if args.quick else (30, 365)
    hour = 1 / 24
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        script = base / "plain_simpy.py"
        script.write_text(PLAIN_SIMPY)
        wrapper = base / "peak.py"
        wrapper.write_text(PEAK)
        wall, rss, out = _child([str(script), str(SEED), f"scenario.duration_days={hour}"], wrapper)
        n_plain, sim_s = out.split()
        plain_rate = int(n_plain) / float(sim_s)
        rows.append(
            (
                "plain SimPy, 1 process per request",
                "1 hour",
                int(n_plain),
                float(sim_s),
                plain_rate,
                rss,
            )
        )
        wall, rss, n = _sim_run(hour, "reference", base / "ref", wrapper)
        rows.append(("reference", "1 hour", n, wall, n / wall, rss))
        for label, days, fidelity in (
            ("aggregate", month, "aggregate"),
            ("request", month, "request"),
            ("aggregate", year, "aggregate"),
            ("request", year, "request"),
        ):
            wall, rss, n = _sim_run(days, fidelity, base / f"{fidelity}-{days}", wrapper)
            rows.append((label, f"{days} days", n, wall, n / wall, rss))

    print("| case | horizon | requests | wall s | requests/s | peak RSS MiB |")
    print("|---|---|---:|---:|---:|---:|")
    for label, horizon, n, wall, rate, rss in rows:
        print(f"| {label} | {horizon} | {n:,} | {wall:.2f} | {rate:,.0f} | {rss:,.0f} |")
    request_rate = next(r[4] for r in rows if r[0] == "request")
    print(
        f"\nrequest fidelity vs plain SimPy: {request_rate / plain_rate:,.0f}× faster "
        "(requests/s, end to end vs simulation loop only)"
    )


if __name__ == "__main__":
    main()
