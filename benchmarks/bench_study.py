"""Benchmark: the shipped study (the seed scenario's seven uncertain inputs) end to end, by phase.

The study is ``configs/studies/seed-sensitivity.toml`` with another design and size: by default a
Latin hypercube of ``--runs`` runs (1,000); ``--design sobol --second-order --runs 16384`` is
Sobol' N = 1,024 with second-order indices. It runs exactly as ``sim study`` runs it (design,
validation of every sampled scenario, the runs on a local process pool or ``--dask``, compaction,
analysis, plots, report) and prints the wall time of each phase (``run_study``'s
``phases_s``: set-up up to the first run, runs, rounds, compaction, analysis, plots, report).

Then, in this process, it splits a run's cost on a sample of the design's runs (``--sample``,
CPU time on one core): ``simulate()`` against everything else a run costs (its scenario, charges,
30-day projection and outcome row), so the totals can be predicted for another engine speed:
``set-up + runs × (simulate + other) / workers + compaction + analysis + plots + report``.

``main_process_cpu_s`` is this process's CPU time during the study: with ``--workers 1`` (the
runs in this process) it is the study's whole cost, whatever else the machine runs.

``--days 1`` simulates one day a run instead of the seed's month: ``simulate()`` then costs a
thirtieth, about what an hourly aggregate engine costs a month, so the other phases show as they
will then (the costs per 30 days are projected from the day).

Targets on the 2-core development machine (issue 12): 1,000 Latin hypercube runs in at most 20 s;
Sobol' N = 1,024 with second order in at most 5 min.

    python benchmarks/bench_study.py                                  # 1,000 runs, all CPUs
    python benchmarks/bench_study.py --design sobol --second-order --runs 16384
    python benchmarks/bench_study.py --runs 200 --workers 1 --json bench_study.json
    python benchmarks/bench_study.py --days 1     # one simulated day a run: a fast simulate()
    python benchmarks/bench_study.py --dask local
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
TARGETS_S = {("latin_hypercube", 1000): 20.0, ("sobol", 16384): 300.0}


def bench_study_data(
    runs: int, method: str, fidelity: str, second_order: bool = False, days: int | None = None
) -> dict[str, Any]:
    """The shipped study's content with another design size, method and fidelity (and ``days``
    of simulated period instead of the seed's 30)."""
    from sim.config import read_toml

    data = read_toml(SHIPPED)
    if days is not None:
        data["base"]["set"] = [*data["base"].get("set", []), f"scenario.duration_days={days}"]
    data["study"].update(name=f"bench-study-{runs}", runs=runs, fidelity=fidelity)
    data["study"].pop("chunk_size", None)
    data["design"]["method"] = method
    data["design"]["second_order"] = second_order
    return data


def split_run_cost(study: Any, sample: int) -> dict[str, float]:
    """CPU seconds per run on one core: ``simulate()``, and everything else of a study run."""
    import sim.engine
    from sim.study.outcomes import run_rows
    from sim.study.runner import design_values, make_design, run_spec

    spec = run_spec(study)
    values = design_values(make_design(study), study.labels)
    runs = list(range(min(sample, len(values))))
    real = sim.engine.simulate
    facts: dict[int, Any] = {}
    simulate_s = 0.0

    def timed(scenario: Any, *, seed: int, run_index: int, **kwargs: Any) -> Any:
        nonlocal simulate_s
        if run_index not in facts:
            started = time.process_time()
            facts[run_index] = real(scenario, seed=seed, run_index=run_index, **kwargs)
            simulate_s += time.process_time() - started
        return facts[run_index]

    sim.engine.simulate = timed
    try:
        run_rows(spec, runs[:1], [values[0]])  # imports and per-process caches
        facts.clear()
        simulate_s = 0.0
        run_rows(spec, runs, [values[i] for i in runs])  # simulate() timed; facts kept
        started = time.process_time()
        run_rows(spec, runs, [values[i] for i in runs])  # everything but simulate()
        other_s = time.process_time() - started
    finally:
        sim.engine.simulate = real
    return {
        "sample_runs": len(runs),
        "simulate_cpu_s_per_run": simulate_s / len(runs),
        "other_cpu_s_per_run": other_s / len(runs),
    }


def run(
    runs: int,
    workers: int | None,
    dask: str | None,
    method: str = "latin_hypercube",
    fidelity: str = "aggregate",
    second_order: bool = False,
    analyze: bool = True,
    out: Path | None = None,
    sample: int = 16,
    days: int | None = None,
) -> dict[str, Any]:
    """Run one benchmark study; return its timings."""
    from sim.study import run_study, study_from_dict
    from sim.study.executors import default_workers

    started = time.perf_counter()
    study = study_from_dict(bench_study_data(runs, method, fidelity, second_order), str(SHIPPED))
    read_s = time.perf_counter() - started
    tmp = Path(tempfile.mkdtemp(prefix="bench-study-"))
    target = out if out is not None else tmp / "study"
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    try:
        result = run_study(study, target, workers=workers, dask=dask, analyze=analyze)
        cpu = time.process_time() - cpu0
        manifest = json.loads((target / "study.json").read_text())
    finally:
        if out is None:
            shutil.rmtree(tmp, ignore_errors=True)
    wall = time.perf_counter() - t0
    used = workers or (1 if dask else default_workers())
    split = split_run_cost(study, sample) if sample else {}
    phases = {k: round(v, 3) for k, v in result.phases_s.items()}
    target_s = TARGETS_S.get((method, runs))
    out_doc: dict[str, Any] = {
        "runs": runs,
        "design": method + (" (second order)" if second_order else ""),
        "fidelity": fidelity,
        "days": days or 30,
        "executor": result.executor,
        "workers": used,
        "chunk_size": manifest["chunk_size"],
        "chunks": manifest["chunks"],
        "read_study_s": round(read_s, 3),
        "run_study_s": round(wall, 2),
        "main_process_cpu_s": round(cpu, 2),
        "total_s": round(wall + read_s, 2),
        **{f"phase_{k}": v for k, v in phases.items()},
        "runs_per_s_run_phase": round(runs / phases["runs_s"], 1) if phases.get("runs_s") else None,
        **{k: round(v, 5) if isinstance(v, float) else v for k, v in split.items()},
        "target_s": target_s,
        "meets_target": (wall + read_s <= target_s) if target_s else None,
    }
    if split:
        per_run = split["simulate_cpu_s_per_run"] + split["other_cpu_s_per_run"]
        fixed = read_s + sum(v for k, v in result.phases_s.items() if k != "runs_s")
        out_doc["everything_but_runs_s"] = round(fixed, 2)
        out_doc["predicted_runs_s"] = round(runs * per_run / used, 2)
        out_doc["run_phase_overhead_s"] = round(
            result.phases_s.get("runs_s", 0.0) - runs * per_run / used, 2
        )
    return out_doc


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    from sim.study.runner import study_versions

    return {
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
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
    parser.add_argument("--second-order", action="store_true", help="sobol: second-order indices")
    parser.add_argument("--fidelity", default="aggregate", choices=("aggregate", "request"))
    parser.add_argument("--no-analysis", action="store_true")
    parser.add_argument("--sample", type=int, default=16, help="runs for the cost split (0: none)")
    parser.add_argument(
        "--days", type=int, default=None, help="simulated days per run (default: the seed's 30)"
    )
    parser.add_argument("--out", type=Path, default=None, help="keep the study here")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    before = machine()
    figures = run(
        args.runs,
        args.workers,
        args.dask,
        method=args.design,
        fidelity=args.fidelity,
        second_order=args.second_order,
        analyze=not args.no_analysis,
        out=args.out,
        sample=args.sample,
        days=args.days,
    )
    report = {"benchmark": "bench_study", "machine": before, "result": figures}
    for key, value in figures.items():
        print(f"{key:>28}: {value}")
    print(f"{'load average (1, 5, 15 min)':>28}: {before['load_average']}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
