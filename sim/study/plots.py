"""Figures of a study (PNG, matplotlib's Agg backend): savings histogram, sensitivity indices with
their intervals, savings against the most influential inputs, convergence of the indices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pyarrow as pa
from matplotlib.figure import Figure

from sim.study.spec import Study

PLOTS = ("savings_histogram.png", "indices.png", "savings_vs_inputs.png", "convergence.png")
#: The figures a study may write into ``analysis/`` (those without data are not written).
STUDY_PLOTS = PLOTS


def _save(fig: Figure, path: Path) -> Path:
    from sim.output import figure_writer

    fig.tight_layout()
    figure_writer(fig, {"figure": path.name})(path)
    return path


def _savings_columns(results: pa.Table) -> list[str]:
    return [c for c in results.column_names if c.startswith("savings_usd_")]


def _pretty(column: str) -> str:
    return column.replace("savings_usd_", "").replace("_vs_", " saves vs ") + " (USD)"


def savings_histogram(path: Path, study: Study, results: pa.Table) -> Path | None:
    """One histogram per savings outcome, with zero, the median and P(savings > 0) marked."""
    columns = _savings_columns(results)
    if not columns:
        return None
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
    fig.suptitle(f"{study.name}: savings of {study.reference} ({study.spec.study.cost_basis} cost)")
    return _save(fig, path)


def indices_plot(path: Path, doc: dict[str, Any], tables: dict[str, pa.Table]) -> Path | None:
    """Indices of the key outcome (and of its relative counterpart, the log cost ratio) with their
    confidence intervals: one panel per outcome, one bar group per input."""
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
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6.5 * len(panels), 0.5 * len(order) + 1.8), squeeze=False
    )
    for ax, (outcome, rows) in zip(axes[0], panels, strict=True):
        _index_bars(ax, rows, order)
        ax.set_xlabel(f"index ({doc.get('confidence', 0.95):.0%} bootstrap interval)")
        ax.set_title(f"{doc.get('design')} indices of {outcome}", fontsize=10)
    for ax in axes[0][1:]:
        ax.tick_params(labelleft=False)
    return _save(fig, path)


def _index_bars(ax: Any, rows: list[dict[str, Any]], order: list[str]) -> None:
    kinds = [
        k
        for k in ("S1", "ST", "mu_star", "sigma", "spearman")
        if any(r["index"] == k for r in rows)
    ]
    height = 0.8 / len(kinds)
    y = np.arange(len(order))
    for j, kind in enumerate(kinds):
        by_input = {r["input"]: r for r in rows if r["index"] == kind}
        vals = np.array([by_input[i]["value"] if i in by_input else np.nan for i in order])
        lo = np.array([by_input[i]["conf_low"] if i in by_input else np.nan for i in order])
        hi = np.array([by_input[i]["conf_high"] if i in by_input else np.nan for i in order])
        err = np.nan_to_num(np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)]))
        ax.barh(
            y + (j - (len(kinds) - 1) / 2) * height, vals, height, xerr=err, capsize=3, label=kind
        )
    ax.set_yticks(y, order)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.8)
    ax.legend(fontsize=8)


def savings_vs_inputs(
    path: Path, design: pa.Table, results: pa.Table, doc: dict[str, Any]
) -> Path | None:
    """The key outcome against the (up to) three most influential inputs."""
    key = doc.get("key_outcome")
    top = [r["input"] for r in doc.get("most_influential", []) if "×" not in r["input"]][:3]
    if key is None or not top:
        return None
    y = results.column(key).to_numpy()
    fig, axes = plt.subplots(1, len(top), figsize=(4.2 * len(top), 3.4), squeeze=False)
    for ax, name in zip(axes[0], top, strict=True):
        x = design.column(name).to_pylist()
        if x and isinstance(x[0], str):
            categories = sorted(set(x))
            x = [categories.index(v) for v in x]
            ax.set_xticks(range(len(categories)), categories)
        ax.scatter(x, y, s=6, alpha=0.4, color="#4c78a8")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel(name)
        ax.set_ylabel(key)
    fig.suptitle(f"{key} against the most influential inputs", fontsize=10)
    return _save(fig, path)


def convergence_plot(path: Path, doc: dict[str, Any], tables: dict[str, pa.Table]) -> Path | None:
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
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for name in dict.fromkeys(r["input"] for r in rows):
        pts = sorted(
            (r["runs"], r["value"], r["conf_low"], r["conf_high"])
            for r in rows
            if r["input"] == name
        )
        n, v, lo, hi = (np.array(c, dtype=float) for c in zip(*pts, strict=True))
        (line,) = ax.plot(n, v, marker="o", ms=3, label=name)
        ax.fill_between(n, lo, hi, color=line.get_color(), alpha=0.15)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("runs")
    ax.set_ylabel(str(index))
    ax.set_title(f"convergence of {index} for {key}", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def write_study_plots(
    out_dir: Path,
    study: Study,
    design: pa.Table,
    results: pa.Table,
    doc: dict[str, Any],
    tables: dict[str, pa.Table],
) -> list[Path]:
    """Write the study's figures into ``out_dir``; return the paths written."""
    made = [
        savings_histogram(out_dir / PLOTS[0], study, results),
        indices_plot(out_dir / PLOTS[1], doc, tables),
        savings_vs_inputs(out_dir / PLOTS[2], design, results, doc),
        convergence_plot(out_dir / PLOTS[3], doc, tables),
    ]
    return [p for p in made if p is not None]
