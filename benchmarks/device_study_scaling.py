"""Throughput against worker count, 1-16 workers: studies (local process pool and Dask
LocalCluster) and one ``request``-fidelity run (``sim run --workers``).

One prepared script for a many-core machine (made for a 16-core one; counts above the machine's
CPUs are skipped). Studies: the shipped seed-sensitivity study's inputs (one-month runs of the seed
scenario at aggregate fidelity, Monte Carlo design, no analysis) with ``--per-worker`` runs per
worker (default 48, so each worker runs about 12 chunks of 4), for each executor and worker count.
Runs (``--what run`` or ``both``, the default): the seed month at ``request`` fidelity end to end,
``sim run --no-plots --workers N`` (the engine benchmark's case: ``cloudfront.origins=[]``; with
``--shipped``, the shipped seed, CloudFront in front), with the process tree's peak memory. Each
reports wall time, throughput, speed-up and parallel efficiency against one worker. It stops
starting new configurations once ``--budget-s`` (default 420 s) is spent, so it finishes within 8
minutes. Prints tables; writes JSON to ``$OUT/device_study_scaling.json`` when ``OUT`` is set (and
to ``--json`` if given). On a fresh checkout:

    python3 -m venv .venv && .venv/bin/pip install -e . psutil && \\
        .venv/bin/python benchmarks/device_study_scaling.py
    .venv/bin/python benchmarks/device_study_scaling.py --what run --workers 1 2   # here
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_study import SHIPPED, bench_study_data, machine

WORKERS = (1, 2, 4, 8, 16)
EXECUTORS = ("local", "dask")
WHAT = ("study", "run", "both")


def measure_run(workers: int, days: float, shipped: bool) -> dict[str, Any]:
    """One ``sim run`` of the seed at ``request`` fidelity on ``workers`` processes, end to end."""
    from bench_engine import ENGINE_ONLY, _run_cmd, _tree_run

    tmp = Path(tempfile.mkdtemp(prefix="device-run-"))
    try:
        out = tmp / "run"
        wall, peak = _tree_run(_run_cmd(days, workers, out, [] if shipped else ENGINE_ONLY))
        requests = json.loads((out / "summary.json").read_text())["traffic"]["requests"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "executor": "sim run",
        "workers": workers,
        "days": days,
        "shipped_seed": shipped,
        "requests": requests,
        "wall_s": round(wall, 2),
        "requests_per_s": round(requests / wall),
        "peak_rss_tree_mib": round(peak),
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def run_table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'sim run':<8} {'workers':>7} {'wall s':>8} {'M req/s':>8} {'speed-up':>8} "
        f"{'efficiency':>10} {'tree MiB':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("skipped"):
            lines.append(f"{'sim run':<8} {r['workers']:>7} {'skipped: ' + r['skipped']:>40}")
            continue
        lines.append(
            f"{'sim run':<8} {r['workers']:>7} {r['wall_s']:>8.2f} "
            f"{r['requests_per_s'] / 1e6:>8.2f} {r.get('speedup', float('nan')):>8.2f} "
            f"{r.get('efficiency', float('nan')):>10.2f} {r['peak_rss_tree_mib']:>9,}"
        )
    return "\n".join(lines)


def scale_runs(
    workers: list[int], cpus: int | None, days: float, shipped: bool, t_start: float, budget: float
) -> list[dict[str, Any]]:
    """``sim run --workers N`` for each count, against one worker."""
    rows: list[dict[str, Any]] = []
    base: float | None = None
    for w in workers:
        if cpus is not None and w > cpus:
            rows.append({"workers": w, "skipped": f"only {cpus} CPUs"})
            continue
        spent = time.perf_counter() - t_start
        expected = 5.0 + (base or 20.0) / w
        if spent + expected > budget:
            rows.append({"workers": w, "skipped": "time budget"})
            continue
        row = measure_run(w, days, shipped)
        if base is None:
            base = row["wall_s"] * w
        row["speedup"] = round(base / row["wall_s"], 2)
        row["efficiency"] = round(base / (row["wall_s"] * w), 2)
        rows.append(row)
        print(f"sim run --workers {w}: {row['wall_s']} s, {row['requests_per_s']:,} requests/s",
              flush=True)  # fmt: skip
    return rows


def single_run_s(repeats: int = 5) -> float:
    """Seconds for one run in this process (the serial baseline, after a warm-up run)."""
    from sim.study import make_design, study_from_dict
    from sim.study.outcomes import run_one
    from sim.study.runner import design_values, run_spec

    study = study_from_dict(bench_study_data(16, "monte_carlo", "aggregate"), str(SHIPPED))
    spec = run_spec(study)
    values = design_values(make_design(study), study.labels)
    run_one(spec, 0, values[0])
    t0 = time.perf_counter()
    for i in range(1, repeats + 1):
        run_one(spec, i, values[i])
    return (time.perf_counter() - t0) / repeats


def measure(executor: str, workers: int, runs: int, chunk_size: int) -> dict[str, Any]:
    """One study of ``runs`` runs on ``executor`` with ``workers`` workers."""
    from sim.study import run_study, study_from_dict

    data = bench_study_data(runs, "monte_carlo", "aggregate")
    data["study"]["chunk_size"] = chunk_size
    study = study_from_dict(data, str(SHIPPED))
    marks: dict[str, float] = {}

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        marks.setdefault("first", now)
        marks["last"] = now

    tmp = Path(tempfile.mkdtemp(prefix="device-study-"))
    t0 = time.perf_counter()
    try:
        result = run_study(
            study,
            tmp / "study",
            workers=workers,
            dask="local" if executor == "dask" else None,
            progress=progress,
            analyze=False,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.perf_counter() - t0
    run_phase = marks.get("last", t0) - marks.get("first", t0)
    return {
        "executor": executor,
        "workers": workers,
        "runs": runs,
        "chunk_size": chunk_size,
        "description": result.executor,
        "wall_s": round(wall, 2),
        "run_phase_s": round(run_phase, 2),
        "runs_per_s": round(runs / wall, 2),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'executor':<8} {'workers':>7} {'runs':>6} {'wall s':>8} {'runs/s':>8} "
        f"{'speed-up':>8} {'efficiency':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("skipped"):
            lines.append(f"{r['executor']:<8} {r['workers']:>7} {'skipped: ' + r['skipped']:>40}")
            continue
        lines.append(
            f"{r['executor']:<8} {r['workers']:>7} {r['runs']:>6} {r['wall_s']:>8.1f} "
            f"{r['runs_per_s']:>8.2f} {r.get('speedup', float('nan')):>8.2f} "
            f"{r.get('efficiency', float('nan')):>10.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=list(WORKERS))
    parser.add_argument("--executors", nargs="+", default=list(EXECUTORS), choices=EXECUTORS)
    parser.add_argument("--per-worker", type=int, default=48, help="runs per worker")
    parser.add_argument("--chunk-size", type=int, default=4)
    parser.add_argument("--budget-s", type=float, default=420.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--what", choices=WHAT, default="both")
    parser.add_argument("--days", type=float, default=30.0, help="sim run: the seed's days")
    parser.add_argument("--shipped", action="store_true", help="sim run: CloudFront in front too")
    args = parser.parse_args(argv)

    t_start = time.perf_counter()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    run_rows: list[dict[str, Any]] = []
    if args.what in ("run", "both"):
        run_rows = scale_runs(
            args.workers, cpus, args.days, args.shipped, t_start, args.budget_s / 2
            if args.what == "both" else args.budget_s,
        )  # fmt: skip
        print()
        print(run_table(run_rows))
    serial = single_run_s() if args.what != "run" else float("nan")
    if args.what != "run":
        print(f"one run in-process: {serial:.3f} s; usable CPUs: {cpus}", flush=True)
    rows: list[dict[str, Any]] = []
    for executor in args.executors if args.what != "run" else ():
        base: float | None = None
        for w in args.workers:
            runs = max(2 * args.chunk_size, args.per_worker * w)
            if cpus is not None and w > cpus:
                rows.append({"executor": executor, "workers": w, "skipped": f"only {cpus} CPUs"})
                continue
            spent = time.perf_counter() - t_start
            # a configuration takes about runs × serial / workers, plus start-up
            expected = runs * serial / w + 10
            if spent + expected > args.budget_s:
                rows.append({"executor": executor, "workers": w, "skipped": "time budget"})
                continue
            row = measure(executor, w, runs, args.chunk_size)
            if w == 1 or base is None:
                base = row["runs_per_s"] / w
            row["speedup"] = round(row["runs_per_s"] / base, 2)
            row["efficiency"] = round(row["runs_per_s"] / (base * w), 2)
            rows.append(row)
            print(
                f"{executor} × {w}: {row['runs']} runs in {row['wall_s']} s "
                f"({row['runs_per_s']} runs/s)",
                flush=True,
            )
    if rows:
        print()
        print(table(rows))
    report = {
        "benchmark": "device_study_scaling",
        "machine": machine(),
        "single_run_s": round(serial, 4),
        "per_worker_runs": args.per_worker,
        "total_s": round(time.perf_counter() - t_start, 1),
        "results": rows,
        "sim_run": run_rows,
    }
    text = json.dumps(report, indent=2) + "\n"
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "device_study_scaling.json").write_text(text, encoding="utf-8")
    if args.json is not None:
        args.json.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
