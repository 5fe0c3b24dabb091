"""``report.html``: one self-contained page per result directory (a run, a sweep, a study).

The page is built from the stored results alone (``sim report DIR`` rebuilds it), templated with
Jinja2 (autoescaped), with its styles and figures (SVG) inline: it fetches nothing and needs no
JavaScript, and reads on a phone and printed. With a baseline run it also shows what changed, per
option and component.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sim.errors import ResultError
from sim.report import fmt

#: The report's file name in every result directory.
REPORT_FILE = "report.html"

#: What each kind of result directory holds that tells it apart (checked in this order).
MARKERS = {
    "study": (
        "study.json",
        "analysis/analysis.json",
        "design.parquet",
        "results.parquet",
        "analysis/sensitivity.parquet",
        "analysis/convergence.parquet",
    ),
    "sweep": ("breakeven.json", "sweep.parquet"),
    "run": ("summary.json", "meters.parquet", "costs.parquet"),
}


@dataclass(frozen=True)
class Report:
    """A rendered report: its kind, the HTML page, and the change against a baseline (if any)."""

    kind: str
    html: str
    change: dict[str, Any] | None = None


def kind_of(directory: str | Path) -> str:
    """``run``, ``sweep`` or ``study``: what ``directory`` holds.

    Raises
    ------
    ResultError
        Not a result directory of sim's (or a study whose analysis is not written yet).
    """
    d = Path(directory)
    if not d.is_dir():
        raise ResultError(
            str(d), "not a directory; give the result directory of a sim run, sweep or study"
        )
    for kind, names in MARKERS.items():
        if (d / names[0]).is_file():
            missing = [n for n in names[1:] if not (d / n).is_file()]
            if missing:
                what = (
                    "the study has no analysis yet: finish it with sim study --resume"
                    if kind == "study" and "analysis/analysis.json" in missing
                    else f"{', '.join(missing)} missing"
                )
                raise ResultError(str(d), f"a {kind} directory, but {what}")
            return kind
    raise ResultError(
        str(d),
        "holds no result of sim's (summary.json of a run, breakeven.json of a sweep, or "
        "study.json of a study)",
    )


@functools.cache
def _environment() -> Any:
    """The templates' environment, one per process: a template is compiled once (0.06 s)."""
    from jinja2 import ChainableUndefined, Environment, FunctionLoader, select_autoescape

    templates = resources.files("sim.report") / "templates"

    def load(name: str) -> str:
        return (templates / name).read_text(encoding="utf-8")

    env = Environment(
        loader=FunctionLoader(load),
        autoescape=select_autoescape(default=True, default_for_string=True),
        # a key an older summary lacks renders as nothing (its section is left out), not an error
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )

    def tolerant(f: Any) -> Any:
        def apply(value: Any, *args: Any, **kwargs: Any) -> str:
            if isinstance(value, ChainableUndefined) or value is None:
                return "n/a"
            if isinstance(value, bool) or not isinstance(value, int | float):
                return str(value)
            return str(f(value, *args, **kwargs))

        return apply

    env.filters.update(
        {
            name: tolerant(f)
            for name, f in (
                ("usd", fmt.usd), ("pct", fmt.pct), ("count", fmt.count),
                ("number", fmt.number), ("prob", fmt.prob), ("index", fmt.index),
                ("days", fmt.days),
            )
        }
    )  # fmt: skip
    return env


def prepare(kind: str = "run") -> None:
    """Compile the report template of a ``kind`` result now (a run's process does it while its
    workers run, see :data:`sim.engine.workers.LATER_IMPORTS`)."""
    _environment().get_template(f"{kind}.html.j2")


def _title(kind: str, ctx: dict[str, Any]) -> str:
    if kind == "run":
        return f"{ctx['summary']['scenario']}: which front door, and what it costs"
    if kind == "sweep":
        return f"{ctx['doc']['scenario']}: cost against {ctx['doc']['path']}"
    return f"{ctx['doc']['study']}: how sure, and what decides it"


def render_report(
    directory: str | Path,
    *,
    baseline: str | Path | None = None,
    figures: bool = True,
    name: str | None = None,
    drawn: list[dict[str, str]] | None = None,
) -> Report:
    """Build the report of the result directory ``directory`` (nothing is written).

    ``baseline``: another run's directory; the report then shows what changed from it.
    ``name``: how the footer names the directory (default: its name). ``drawn``: the figures as
    SVG already (``{"name", "title", "svg"}``, see :func:`sim.report.svg.figure_svg`), so a
    command that drew them for its PNG files does not draw them again.
    """
    d = Path(directory)
    kind = kind_of(d)
    if kind == "run":
        from sim.report.run import context
    elif kind == "sweep":
        from sim.report.sweep import context
    else:
        from sim.report.study import context
    try:
        return _render(d, kind, context, baseline, figures, name, drawn)
    except ResultError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OSError) as exc:
        raise ResultError(
            str(d),
            f"cannot be read as a {kind} result of this version of sim ({type(exc).__name__}: "
            f"{exc}); it may be damaged, or written by another version: run it again",
        ) from None
    except Exception as exc:  # pyarrow's and jinja2's errors of a damaged file
        if type(exc).__module__.split(".")[0] in ("pyarrow", "jinja2"):
            raise ResultError(
                str(d), f"cannot be read ({type(exc).__name__}: {exc}); it may be damaged"
            ) from None
        raise


def _render(
    d: Path,
    kind: str,
    context: Any,
    baseline: str | Path | None,
    figures: bool,
    name: str | None,
    drawn: list[dict[str, str]] | None,
) -> Report:
    from importlib.metadata import version

    ctx = context(d, with_figures=figures and drawn is None)
    if drawn is not None and figures:
        ctx["figures"] = drawn
    change = None
    if baseline is not None:
        for side, k in ((d, kind), (Path(baseline), kind_of(baseline))):
            if k != "run":
                raise ResultError(
                    str(side),
                    f"a {k}, not a run: --baseline compares two runs (both directories must hold "
                    "a sim run's summary.json)",
                )
        from sim.report.markdown import diff
        from sim.report.run import load_summary

        before = load_summary(Path(baseline))
        names = (
            f"{ctx['summary']['scenario']} ({name or d.name})",
            f"{before['scenario']} ({Path(baseline).name or baseline})",
        )
        change = diff(ctx["summary"], before, names)
    css = (resources.files("sim.report") / "templates" / "report.css").read_text(encoding="utf-8")
    html = (
        _environment()
        .get_template(f"{kind}.html.j2")
        .render(
            **ctx,
            title=_title(kind, ctx),
            css=css,
            version=version("sim"),
            baseline=change,
            sources=", ".join(n for n in MARKERS[kind]),
            directory_name=name or d.name or str(d),
        )
    )
    return Report(kind, html, change)


def write_report(
    directory: str | Path, *, baseline: str | Path | None = None, producer: str = "report"
) -> Path:
    """(Re)build ``report.html`` inside ``directory`` (replacing only a report sim wrote there,
    see :mod:`sim.output`); return its path."""
    from sim.output import text_writer, write_result

    report = render_report(directory, baseline=baseline)
    write_result(directory, producer, {REPORT_FILE: text_writer(report.html)}, remove_stale=False)
    return Path(directory) / REPORT_FILE
