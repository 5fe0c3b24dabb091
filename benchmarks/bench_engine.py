"""Engine benchmarks: speed and peak memory of each fidelity mode, and a plain SimPy baseline.

Run by hand (not part of the tests), from the repository root:

    python benchmarks/bench_engine.py            # all cases, a markdown table on stdout
    python benchmarks/bench_engine.py --quick    # a day instead of a month/year (smoke test)
    python benchmarks/bench_engine.py --in-process   # simulate() alone, warm, best of 3

Each case runs in a fresh subprocess, so its peak resident memory (``ru_maxrss``) is its own and
imports are counted in its wall time. Cases:

* ``request``, ``aggregate``: the seed scenario (configs/seed.toml, 30 days, ~150 M requests),
  end to end through ``sim run`` (simulation, pricing, Parquet, summary; no plots);
* ``request (1 year)``, ``aggregate (1 year)``: the same with ``scenario.duration_days=365``;
* ``reference``: one SimPy process per request and connection, on one hour of the seed;
* ``plain SimPy``: the textbook model: one SimPy process per request (arrival by thinning of the
  seed's rate profile, hourly counters updated by each request's process), on one hour of the seed.
  The speed-up of ``request`` fidelity over it is measured in the same invocation of this script.
"""

from __future__ import annotations

import argparse
import json
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


def _sim_run(days: float, fidelity: str, out: Path, wrapper: Path) -> tuple[float, float, int]:
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
    print("| seed month, request fidelity | simulate() only (s) |")
    print("|---|---:|")
    for name, overrides in cases.items():
        scenario = load_scenario(SEED, overrides)
        t0 = time.perf_counter()
        simulate(scenario)
        print(f"| {name} | {time.perf_counter() - t0:.1f} |")


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
    args = parser.parse_args()
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
