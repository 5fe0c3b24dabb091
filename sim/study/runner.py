"""Running a study on disk: manifest, design, chunks, resume, compaction (DESIGN.md's layout).

``<out>/`` holds:

* ``study.json``: the manifest: what the study is (every setting, the base scenario, the hashes of
  its validated content), its fixed chunking, status and versions;
* ``design.parquet``: every run's inputs (values and unit scores), written before any run;
* ``runs/chunk-NNNNN.parquet``: the outcome rows of one finished chunk, written atomically;
  ``--resume`` skips chunks whose file exists and validates;
* ``results.parquet``: all runs' outcomes, one row per run, sorted by run;
* ``analysis/``: see :mod:`sim.study.analysis`;
* ``report.html``: the study on one self-contained page (:mod:`sim.report`), once analysed.

Nothing is written before the study, every sampled scenario and the executor are known to be good;
an existing study directory is only ever resumed (same study, by hash), never overwritten.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.errors import SimError
from sim.output import (
    FileWriter,
    adopt_directory,
    check_location,
    holds_nothing,
    json_writer,
    parquet_writer,
    read_provenance,
    text_writer,
    versions,
    write_parquet,
    write_result,
)
from sim.study import executors
from sim.study.design import DESIGN_STREAM, DESIGNS, derived_seed, rank_correlate
from sim.study.executors import ExecutorOptions, default_workers, open_executor
from sim.study.outcomes import (
    ChunkTask,
    RunSpec,
    outcome_schema,
    run_chunk,
    run_scenarios,
    scenario_for_run,
)
from sim.study.spec import Study

FORMAT = "sim.study/1"
MANIFEST = "study.json"
DESIGN_FILE = "design.parquet"
RESULTS_FILE = "results.parquet"
RUNS_DIR = "runs"
#: The producer name of a study's own files in its directory's ``manifest.json``.
PRODUCER = "study"

#: ``progress(done_runs, total_runs)``, called as chunks finish.
StudyProgress = Callable[[int, int], None]


class StudyDirectoryError(SimError):
    """The output directory cannot take this study (exists, or holds another study)."""


@dataclass(frozen=True)
class StudyResult:
    """A finished study: where it is, its outcomes and analysis, and what this call ran."""

    out_dir: Path
    study: Study
    design: pa.Table
    results: pa.Table
    analysis: dict[str, Any] | None
    chunks_run: int
    chunks_skipped: int
    executor: str
    elapsed_s: float
    #: Seconds of each phase this call ran: set_up_s (up to the first run), runs_s, rounds_s
    #: (judging the rounds' intervals), compaction_s, analysis_s, plots_s, report_s.
    phases_s: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- design
def make_design(study: Study) -> pa.Table:
    """Every run's inputs: ``run``, one value column per input, and ``u:<input>`` unit scores."""
    settings = study.spec.design.settings
    design = DESIGNS[settings.method]
    k = len(study.inputs)
    seed = derived_seed(study.seed, DESIGN_STREAM)
    rounds = study.rounds
    if len(rounds) > 1:  # each round's prefix a design of its own (see Design.unit_in_rounds)
        unit = design.unit_in_rounds(rounds, k, settings, seed)
    else:
        unit = design.unit(study.runs, k, settings, seed)
    if study.spec.correlations:
        # each round's new runs correlated on their own: their columns keep their values (a Latin
        # hypercube its strata), and every round's prefix has the target correlations
        wanted = study.spec.correlation_matrix()
        unit = np.vstack(
            [
                rank_correlate(unit[lo:hi], wanted)
                for lo, hi in zip((0, *rounds[:-1]), rounds, strict=True)
            ]
        )
    q = design.quantiles(unit, settings)
    columns: dict[str, Any] = {"run": np.arange(study.runs, dtype=np.int64)}
    for j, (spec, target) in enumerate(zip(study.inputs, study.targets, strict=True)):
        values = spec.ppf(q[:, j])
        if target.integer and target.relative_to is None and values.dtype.kind == "f":
            values = np.rint(values).astype(np.int64)
        columns[spec.label] = values
    for j, label in enumerate(study.labels):
        columns[f"u:{label}"] = unit[:, j]
    return pa.table(columns)


class DesignValues:
    """Every run's input values, read from the design's columns one run or one chunk at a time
    (never a dict per run for the whole study at once). Values are plain Python numbers and
    strings: numpy scalars are converted here, at the design's boundary."""

    def __init__(self, design: pa.Table, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self.columns = {
            label: design.column(label).to_numpy(zero_copy_only=False) for label in labels
        }
        self.n = design.num_rows

    def __len__(self) -> int:
        return int(self.n)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {label: _plain(self.columns[label][i]) for label in self.labels}

    def chunk(self, first: int, n: int) -> tuple[dict[str, Any], ...]:
        return tuple(self[i] for i in range(first, min(first + n, self.n)))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def design_block(study: Study) -> int:
    """Runs per base point of the design (``D + 2`` or ``2D + 2`` for Sobol', 1 otherwise)."""
    settings = study.spec.design.settings
    if settings.method != "sobol":
        return 1
    from sim.study.design import Saltelli

    return int(Saltelli.block(len(study.inputs), settings))


def design_values(design: pa.Table, labels: tuple[str, ...]) -> DesignValues:
    """Every run's ``{input: value}``, one run at a time (see :class:`DesignValues`)."""
    return DesignValues(design, labels)


def run_spec(study: Study) -> RunSpec:
    """What each worker needs to make any run of ``study``."""
    s = study.spec.study
    return RunSpec(
        source=study.source,
        base_data=study.base_data,
        targets=study.targets,
        fidelity=study.fidelity,
        root_seed=study.seed,
        options=study.options,
        reference=study.reference,
        cost_basis=s.cost_basis,
        outcomes=tuple(s.outcomes),
        study_hash=study.hashes()["study"],
    )


def check_scenarios(
    spec: RunSpec, values: DesignValues, progress: Callable[[int, int], None] | None = None
) -> None:
    """Validate every run's scenario before anything runs (raises ``RunError`` naming the inputs).

    Each run's sections are validated as :class:`~sim.study.outcomes.RunScenarios` makes them
    (the sections its inputs set; a section seen before is not validated again).
    ``progress(done, total)`` is called every 10,000 runs for long designs.
    """
    scenarios = run_scenarios(spec)
    n = len(values)
    for i in range(n):
        scenarios(i, values[i])
        if progress is not None and (i + 1) % 10_000 == 0:
            progress(i + 1, n)


# --------------------------------------------------------------------------- manifest
def manifest(study: Study, chunk_size: int) -> dict[str, Any]:
    """The ``study.json`` document (status ``running``)."""
    spec = study.spec.model_dump(mode="json")
    n_chunks = -(-study.runs // chunk_size)
    return {
        "format": FORMAT,
        "study": study.name,
        "source": study.source,
        "hashes": study.hashes(),
        "status": "running",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "completed": None,
        "runs": study.runs,
        "chunk_size": chunk_size,
        "chunks": n_chunks,
        "seed": study.seed,
        "fidelity": study.fidelity,
        "options": list(study.options),
        "reference": study.reference,
        "cost_basis": spec["study"]["cost_basis"],
        "outcomes": spec["study"]["outcomes"],
        "columns": outcome_schema(study.options, study.reference, spec["study"]["outcomes"]).names,
        "design": spec["design"],
        "inputs": spec["inputs"],
        "correlations": spec["correlations"],
        **(
            {
                "stop_at_ci_width": spec["study"]["stop_at_ci_width"],
                "rounds_runs": list(study.rounds),
                "rounds": [],
            }
            if study.stop is not None
            else {}
        ),
        "base_scenario": study.base_data,
        "seeding": "run i: numpy SeedSequence(seed, spawn_key=(i,)); design and analysis: "
        "SeedSequence(seed, spawn_key=(0x53545544, 1 or 2))",
        "versions": study_versions(),
    }


def study_versions() -> dict[str, str]:
    """Versions that shape a study's numbers."""
    out = versions()
    for name in ("SALib", "dask", "distributed"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[name] = "unknown"
    return out


_PARTS = {
    "base_scenario": "the base scenario",
    "inputs": "the uncertain inputs or their correlations",
    "design": "the design, number of runs or root seed",
    "runs": "the name, fidelity, options, reference, cost basis or outcomes",
}


def _read_manifest(out: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StudyDirectoryError(
            f"{out}: cannot read {MANIFEST} ({exc}); resume refused"
        ) from None
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or not isinstance(data.get("hashes"), dict)
    ):
        raise StudyDirectoryError(f"{out}/{MANIFEST} is not a sim study manifest; resume refused")
    size = data.get("chunk_size")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100_000:
        raise StudyDirectoryError(
            f"{out}/{MANIFEST}: chunk_size is {size!r}, not a whole number from 1 to 100,000 "
            "(the file was changed); resume refused, nothing was changed"
        )
    return data


def _check_same_study(out: Path, existing: dict[str, Any], hashes: dict[str, str]) -> None:
    old = existing["hashes"]
    if old.get("study") == hashes["study"]:
        return
    differ = [text for part, text in _PARTS.items() if old.get(part) != hashes[part]]
    why = "; ".join(differ) if differ else "its content"
    raise StudyDirectoryError(
        f"{out} holds a different study ({existing.get('study')!r} from {existing.get('source')}): "
        f"this study file differs in {why}. Resume refused, nothing was changed: resume with the "
        "original study file, or write to another --out."
    )


# --------------------------------------------------------------------------- chunks
#: Chunks per worker a study aims at: enough that the workers finish together (the last chunk
#: leaves at most about 1/8 of a worker's share unbalanced), few enough that the per-chunk costs
#: (a task shipped, a file written) stay small.
CHUNKS_PER_WORKER = 8
#: The longest a chunk should take, seconds: a killed study loses at most about this much work
#: per worker, and the progress bar moves at least this often.
CHUNK_TARGET_S = 30.0


def default_chunk_size(runs: int, workers: int, seconds_per_run: float) -> int:
    """Runs per chunk when the study file sets none: about :data:`CHUNKS_PER_WORKER` chunks per
    worker, and no chunk longer than :data:`CHUNK_TARGET_S` at ``seconds_per_run`` (the resource
    estimate's mean run)."""
    balanced = -(-runs // (CHUNKS_PER_WORKER * max(1, workers)))
    bounded = max(1, int(CHUNK_TARGET_S / max(seconds_per_run, 1e-6)))
    return max(1, min(balanced, bounded, 100_000))


def chunk_path(out: Path, chunk: int) -> Path:
    """Where chunk ``chunk``'s rows are written."""
    return out / RUNS_DIR / f"chunk-{chunk:05d}.parquet"


@dataclass(frozen=True)
class ChunkRef:
    """Chunk ``chunk``: runs ``first .. first + n − 1`` (its task is made when it is submitted)."""

    chunk: int
    first: int
    n: int


def chunk_refs(runs: int, chunk_size: int) -> list[ChunkRef]:
    """The fixed chunking: chunk ``c`` holds runs ``[c × size, (c + 1) × size)``."""
    return [
        ChunkRef(c, first, min(chunk_size, runs - first))
        for c, first in enumerate(range(0, runs, chunk_size))
    ]


def chunk_tasks(spec: RunSpec, values: DesignValues, chunk_size: int) -> list[ChunkTask]:
    """Every chunk's task (for small studies and tests; :func:`run_study` makes them lazily)."""
    return [_task(spec, values, ref) for ref in chunk_refs(len(values), chunk_size)]


def _task(spec: RunSpec, values: DesignValues, ref: ChunkRef) -> ChunkTask:
    return ChunkTask(spec, ref.chunk, ref.first, values.chunk(ref.first, ref.n))


def _chunk_valid(path: Path, ref: ChunkRef, study_hash: str, schema: pa.Schema) -> bool:
    if not path.is_file():
        return False
    try:
        if read_provenance(path).get("study_hash") != study_hash:
            return False
        table = pq.read_table(path)
    except Exception:  # any unreadable file is simply run again
        return False
    if not table.schema.equals(schema, check_metadata=False):
        return False
    runs = table.column("run").to_numpy()
    return bool(np.array_equal(runs, np.arange(ref.first, ref.first + ref.n)))


def _chunk_provenance(study: Study, task: ChunkTask) -> dict[str, Any]:
    return {
        "study": study.name,
        "study_hash": task.spec.study_hash,
        "chunk": task.chunk,
        "first_run": task.first,
        "runs": len(task.values),
    }


def _clean_temporaries(runs_dir: Path) -> None:
    """Remove what a killed write left behind (atomic writes use ``.<name>.*.tmp``)."""
    for tmp in runs_dir.glob(".chunk-*.tmp"):
        tmp.unlink(missing_ok=True)


def _read_runs(out: Path, tasks: Sequence[ChunkRef], schema: pa.Schema, runs: int) -> pa.Table:
    """The chunk files' rows, sorted by run; refused unless they hold runs ``0 .. runs − 1``
    exactly once."""
    tables = [pq.read_table(chunk_path(out, t.chunk)) for t in tasks]
    table = (
        pa.concat_tables(tables).replace_schema_metadata(None) if tables else schema.empty_table()
    )
    table = table.cast(schema)
    order = np.argsort(table.column("run").to_numpy(), kind="stable")
    table = table.take(pa.array(order))
    if not np.array_equal(table.column("run").to_numpy(), np.arange(runs)):
        raise StudyDirectoryError(f"{out}: the chunk files do not hold every run exactly once")
    return table


def compact(
    out: Path,
    study: Study,
    tasks: Sequence[ChunkRef],
    schema: pa.Schema,
    runs: int | None = None,
) -> pa.Table:
    """Concatenate the chunk files into ``results.parquet`` (sorted by run, each of the first
    ``runs`` [default: all the study's] once)."""
    table = _read_runs(out, tasks, schema, study.runs if runs is None else runs)
    write_result(
        out,
        PRODUCER,
        {RESULTS_FILE: parquet_writer(table, results_provenance(study))},
        remove_stale=False,
    )
    return table


def results_provenance(study: Study) -> dict[str, Any]:
    """Provenance stamped into ``design.parquet`` and ``results.parquet`` (no times, no executor,
    so the same study gives the same files)."""
    return {
        "study": study.name,
        "study_hash": study.hashes()["study"],
        "seed": study.seed,
        "runs": study.runs,
        "fidelity": study.fidelity,
        "design": study.spec.design.method,
        "base_config_hash": study.base.config_hash(),
    }


# --------------------------------------------------------------------------- the study
def run_study(
    study: Study,
    out_dir: str | Path | None = None,
    *,
    workers: int | None = None,
    dask: str | None = None,
    resume: bool = False,
    progress: StudyProgress | None = None,
    analyze: bool = True,
    plots: bool = True,
    dask_timeout_s: float | None = None,
    on_start: Callable[[str, int, int], None] | None = None,
    on_check: Callable[[int, int], None] | None = None,
    resource_check: bool = True,
) -> StudyResult:
    """Run (or resume) ``study`` into ``out_dir`` and analyse it.

    Parameters
    ----------
    study
        A validated study (:func:`sim.study.load_study`).
    out_dir
        Study directory [default: ``results/<study name>``].
    workers
        Worker processes [default: the machine's CPUs].
    dask
        A Dask scheduler address, or ``"local"`` for a LocalCluster; ``None`` for the local pool.
    resume
        Continue the study already in ``out_dir`` (refused if it is another study).
    progress
        Called with ``(done_runs, total_runs)`` as chunks finish.
    on_start
        Called once with ``(executor description, chunks to run, chunks already done)``.
    on_check
        Called with ``(runs checked, runs)`` while the sampled scenarios are validated.
    resource_check
        Refuse a study whose runs at the inputs' sampled extremes would not fit this machine.

    Raises
    ------
    SimError
        Bad study, invalid sampled scenario, unusable directory or executor: nothing is damaged.
    """
    t0 = time.perf_counter()
    phases: dict[str, float] = {}
    out = Path(out_dir) if out_dir is not None else Path("results") / study.name
    spec = run_spec(study)
    hashes = study.hashes()
    schema = outcome_schema(study.options, study.reference, study.spec.study.outcomes)
    existing = existing_study(out, resume)
    if existing is not None:
        _check_same_study(out, existing, hashes)
    options = ExecutorOptions(
        workers=workers,
        address=dask,
        timeout_s=dask_timeout_s if dask_timeout_s is not None else executors.DASK_TIMEOUT_S,
    )
    if existing is None or existing.get("status") != "complete":
        executors.start_early(options)  # the workers' imports, while the design is checked
    design = make_design(study)
    values = design_values(design, study.labels)
    check_scenarios(spec, values, on_check)
    estimate = check_study_resources(study, spec, values, workers, out, enabled=resource_check)
    rounds = study.rounds
    recorded: list[dict[str, Any]] = list(existing.get("rounds") or []) if existing else []

    valid: dict[int, bool] = {}  # a resumed study's chunk files, each read once

    def pending_of(refs: list[ChunkRef]) -> list[ChunkRef]:
        if existing is None:
            return list(refs)
        for r in refs:
            if r.chunk not in valid:
                valid[r.chunk] = _chunk_valid(chunk_path(out, r.chunk), r, spec.study_hash, schema)
        return [r for r in refs if not valid[r.chunk]]

    executor = None
    description = "none needed"
    if existing is not None:  # the chunking is the study's, fixed when it was created
        chunk_size = int(existing["chunk_size"])
        _clean_temporaries(out / RUNS_DIR)
        refs = chunk_refs(study.runs, chunk_size)
        stop_at = _recorded_stop(recorded, rounds)
        pending = pending_of([r for r in refs if r.first < stop_at])
        if pending:
            executor = open_executor("dask" if dask is not None else "local", options)
    else:
        executor = open_executor("dask" if dask is not None else "local", options)
        # the estimate's time is its runs' mean over the workers it assumed
        per_run_s = estimate.seconds * (workers or default_workers()) / max(1, study.runs)
        chunk_size = study.chunk_size or round_chunk_size(
            default_chunk_size(study.runs, executor.workers, per_run_s), rounds
        )
        refs = chunk_refs(study.runs, chunk_size)
        pending = list(refs)
    if executor is not None:
        description = executor.description
    chunks_run = 0
    made = rounds[-1]
    try:
        if existing is None:
            write_result(  # the study appears with its design and manifest, or not at all
                out,
                PRODUCER,
                {
                    DESIGN_FILE: parquet_writer(design, results_provenance(study)),
                    MANIFEST: json_writer(manifest(study, chunk_size)),
                },
                directories=[RUNS_DIR],
            )
        else:
            adopt_study_directory(out)
            files: dict[str, FileWriter] = {}
            if not (out / DESIGN_FILE).is_file():
                files[DESIGN_FILE] = parquet_writer(design, results_provenance(study))
            write_result(out, PRODUCER, files, remove_stale=False, directories=[RUNS_DIR])
        if on_start is not None:
            on_start(description, len(pending), len(refs) - len(pending))
        phases["set_up_s"] = time.perf_counter() - t0
        finished: set[int] = set()
        for r, target in enumerate(rounds):
            if r < len(recorded):  # judged before this study was interrupted
                if recorded[r].get("narrow_enough"):
                    made = target
                    break
                continue
            todo = [ref for ref in refs if ref.first < target and ref.chunk not in finished]
            todo = pending_of(todo) if existing is not None else todo
            done = target - sum(ref.n for ref in todo)
            if progress is not None:
                progress(done, target)
            if todo and executor is None:  # resumed with everything done up to an earlier round
                executor = open_executor("dask" if dask is not None else "local", options)
                description = executor.description
            started = time.perf_counter()
            if executor is not None and todo:
                tasks = (_task(spec, values, ref) for ref in todo)
                for task, table in executor.map_unordered(run_chunk, tasks):
                    if task.chunk in finished:  # a retried task delivered twice: written once
                        continue
                    finished.add(task.chunk)
                    write_parquet(
                        table, chunk_path(out, task.chunk), _chunk_provenance(study, task)
                    )
                    chunks_run += 1
                    done += len(task.values)
                    if progress is not None:
                        progress(done, target)
            phases["runs_s"] = phases.get("runs_s", 0.0) + time.perf_counter() - started
            if r == len(rounds) - 1:
                made = target
                break
            started = time.perf_counter()
            judged = _judge_round(out, study, design, refs, schema, target)
            recorded.append({"round": r + 1, **judged})
            _record_rounds(out, recorded)
            phases["rounds_s"] = phases.get("rounds_s", 0.0) + time.perf_counter() - started
            if judged["narrow_enough"]:
                made = target
                break
    finally:
        if executor is not None:
            executor.close()

    started = time.perf_counter()
    made_refs = [ref for ref in refs if ref.first < made]
    results = compact(out, study, made_refs, schema, runs=made)
    phases["compaction_s"] = time.perf_counter() - started
    design_made = design.slice(0, made)
    analysis = None
    drawn: list[dict[str, str]] = []
    if analyze:
        from sim.study.analysis import write_analysis

        analysis = write_analysis(
            out,
            study,
            design_made,
            results,
            plots=plots,
            drawn=drawn,
            rounds=recorded if study.stop is not None else None,
            timings=phases,
        )
    document = _read_manifest(out)
    document.update(
        status="complete",
        completed=datetime.now(UTC).isoformat(timespec="seconds"),
        versions=study_versions(),
    )
    if study.stop is not None:
        document.update(rounds=recorded, runs_made=made)
    write_result(
        out,
        PRODUCER,
        {MANIFEST: json_writer(document)},
        remove_stale=False,
        directories=[RUNS_DIR, *(["analysis"] if analyze else [])],
    )
    if analyze:
        from sim.report import REPORT_FILE, render_report

        started = time.perf_counter()
        page = render_report(out, figures=plots, name=str(out), drawn=drawn if plots else None).html
        write_result(out, PRODUCER, {REPORT_FILE: text_writer(page)}, remove_stale=False)
        phases["report_s"] = time.perf_counter() - started
    return StudyResult(
        out_dir=out,
        study=study,
        design=design_made,
        results=results,
        analysis=analysis,
        chunks_run=chunks_run,
        chunks_skipped=sum(1 for ref in made_refs) - chunks_run,
        executor=description,
        elapsed_s=time.perf_counter() - t0,
        phases_s=phases,
    )


def round_chunk_size(size: int, rounds: Sequence[int]) -> int:
    """``size``, or the largest divisor of every round's runs below it: rounds end on whole
    chunks."""
    common = math.gcd(*rounds)
    return max(d for d in range(1, min(size, common) + 1) if common % d == 0)


def _recorded_stop(recorded: Sequence[dict[str, Any]], rounds: Sequence[int]) -> int:
    """The runs a resumed study has to have made before it judges again: up to the first round
    not yet judged (or the round that was narrow enough)."""
    for r, target in enumerate(rounds):
        if r >= len(recorded) or recorded[r].get("narrow_enough"):
            return target
    return rounds[-1]


def _judge_round(
    out: Path,
    study: Study,
    design: pa.Table,
    refs: Sequence[ChunkRef],
    schema: pa.Schema,
    runs: int,
) -> dict[str, Any]:
    """The intervals after the first ``runs`` runs, and whether they are narrow enough."""
    from sim.study.analysis import interval_widths, narrow_enough

    results = _read_runs(out, [ref for ref in refs if ref.first < runs], schema, runs)
    widths = interval_widths(study, design.slice(0, runs), results)
    assert study.stop is not None
    return {"runs": runs, "widths": widths, "narrow_enough": narrow_enough(widths, study.stop)}


def _record_rounds(out: Path, recorded: list[dict[str, Any]]) -> None:
    """Record the rounds judged so far in ``study.json`` (atomically): a killed study resumes
    from the first round not judged."""
    document = _read_manifest(out)
    document["rounds"] = recorded
    write_result(
        out, PRODUCER, {MANIFEST: json_writer(document)}, remove_stale=False, directories=[RUNS_DIR]
    )


def extreme_runs(values: DesignValues, limit: int = 32) -> list[int]:
    """The runs at each numeric input's smallest and largest sampled value."""
    picked: set[int] = set()
    for label in values.labels:
        column = values.columns[label]
        if column.dtype.kind in "iuf" and column.size:
            picked.update((int(np.argmax(column)), int(np.argmin(column))))
    return sorted(picked)[:limit] or [0]


def study_estimate(
    study: Study,
    spec: RunSpec,
    values: DesignValues | None,
    workers: int | None,
    source: str | None = None,
) -> Any:
    """The study's resource estimate: from the runs at the inputs' extremes when the design is
    drawn (``values``), else from the base scenario."""
    from sim.resources import estimate_study
    from sim.study.executors import default_workers

    samples = (
        [scenario_for_run(spec, i, values[i], full=False) for i in extreme_runs(values)]
        if values is not None
        else [study.base]
    )
    settings = study.spec.design
    return estimate_study(
        samples,
        study.runs,
        len(study.inputs),
        workers or default_workers(),
        len(outcome_schema(study.options, study.reference, study.spec.study.outcomes)),
        study.fidelity,
        method=settings.method,
        bootstrap=settings.bootstrap,
        block=design_block(study),
        source=source or study.source,
    )


def check_study_resources(
    study: Study,
    spec: RunSpec,
    values: DesignValues,
    workers: int | None,
    out: Path,
    *,
    enabled: bool = True,
) -> Any:
    """Refuse, before anything is written, a study whose largest runs would not fit; return the
    estimate."""
    from sim.resources import check

    estimate = study_estimate(study, spec, values, workers)
    check(estimate, out, enabled=enabled)
    return estimate


def existing_study(out: Path, resume: bool) -> dict[str, Any] | None:
    """The manifest of the study in ``out`` if resuming it; refuse to touch any other directory.

    Raises
    ------
    OutputError, StudyDirectoryError
        ``out`` is a place no command writes to (see :func:`sim.output.check_location`), a file, a
        non-empty directory without ``--resume``, or not a study.
    """
    check_location(out)
    if out.exists() and not out.is_dir():
        raise StudyDirectoryError(f"{out} exists and is not a directory (nothing was changed)")
    occupied = out.is_dir() and not holds_nothing(out)
    if not occupied:
        return None
    if not resume:
        what = "a study" if (out / MANIFEST).is_file() else "files"
        raise StudyDirectoryError(
            f"{out} already holds {what}; pass --resume to continue that study, or choose "
            "another --out (nothing was changed)"
        )
    if not (out / MANIFEST).is_file():
        raise StudyDirectoryError(
            f"{out} is not a study directory (no {MANIFEST}); resume refused, nothing was changed"
        )
    return _read_manifest(out)


def adopt_study_directory(out: Path) -> None:
    """A study written before result directories had manifests: list its files as this
    package's (the study's own ``study.json`` proves whose they are)."""
    adopt_directory(
        out, PRODUCER, [MANIFEST, DESIGN_FILE, RESULTS_FILE], [RUNS_DIR], trusted=[MANIFEST]
    )
    from sim.study.analysis import ANALYSIS_DIR, analysis_file_names

    if (out / ANALYSIS_DIR).is_dir():
        adopt_directory(out / ANALYSIS_DIR, "analysis", analysis_file_names(), [])


def describe_plan(study: Study, out: Path, resume: bool) -> list[str]:
    """What ``sim study`` would write (for ``--dry-run``), after the same checks as a real run."""
    existing = existing_study(out, resume)
    if existing is None:
        size = (
            f"chunk of {study.chunk_size} runs"
            if study.chunk_size is not None
            else "chunk, about 8 chunks per worker"
        )
        return [
            f"would create {out}/ with {DESIGN_FILE}, {MANIFEST}, {RUNS_DIR}/ (one file per "
            f"{size}), {RESULTS_FILE} and analysis/"
        ]
    _check_same_study(out, existing, study.hashes())
    chunk_size = int(existing["chunk_size"])
    refs = chunk_refs(study.runs, chunk_size)
    schema = outcome_schema(study.options, study.reference, study.spec.study.outcomes)
    pending = [
        r
        for r in refs
        if not _chunk_valid(chunk_path(out, r.chunk), r, study.hashes()["study"], schema)
    ]
    return [
        f"would resume {out}/: {len(refs) - len(pending)} of {len(refs)} chunks done, "
        f"{len(pending)} to run; then {RESULTS_FILE} and analysis/ are rewritten"
    ]
