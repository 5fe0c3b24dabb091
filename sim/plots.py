"""Figures of a run (PNG, matplotlib's Agg backend: no screen needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sim.pricing.derive import LCU_DIMENSIONS

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with this module
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PLOTS = ("cost_per_hour.png", "cumulative_cost.png", "lcu_dimensions.png")


def _hourly_cost(costs: pa.Table, n_hours: int, hours: np.ndarray) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    hour_index = {int(h): i for i, h in enumerate(hours)}
    cost_hours = costs.column("hour").cast(pa.int64()).to_numpy()
    idx = np.fromiter(
        (hour_index[int(h)] for h in cost_hours), dtype=np.int64, count=len(cost_hours)
    )
    options = costs.column("option").to_numpy(zero_copy_only=False)
    cost = costs.column("cost_usd").to_numpy()
    for option in dict.fromkeys(options):
        mask = options == option
        out[str(option)] = np.bincount(idx[mask], weights=cost[mask], minlength=n_hours)
    return out


def write_plots(
    meters: pa.Table,
    costs: pa.Table,
    out_dir: str | Path,
    title: str,
    provenance: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
) -> list[Path]:
    """Write the cost timeline, cumulative cost and LCU-dimension figures; return their paths.

    With ``summary``, the cost figures show the options that meet the requirements in the order
    of their ranking, and name the excluded ones with why beneath.

    Each PNG carries ``provenance`` in a text chunk (see :func:`sim.output.figure_writer`)."""
    out = Path(out_dir)
    return [
        _save(fig, out / name, provenance)
        for name, _, fig in run_figures(meters, costs, title, summary)
    ]


def run_figures(
    meters: pa.Table,
    costs: pa.Table,
    title: str,
    summary: dict[str, Any] | None = None,
) -> list[tuple[str, str, Figure]]:
    """The run's figures as ``(file name, caption, figure)``: cost per hour, cumulative cost and
    the ALB's LCU dimensions (the report draws them as SVG, ``sim run`` as PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = meters.column("hour").to_numpy().astype("datetime64[s]")
    hours = pc.cast(meters.column("hour"), pa.int64()).to_numpy()
    per_hour = _hourly_cost(costs, len(times), hours)
    excluded: list[dict[str, Any]] = []
    if summary is not None and summary.get("ranking"):
        ranked = [r["option"] for r in summary["ranking"]]
        excluded = list(summary.get("excluded", []))
        per_hour = {o: per_hour[o] for o in ranked if o in per_hour}
    figures = []

    fig, ax = plt.subplots(figsize=(12, 4.6))
    for option, series in per_hour.items():
        ax.step(times, series, where="post", label=option, linewidth=1)
    ax.set_ylabel("USD per hour (all components)")
    caption = f"{title}: cost per hour"
    ax.set_title(caption)
    _finish(ax, fig, times, _excluded(fig, excluded))
    figures.append((PLOTS[0], caption, fig))

    fig, ax = plt.subplots(figsize=(12, 4.6))
    per_30 = {
        o: t["per_30_days_usd"]["total_usd"]
        for o, t in (summary or {}).get("options", {}).items()
        if "total_usd" in (t.get("per_30_days_usd") or {})
    }
    for rank, (option, series) in enumerate(per_hour.items(), 1):
        label = f"{option} (\\${series.sum():,.2f})"  # \$: not matplotlib's maths
        if option in per_30:
            label = (
                f"{rank}. {option}\n\\${series.sum():,.2f}; \\${per_30[option]:,.2f} per 30 days"
            )
        ax.plot(times, np.cumsum(series), label=label)
    ax.set_ylabel("cumulative USD")
    caption = f"{title}: cumulative cost (options that meet the requirements, ranked)"
    ax.set_title(caption)
    _finish(ax, fig, times, _excluded(fig, excluded))
    figures.append((PLOTS[1], caption, fig))

    fig, ax = plt.subplots(figsize=(12, 4.6))
    # the billed LCU (the highest dimension each hour) as a wide pale band beneath, so the
    # dimension that sets it stays visible on top of it
    ax.plot(
        times,
        meters.column("lcu").to_numpy(),
        label="LCU billed (the highest dimension)",
        color="0.55",
        alpha=0.35,
        linewidth=5,
        solid_capstyle="butt",
        zorder=1,
    )
    for dim in LCU_DIMENSIONS:
        ax.plot(
            times, meters.column(f"lcu_{dim}").to_numpy(), label=dim.replace("_", " "),
            linewidth=1.2, zorder=3,
        )  # fmt: skip
    ax.set_ylabel("LCU (per hour)")
    caption = f"{title}: ALB LCU dimensions per hour"
    ax.set_title(caption)
    _finish(ax, fig, times)
    figures.append((PLOTS[2], caption, fig))
    return figures


def _excluded(fig: Figure, excluded: list[dict[str, Any]]) -> float:
    """Name the options the requirements rule out, with why, under the axes; the share of the
    figure's height the note takes."""
    if not excluded:
        return 0.0
    lines = [f"excluded: {e['option']}: {'; '.join(e['because'])}" for e in excluded]
    fig.text(0.01, 0.01, "\n".join(line[:170] for line in lines), fontsize=7, va="bottom")
    return 0.02 + 0.035 * len(lines)


def _finish(ax: Axes, fig: Figure, times: np.ndarray, bottom: float = 0.0) -> None:
    """Grid, a legend beside the axes (it hides no data), and a date axis over exactly the period:
    ticks labelled by day (or hour), with the period named in full beneath, never an offset
    taken from the last tick (which named December for a November run)."""
    import matplotlib.dates as mdates

    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    if len(times):
        first = times[0]
        end = times[-1] + np.timedelta64(3600, "s")
        ax.set_xlim(first, end)
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        formatter.offset_formats = ["", "", "", "", "", ""]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(formatter)
        span = f"{_when(first)} to {_when(end)}"
        ax.set_xlabel(f"time (UTC), {span}")
    fig.tight_layout(rect=(0.0, bottom, 1.0, 1.0))


def _when(t: np.datetime64) -> str:
    return str(np.datetime_as_string(t, unit="m")).replace("T", " ")


def _save(fig: Figure, path: Path, provenance: dict[str, Any] | None) -> Path:
    from sim.output import figure_writer

    figure_writer(fig, provenance)(path)
    return path
