"""``sim study``: load, run with a progress bar (ETA), and print what the study found."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from sim.study.runner import StudyResult, run_study
from sim.study.spec import load_study


def study_command(
    file: Path,
    out_dir: Path | None,
    runs: int | None,
    workers: int | None,
    dask: str | None,
    resume: bool,
    quiet: bool,
    console: Console,
    err_console: Console,
    *,
    dry_run: bool = False,
    resource_check: bool = True,
    out_format: str = "table",
) -> StudyResult | None:
    """Run the study in ``file`` as the command line asked; print progress and findings.

    The output directory and the resources are checked first (before the design is drawn); the
    estimate is printed for long studies, and with ``dry_run`` the plan is printed and nothing runs.
    """
    from sim.resources import LONG_WORK_S, check, describe_lines
    from sim.study.runner import (
        check_scenarios,
        describe_plan,
        design_values,
        existing_study,
        make_design,
        run_spec,
        study_estimate,
    )

    study = load_study(file, runs=runs)
    out = out_dir if out_dir is not None else Path("results") / study.name
    existing_study(out, resume)  # refuse a bad directory before anything else
    spec = run_spec(study)
    estimate = study_estimate(study, spec, None, workers, str(file))
    check(estimate, out, enabled=resource_check)  # the design's and analysis' size, first
    if not quiet and estimate.seconds > LONG_WORK_S:
        err_console.print(estimate.describe(), highlight=False, markup=False)
    if dry_run:
        values = design_values(make_design(study), study.labels)
        check_scenarios(spec, values)
        estimate = study_estimate(study, spec, values, workers, str(file))
        check(estimate, out, enabled=resource_check)
        for line in [*describe_plan(study, out, resume), *describe_lines(estimate)]:
            console.print(line, highlight=False, markup=False)
        console.print("dry run: nothing was written", highlight=False)
        return None
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=quiet,
    )
    task: Any = None

    def on_start(executor: str, pending: int, done: int) -> None:
        if not quiet:
            resumed = f", {done} chunk{'s' if done != 1 else ''} already done" if done else ""
            size = f"{study.runs} runs"
            if study.stop is not None:
                size = (
                    f"up to {study.runs} runs in rounds of {', '.join(map(str, study.rounds))} "
                    "(stopping once the intervals are narrow enough)"
                )
            err_console.print(
                f"study {study.name!r}: {size} ({study.spec.design.method}, "
                f"{study.fidelity} fidelity) on {executor}{resumed}",
                highlight=False,
            )

    def on_progress(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            # the bar (and its ETA) starts at the runs already done, so a resume estimates right
            task = progress.add_task(f"study {study.name}", total=total, completed=done)
        progress.update(task, completed=done, total=total)  # a round's target grows the total

    checking: Any = None

    def on_check(done: int, total: int) -> None:
        nonlocal checking
        if checking is None:
            checking = progress.add_task("checking the sampled scenarios", total=total)
        progress.update(checking, completed=done)
        if done >= total:
            progress.remove_task(checking)

    t0 = time.perf_counter()
    with progress:
        result = run_study(
            study,
            out,
            workers=workers,
            dask=dask,
            resume=resume,
            progress=on_progress,
            on_start=on_start,
            on_check=on_check,
            resource_check=resource_check,
        )
    elapsed = time.perf_counter() - t0
    if not quiet and result.analysis is not None:
        if out_format == "table":
            print_findings(result.analysis, console)
        else:
            import click

            from sim.output import json_text
            from sim.report.markdown import study_markdown

            doc = result.analysis
            click.echo(json_text(doc) if out_format == "json" else study_markdown(doc), nl=False)
    report = f"; open {out}/report.html" if result.analysis is not None else ""
    (console if out_format == "table" else err_console).print(
        f"wrote {out}/ in {elapsed:.1f} s ({result.chunks_run} chunks run, "
        f"{result.chunks_skipped} skipped{report})",
        highlight=False,
    )
    return result


def print_findings(doc: dict[str, Any], console: Console) -> None:
    """Probability each option is cheapest, savings quantiles, the most influential inputs."""
    if "probability_cheapest" in doc:
        table = Table(
            title=f"{doc['study']}: {doc['runs']} runs, {doc['design']} design",
            title_justify="left",
        )
        for name in ("option", "P(cheapest)", f"{doc['confidence']:.0%} interval"):
            table.add_column(name, justify="left" if name == "option" else "right")
        for option, p in doc["probability_cheapest"].items():
            table.add_row(option, f"{p['probability']:.3f}", f"{p['ci'][0]:.3f} – {p['ci'][1]:.3f}")
        console.print(table, width=None if console.is_terminal else 160)
    for name, s in doc.get("savings", {}).items():
        console.print(
            f"{name}: median {s['p50']:,.2f} USD, 90% between {s['p05']:,.2f} and "
            f"{s['p95']:,.2f}; P(> 0) = {s['probability_positive']:.3f}",
            highlight=False,
        )
    stopping = doc.get("stopping")
    if stopping:
        console.print(
            f"stop_at_ci_width: {stopping['runs']:,} of at most {stopping['most_runs']:,} runs, "
            f"in {len(stopping['rounds'])} round{'s' if len(stopping['rounds']) != 1 else ''}; "
            + ("the intervals are as narrow as asked" if stopping["reached"] else
               "the intervals are still wider than asked"),
            highlight=False,
        )  # fmt: skip
    ranked = doc.get("most_influential") or []
    if ranked:
        top = ", ".join(f"{r['input']} ({r['index']} {r['value']:.2f})" for r in ranked[:4])
        console.print(f"what drives {doc['key_outcome']}: {top}", highlight=False)
    ranked = doc.get("most_influential_relative") or []
    if ranked:
        top = ", ".join(f"{r['input']} ({r['index']} {r['value']:.2f})" for r in ranked[:4])
        console.print(f"what drives {doc['relative_outcome']}: {top}", highlight=False)
    for note in doc.get("notes", []):
        console.print(f"note: {note}", highlight=False, style="dim")
