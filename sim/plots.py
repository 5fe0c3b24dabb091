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
) -> list[Path]:
    """Write the cost timeline, cumulative cost and LCU-dimension figures; return their paths.

    Each PNG carries ``provenance`` in a text chunk (see :func:`sim.output.figure_writer`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    times = meters.column("hour").to_numpy().astype("datetime64[s]")
    hours = pc.cast(meters.column("hour"), pa.int64()).to_numpy()
    per_hour = _hourly_cost(costs, len(times), hours)
    paths = []

    fig, ax = plt.subplots(figsize=(11, 4.5))
    for option, series in per_hour.items():
        ax.step(times, series, where="post", label=option, linewidth=1)
    ax.set_ylabel("USD per hour (all components)")
    ax.set_title(f"{title}: cost per hour")
    _finish(ax, fig)
    paths.append(_save(fig, out / PLOTS[0], provenance))

    fig, ax = plt.subplots(figsize=(11, 4.5))
    for option, series in per_hour.items():
        ax.plot(times, np.cumsum(series), label=f"{option} (${series.sum():,.2f})")
    ax.set_ylabel("cumulative USD")
    ax.set_title(f"{title}: cumulative cost")
    _finish(ax, fig)
    paths.append(_save(fig, out / PLOTS[1], provenance))

    fig, ax = plt.subplots(figsize=(11, 4.5))
    for dim in LCU_DIMENSIONS:
        ax.plot(times, meters.column(f"lcu_{dim}").to_numpy(), label=dim, linewidth=1)
    ax.plot(
        times,
        meters.column("lcu").to_numpy(),
        label="LCU billed (max)",
        color="black",
        linewidth=1.4,
        linestyle="--",
    )
    ax.set_ylabel("LCU")
    ax.set_title(f"{title}: ALB LCU dimensions per hour")
    _finish(ax, fig)
    paths.append(_save(fig, out / PLOTS[2], provenance))
    return paths


def _finish(ax: Axes, fig: Figure) -> None:
    import matplotlib.dates as mdates

    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.set_xlabel("time (UTC)")
    fig.tight_layout()


def _save(fig: Figure, path: Path, provenance: dict[str, Any] | None) -> Path:
    from sim.output import figure_writer

    figure_writer(fig, provenance)(path)
    return path
