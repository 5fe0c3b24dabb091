"""Benchmark: the seed's 33-point break-even sweep, end to end and by phase.

    sim sweep configs/seed.toml --vary traffic.requests_per_day=1e5:1e7:33:log \\
        --set lambda_url.enabled=false --set 'cloudfront.origins=[]' --fidelity aggregate

First the command itself, in a fresh interpreter (``-q``, into a temporary directory): its wall
time, start-up and imports included (what a user waits), and the time its ``simulate()`` calls took,
measured inside it; "everything else" is the rest, and predicts the total for another engine speed.
Then the same sweep in this process, warm (imports done), as ``sim sweep`` runs it, phase by phase
(wall): the plan (the grid's ends for the estimate, then every point validated), the points split
into ``simulate()`` and the rest of each point (its charges, period totals and projection), and
writing (table, ``breakeven.json``, the figure as PNG and SVG, the report). Target on the 2-core
development machine (issue 12): at most 3 s.

    python benchmarks/bench_sweep.py
    python benchmarks/bench_sweep.py --steps 9 --fidelity request --json bench_sweep.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "configs" / "seed.toml"
OVERRIDES = ("lambda_url.enabled=false", "cloudfront.origins=[]")
TARGET_S = 3.0


#: Run in a fresh interpreter: ``sim sweep`` with ``simulate()`` timed, and the wall time inside.
CHILD = """
import json, sys, time
started = time.perf_counter()
import sim.engine
real = sim.engine.simulate
spent = [0.0, 0]
def timed(*args, **kwargs):
    begun = time.perf_counter()
    try:
        return real(*args, **kwargs)
    finally:
        spent[0] += time.perf_counter() - begun
        spent[1] += 1
sim.engine.simulate = timed
from sim.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps({"inside_s": time.perf_counter() - started, "simulate_s": spent[0],
                  "simulated": spent[1]}))
"""


def command(vary: str, fidelity: str, out: Path) -> dict[str, float]:
    """``sim sweep`` in a fresh interpreter: its wall time (start-up and imports included), and
    the time its ``simulate()`` calls took, measured inside it."""
    args = [sys.executable, "-c", CHILD, "sweep", str(SEED), "--vary", vary, "-q"]
    args += [a for s in OVERRIDES for a in ("--set", s)]
    args += ["--fidelity", fidelity, "--out", str(out)]
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=3600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"sim sweep failed: {done.stderr}")
    inside = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, **inside}


def phases(vary: str, fidelity: str, out: Path) -> dict[str, float]:
    """The sweep in this process, as ``sweep_command`` runs it, by phase (wall seconds)."""
    import sim.engine
    from sim.resources import estimate_sweep
    from sim.sweep import SweepRange, parse_vary, plan_sweep, run_sweep, write_sweep

    timings: dict[str, float] = {}
    started = time.perf_counter()
    spec = parse_vary(vary)
    ends = SweepRange(spec.path, spec.start, spec.stop, 2, spec.log)
    edge = plan_sweep(SEED, ends, OVERRIDES, fidelity=fidelity)
    estimate_sweep(edge.scenarios, spec.steps, source=str(SEED))
    plan = plan_sweep(SEED, spec, OVERRIDES, fidelity=fidelity)
    timings["plan_s"] = time.perf_counter() - started

    real = sim.engine.simulate
    simulate_s = 0.0

    def timed(*args: Any, **kwargs: Any) -> Any:
        nonlocal simulate_s
        begun = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            simulate_s += time.perf_counter() - begun

    sim.engine.simulate = timed
    try:
        started = time.perf_counter()
        result = run_sweep(plan)
        points_s = time.perf_counter() - started
    finally:
        sim.engine.simulate = real
    timings["points_simulate_s"] = simulate_s
    timings["points_other_s"] = points_s - simulate_s
    started = time.perf_counter()
    write_sweep(result, out)
    timings["write_s"] = time.perf_counter() - started
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=33)
    parser.add_argument("--fidelity", default="aggregate", choices=("aggregate", "request"))
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    vary = f"traffic.requests_per_day=1e5:1e7:{args.steps}:log"
    load = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        run = command(vary, args.fidelity, tmp / "command")
        phases(vary, args.fidelity, tmp / "warm-up")  # imports and caches, not timed
        timings = phases(vary, args.fidelity, tmp / "in-process")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    other = run["wall_s"] - run["simulate_s"]
    figures: dict[str, Any] = {
        "points": args.steps,
        "fidelity": args.fidelity,
        "command_wall_s": round(run["wall_s"], 2),
        "command_simulate_s": round(run["simulate_s"], 2),
        "command_everything_else_s": round(other, 2),
        "command_start_up_s": round(run["wall_s"] - run["inside_s"], 2),
        "warm_" + "plan_s": round(timings["plan_s"], 3),
        **{f"warm_{k}": round(v, 3) for k, v in timings.items() if k != "plan_s"},
        "warm_other_per_point_ms": round(1000 * timings["points_other_s"] / args.steps, 1),
        "target_s": TARGET_S if args.steps == 33 and args.fidelity == "aggregate" else None,
        "load_average": load,
    }
    for key, value in figures.items():
        print(f"{key:>26}: {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
