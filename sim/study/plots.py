"""Figures of a study (PNG, matplotlib's Agg backend): savings histogram, sensitivity indices with
their intervals, savings against the most influential inputs, convergence of the indices."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with this module
    from matplotlib.figure import Figure

    from sim.study.spec import Study

PLOTS = ("savings_histogram.png", "indices.png", "savings_vs_inputs.png", "convergence.png")
#: The figures a study may write into ``analysis/`` (those without data are not written).
STUDY_PLOTS = PLOTS
#: The most runs a scatter plot draws (evenly spaced over the design).
MAX_POINTS = 2_000


def _agg() -> None:
    import matplotlib

    matplotlib.use("Agg")


def _save(fig: Figure, path: Path) -> Path:
    from sim.output import figure_writer

    figure_writer(fig, {"figure": path.name})(path)
    return path


def study_info(study: Study) -> dict[str, Any]:
    """What the figures need of a study, as ``study.json`` also records it (so the report can
    draw them again from stored results): name, reference, cost basis and each input's field."""
    return {
        "study": study.name,
        "reference": study.reference,
        "cost_basis": study.spec.study.cost_basis,
        "inputs": [{"name": i.label, "field": i.field} for i in study.spec.inputs],
    }


def _savings_columns(results: pa.Table) -> list[str]:
    return [c for c in results.column_names if c.startswith("savings_usd_")]


def _pretty(column: str) -> str:
    return column.replace("savings_usd_", "").replace("_vs_", " saves vs ") + " (USD)"


def savings_histogram(info: dict[str, Any], results: pa.Table) -> Figure | None:
    """One histogram per savings outcome, with zero, the median and P(savings > 0) marked."""
    columns = _savings_columns(results)
    if not columns:
        return None
    _agg()
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.4), squeeze=False)
    for ax, name in zip(axes[0], columns, strict=True):
        y = results.column(name).to_numpy()
        ax.hist(y, bins=min(60, max(10, len(y) // 20)), color="#4c78a8", alpha=0.85)
        ax.axvline(0, color="black", lw=1)
        median = float(np.median(y))
        ax.axvline(median, color="#e45756", lw=1.5, ls="--", label=f"median {median:,.0f}")
        ax.set_title(f"P(> 0) = {np.mean(y > 0):.2f}", fontsize=10)
        ax.set_xlabel(_pretty(name))
        ax.set_ylabel("runs")
        ax.legend(fontsize=8)
        _plain_ticks(ax.xaxis, money=True)
    fig.suptitle(f"{info['study']}: savings of {info['reference']} ({info['cost_basis']} cost)")
    fig.tight_layout()
    return fig


def indices_plot(doc: dict[str, Any], tables: dict[str, pa.Table]) -> Figure | None:
    """Indices of the key outcome (and of its relative counterpart, the log cost ratio) with their
    confidence intervals: one panel per outcome, one row per input; each estimate a marker on its
    interval (a forest plot), so a wide interval never hides the estimate."""
    sens = tables["sensitivity.parquet"].to_pylist()
    outcomes = [o for o in (doc.get("key_outcome"), doc.get("relative_outcome")) if o]
    panels = [(o, [r for r in sens if r["outcome"] == o]) for o in outcomes]
    panels = [(o, rows) for o, rows in panels if rows]
    if not panels:
        return None
    order = [r["input"] for r in doc.get("most_influential", [])] or sorted(
        {r["input"] for r in panels[0][1]}
    )
    order = [o for o in order if "×" not in o]
    _agg()
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(panels), figsize=(6.5 * len(panels), 0.55 * len(order) + 2.0), squeeze=False
    )
    for ax, (outcome, rows) in zip(axes[0], panels, strict=True):
        _index_forest(ax, rows, order)
        ax.set_xlabel(f"index (bars: {doc.get('confidence', 0.95):.0%} bootstrap interval)")
        ax.set_title(f"{doc.get('design')} indices of {outcome}", fontsize=10)
    for ax in axes[0][1:]:
        ax.tick_params(labelleft=False)
    fig.tight_layout()
    return fig


def _index_forest(ax: Any, rows: list[dict[str, Any]], order: list[str]) -> None:
    kinds = [
        k
        for k in ("S1", "ST", "mu_star", "sigma", "spearman")
        if any(r["index"] == k for r in rows)
    ]
    step = 0.7 / max(len(kinds), 1)
    y = np.arange(len(order))
    markers = {"S1": "o", "ST": "s", "mu_star": "D", "sigma": "^", "spearman": "o"}
    for j, kind in enumerate(kinds):
        by_input = {r["input"]: r for r in rows if r["index"] == kind}
        vals = np.array([_num(by_input.get(i), "value") for i in order])
        lo = np.array([_num(by_input.get(i), "conf_low") for i in order])
        hi = np.array([_num(by_input.get(i), "conf_high") for i in order])
        at = y + (j - (len(kinds) - 1) / 2) * step
        (line,) = ax.plot(vals, at, linestyle="none", marker=markers[kind], ms=6, label=kind,
                          zorder=3)  # fmt: skip
        ax.hlines(at, lo, hi, color=line.get_color(), lw=2, alpha=0.55, zorder=2)
    ax.set_yticks(y, order)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.axvline(0, color="black", lw=0.8)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def _num(row: dict[str, Any] | None, key: str) -> float:
    value = None if row is None else row.get(key)
    return float(value) if value is not None else np.nan


def _field_label(info: dict[str, Any], name: str) -> str:
    fields = {i["name"]: i["field"] for i in info.get("inputs", [])}
    return f"{name} ({fields[name]})" if name in fields else name


def _plain_ticks(axis: Any, money: bool = False) -> None:
    """Tick labels as plain numbers with thousands separators: no ×1e7 offset."""
    from matplotlib.ticker import FuncFormatter

    def label(v: float, _pos: int) -> str:
        text = f"{v:,.0f}" if abs(v) >= 100 or v == 0 else f"{v:,.3g}"
        return ("-$" + text[1:] if text.startswith("-") else "$" + text) if money else text

    axis.set_major_formatter(FuncFormatter(label))


def savings_vs_inputs(
    info: dict[str, Any], design: pa.Table, results: pa.Table, doc: dict[str, Any]
) -> Figure | None:
    """The key outcome against the (up to) three most influential inputs, each axis with the
    input's field and plain numbers."""
    key = doc.get("key_outcome")
    top = [r["input"] for r in doc.get("most_influential", []) if "×" not in r["input"]][:3]
    if key is None or not top:
        return None
    _agg()
    import matplotlib.pyplot as plt

    y = results.column(key).to_numpy()
    # at most MAX_POINTS runs, evenly spaced (the figure's size must not grow with the study)
    shown = np.unique(np.linspace(0, y.size - 1, min(y.size, MAX_POINTS)).astype(np.int64))
    y = y[shown]
    money = key.startswith(("savings_usd_", "cost_usd_"))
    fig, axes = plt.subplots(1, len(top), figsize=(4.4 * len(top), 3.6), squeeze=False)
    for ax, name in zip(axes[0], top, strict=True):
        x = [design.column(name)[int(i)].as_py() for i in shown]
        if x and isinstance(x[0], str):
            categories = sorted(set(x))
            x = [categories.index(v) for v in x]
            ax.set_xticks(range(len(categories)), categories)
        else:
            _plain_ticks(ax.xaxis)
        ax.scatter(x, y, s=6, alpha=0.4, color="#4c78a8")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel(_field_label(info, name), fontsize=8)
        _plain_ticks(ax.yaxis, money=money)
        ax.set_ylabel(_pretty(key) if key.startswith("savings_usd_") else key, fontsize=8)
    sample = (
        f" ({shown.size:,} of {results.num_rows:,} runs)" if shown.size < results.num_rows else ""
    )
    fig.suptitle(f"{key} against the most influential inputs{sample}", fontsize=10)
    fig.tight_layout()
    return fig


def convergence_plot(doc: dict[str, Any], tables: dict[str, pa.Table]) -> Figure | None:
    """The key outcome's ranking index against the number of runs, with its intervals."""
    key = doc.get("key_outcome")
    index = doc.get("ranking_index")
    rows = [
        r
        for r in tables["convergence.parquet"].to_pylist()
        if r["outcome"] == key and r["index"] == index
    ]
    if not rows:
        return None
    _agg()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 4))
    for name in dict.fromkeys(r["input"] for r in rows):
        pts = sorted(
            (r["runs"], _num(r, "value"), _num(r, "conf_low"), _num(r, "conf_high"))
            for r in rows
            if r["input"] == name
        )
        n, v, lo, hi = (np.array(c, dtype=float) for c in zip(*pts, strict=True))
        (line,) = ax.plot(n, v, marker="o", ms=3, label=name)
        ax.fill_between(n, lo, hi, color=line.get_color(), alpha=0.15)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("runs (the design's first n)")
    ax.set_ylabel(f"{index} (shaded: {doc.get('confidence', 0.95):.0%} interval)")
    ax.set_title(f"convergence of {index} for {key}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def study_figures(
    info: dict[str, Any],
    design: pa.Table,
    results: pa.Table,
    doc: dict[str, Any],
    tables: dict[str, pa.Table],
) -> list[tuple[str, str, Figure]]:
    """The study's figures as ``(file name, caption, figure)`` (those without data left out).

    ``info``: :func:`study_info` of the study, or its ``study.json``."""
    made = [
        (PLOTS[0], "savings over the runs", savings_histogram(info, results)),
        (PLOTS[1], "sensitivity indices with their intervals", indices_plot(doc, tables)),
        (PLOTS[2], "the key outcome against the most influential inputs",
         savings_vs_inputs(info, design, results, doc)),
        (PLOTS[3], "convergence of the indices with the number of runs",
         convergence_plot(doc, tables)),
    ]  # fmt: skip
    return [(name, caption, fig) for name, caption, fig in made if fig is not None]


def write_study_plots(
    out_dir: Path,
    study: Study,
    design: pa.Table,
    results: pa.Table,
    doc: dict[str, Any],
    tables: dict[str, pa.Table],
    drawn: list[dict[str, str]] | None = None,
) -> list[Path]:
    """Write the study's figures into ``out_dir``; return the paths written.

    With ``drawn``, each figure is also appended to it as inline SVG for the report
    (``{"name", "title", "svg"}``, see :func:`sim.report.svg.figure_svg`): every figure is drawn
    once, for its PNG file and the report alike.
    """
    from sim.report.svg import figure_svg

    paths = []
    for name, caption, fig in study_figures(study_info(study), design, results, doc, tables):
        paths.append(_save(fig, out_dir / name))
        if drawn is not None:
            drawn.append({"name": name, "title": caption, "svg": figure_svg(fig, caption)})
    return paths
