"""Benchmark: N one-month runs of the seed scenario at aggregate fidelity, as one study.

The study is the shipped ``configs/studies/seed-sensitivity.toml`` (the seed scenario with its seven
uncertain inputs) with a Latin hypercube design of ``--runs`` runs (default 1,000), run end to end
exactly as ``sim study`` runs it: design, validation of every sampled scenario, the runs on a local
process pool (or ``--dask``), compaction, analysis and plots. Prints a table and, with ``--json``,
writes the figures as JSON. Target on the 2-core development machine: 1,000 runs in at most 5 min.

    python benchmarks/bench_study.py                      # 1,000 runs, all CPUs
    python benchmarks/bench_study.py --runs 200 --workers 1
    python benchmarks/bench_study.py --dask local --json bench_study.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "configs" / "studies" / "seed-sensitivity.toml"
TARGET_S = 300.0


def bench_study_data(runs: int, method: str, fidelity: str) -> dict[str, Any]:
    """The shipped study's content with another design size, method and fidelity."""
    from sim.config import read_toml

    data = read_toml(SHIPPED)
    data["study"].update(name=f"bench-study-{runs}", runs=runs, fidelity=fidelity)
    data["study"].pop("chunk_size", None)
    data["design"]["method"] = method
    return data


def run(
    runs: int,
    workers: int | None,
    dask: str | None,
    method: str = "latin_hypercube",
    fidelity: str = "aggregate",
    analyze: bool = True,
    out: Path | None = None,
) -> dict[str, Any]:
    """Run one benchmark study; return its timings."""
    from sim.study import run_study, study_from_dict
    from sim.study.executors import default_workers

    study = study_from_dict(bench_study_data(runs, method, fidelity), str(SHIPPED))
    tmp = Path(tempfile.mkdtemp(prefix="bench-study-"))
    target = out if out is not None else tmp / "study"
    marks: dict[str, float] = {}

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        marks.setdefault("first", now)
        marks["last"] = now

    t0 = time.perf_counter()
    try:
        result = run_study(
            study, target, workers=workers, dask=dask, progress=progress, analyze=analyze
        )
    finally:
        if out is None:
            shutil.rmtree(tmp, ignore_errors=True)
    wall = time.perf_counter() - t0
    run_phase = marks.get("last", t0) - marks.get("first", t0)
    return {
        "runs": runs,
        "design": method,
        "fidelity": fidelity,
        "executor": result.executor,
        "workers": workers or (None if dask else default_workers()),
        "chunk_size": study.chunk_size,
        "wall_s": round(wall, 2),
        "run_phase_s": round(run_phase, 2),
        "runs_per_s": round(runs / wall, 2),
        "runs_per_s_run_phase": round(runs / run_phase, 2) if run_phase > 0 else None,
        "analysis": analyze,
        "target_s": TARGET_S if runs == 1000 else None,
        "meets_target": (wall <= TARGET_S) if runs == 1000 else None,
    }


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    from sim.study.runner import study_versions

    return {
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "versions": study_versions(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=None, help="default: all CPUs")
    parser.add_argument("--dask", default=None, help="scheduler address, or 'local'")
    parser.add_argument("--design", default="latin_hypercube")
    parser.add_argument("--fidelity", default="aggregate", choices=("aggregate", "request"))
    parser.add_argument("--no-analysis", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="keep the study here")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    figures = run(
        args.runs,
        args.workers,
        args.dask,
        method=args.design,
        fidelity=args.fidelity,
        analyze=not args.no_analysis,
        out=args.out,
    )
    report = {"benchmark": "bench_study", "machine": machine(), "result": figures}
    for key, value in figures.items():
        print(f"{key:>22}: {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
