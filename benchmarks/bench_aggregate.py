"""``aggregate`` fidelity: CPU time of ``simulate()`` per month, hourly path against per second.

Run by hand (not part of the tests), from the repository root:

    python benchmarks/bench_aggregate.py            # every case, a markdown table on stdout
    python benchmarks/bench_aggregate.py --repeat 50

Each case is simulated warm in this process, ``--repeat`` times with seeds 0, 1, ...; the figure is
the best CPU time (``time.process_time()``) of one ``simulate()``, so other processes on the machine
matter less than for wall time (the load average is printed with the table). Each case runs twice:
as the engine decides (hourly where its bounds allow, the ``hourly`` column: the share of hours
that took the hourly path), and with every hour forced second by second (``HOURLY_EPSILON = 0``),
which is what ``aggregate`` fidelity did for every hour before the hourly path.

Cases:

* ``study seed month``: the shipped study's base (configs/studies/seed-sensitivity.toml: the seed
  scenario with ``lambda_url.enabled=false`` and ``cloudfront.origins=[]``) at its own inputs;
* ``study, largest volume``: the same at the study's largest volume and peak factor (50 M requests a
  day, peak 4 × the mean: its busiest hours come near the throttle's burst and run per second);
* ``study, throttle near the peak``: the study's base with a 100/s throttle (the seed peaks at
  120/s): its busy hours per second, the others hourly;
* ``seed as shipped``: configs/seed.toml at aggregate fidelity (CloudFront in front of an ALB: its
  pooled connections keep every hour per second);
* ``bursty (MMPP)``: a 60/s composable profile with a two-level MMPP burst process (hourly counts
  not Poisson: every hour per second).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STUDY = ["lambda_url.enabled=false", "cloudfront.origins=[]"]
CASES: dict[str, list[str]] = {
    "study seed month": STUDY,
    "study, largest volume": [
        *STUDY,
        "traffic.requests_per_day=50000000",
        "traffic.peak_requests_per_s=2315",
    ],
    "study, throttle near the peak": [*STUDY, "apigateway.throttle={rate_per_s=100, burst=200}"],
    "seed as shipped": [],
    "bursty (MMPP)": [
        *STUDY,
        "traffic={model='profile', requests_per_s=60, factors=[{model='daily_cycle', "
        "peak_to_mean=2}], burst={model='mmpp', levels=[1, 4], sojourn_s=[300, 30]}}",
    ],
}


def measure(name: str, overrides: list[str], repeat: int) -> dict[str, float]:
    import numpy as np

    import sim.engine.aggregate as aggregate
    from sim.config import load_scenario
    from sim.engine import simulate

    scenario = load_scenario(ROOT / "configs" / "seed.toml", overrides)
    out: dict[str, float] = {}
    for mode, epsilon in (("engine", aggregate.HOURLY_EPSILON), ("per second", 0.0)):
        saved = aggregate.HOURLY_EPSILON
        aggregate.HOURLY_EPSILON = epsilon
        try:
            table = simulate(scenario, fidelity="aggregate")  # warm: imports, caches
            best = float("inf")
            for seed in range(repeat if mode == "engine" else max(3, repeat // 10)):
                t0 = time.process_time()
                table = simulate(scenario, seed=seed, fidelity="aggregate")
                best = min(best, time.process_time() - t0)
        finally:
            aggregate.HOURLY_EPSILON = saved
        out[mode] = best
        if mode == "engine":
            per_second = np.asarray(table.column("per_second").to_numpy(zero_copy_only=False))
            out["hourly"] = float(1.0 - per_second.mean())
            out["requests"] = float(table.column("requests").to_numpy().sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="runs per case (best is kept)")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"simulate() CPU time, best of {args.repeat} (per second: best of "
        f"{max(3, args.repeat // 10)}); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
    )
    print("| case | requests | hourly | simulate() ms | all per second ms | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, overrides in CASES.items():
        r = measure(name, overrides, args.repeat)
        print(
            f"| {name} | {r['requests']:,.0f} | {r['hourly']:.0%} | {r['engine'] * 1e3:.1f} | "
            f"{r['per second'] * 1e3:.1f} | {r['per second'] / r['engine']:.1f} × |"
        )


if __name__ == "__main__":
    main()
