"""``sim traffic CONFIG``: see the request stream before pricing it.

:func:`inspect_traffic` draws the scenario's arrivals exactly as the ``request`` engine does (same
seed streams, same windows, same draws: the stream shown is the stream ``sim run`` prices) and plots
the simulated rate against the configured (expected) one:

* per hour: simulated requests / 3600 against the expected mean rate of the hour, with each hour's
  busiest second;
* per second: the three hours around the busiest second, simulated counts against the expected rate.

The expected rate is the arrival process's ``expected_per_s``: the profile, flash crowds by their
long-run mean, bursts normalised (so bursts show as departures from it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from sim.traffic.arrivals import DetailedArrivalProcess, arrivals_for

if TYPE_CHECKING:
    from sim.config import Scenario

SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class TrafficView:
    """The simulated and expected counts of every second of the (possibly shortened) period."""

    start_epoch_s: int  # the first second
    counts: NDArray[np.int64]  # simulated requests per second
    expected: NDArray[np.float64]  # expected requests per second
    first_hour_epoch_s: int  # the clock hour the first second is in

    @property
    def hours(self) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
        """Per clock hour: simulated requests, expected requests, busiest second."""
        offset = self.start_epoch_s - self.first_hour_epoch_s
        hour = (np.arange(self.counts.size) + offset) // SECONDS_PER_HOUR
        n = int(hour[-1]) + 1 if hour.size else 0
        sim = np.bincount(hour, weights=self.counts, minlength=n).astype(np.int64)
        exp = np.asarray(np.bincount(hour, weights=self.expected, minlength=n), dtype=np.float64)
        peak = np.zeros(n, dtype=np.int64)
        np.maximum.at(peak, hour, self.counts)
        return sim, exp, peak

    def summary(self) -> dict[str, Any]:
        sim, exp, _ = self.hours
        seconds = max(1, self.counts.size)
        z = (sim - exp) / np.sqrt(np.maximum(exp, 1e-12))
        return {
            "seconds": int(self.counts.size),
            "requests": int(self.counts.sum()),
            "expected_requests": float(self.expected.sum()),
            "mean_rps": float(self.counts.sum() / seconds),
            "expected_mean_rps": float(self.expected.sum() / seconds),
            "peak_rps": int(self.counts.max(initial=0)),
            "expected_peak_rps": float(self.expected.max(initial=0.0)),
            "busiest_hour_rps": float(sim.max(initial=0) / SECONDS_PER_HOUR),
            # per-hour dispersion: ≈ 1 for a Poisson stream, larger for bursts and sessions
            "hourly_dispersion": float(np.mean(z**2)) if z.size else float("nan"),
        }


def simulate_traffic(
    scenario: Scenario, *, seed: int | None = None, days: float | None = None
) -> TrafficView:
    """The arrivals of ``scenario`` (its first ``days`` days), as the request engine draws them."""
    from sim.engine.core import Horizon
    from sim.rng import run_seed_sequence, streams

    root = scenario.scenario.seed if seed is None else seed
    rng = streams(run_seed_sequence(root))["arrivals"]
    horizon = Horizon.of(scenario, warmup=True)  # as the engine: a warm-up's counts come first
    end = (
        horizon.end_s if days is None else min(horizon.end_s, horizon.start_s + round(days * 86400))
    )
    process = arrivals_for(scenario)
    detailed = isinstance(process, DetailedArrivalProcess)
    origin = horizon.origin_epoch_s
    counts: list[NDArray[np.int64]] = []
    expected: list[NDArray[np.float64]] = []
    for a, b in horizon.batches(scenario.engine.batch_s):
        if a >= end:
            break
        mids = (origin + np.arange(a, b, dtype=np.int64) + 0.5).astype(np.float64)
        warm = b <= horizon.start_s  # drawn, as the engine draws it, and not shown
        if not warm:
            expected.append(process.expected_per_s(mids))
        if detailed:
            assert isinstance(process, DetailedArrivalProcess)
            c = process.window(rng, mids).counts
        else:
            c = process.counts(rng, mids)  # the engine's counts: the stream draws nothing else
        if not warm:
            counts.append(c)
    n = end - horizon.start_s
    return TrafficView(
        origin + horizon.start_s,
        np.concatenate(counts)[:n].astype(np.int64),
        np.concatenate(expected)[:n],
        origin + horizon.first_hour * SECONDS_PER_HOUR,
    )


def traffic_figure(view: TrafficView, title: str) -> Any:
    """Two panels: per hour over the period, per second around the busiest second (a matplotlib
    figure; :func:`sim.output.figure_writer` saves it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    sim, exp, peak = view.hours
    hour_t = (view.first_hour_epoch_s + np.arange(sim.size) * SECONDS_PER_HOUR).astype(
        "datetime64[s]"
    )
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7.5))
    ax1.step(hour_t, peak, where="post", color="0.75", linewidth=0.8, label="busiest second")
    ax1.step(hour_t, sim / SECONDS_PER_HOUR, where="post", linewidth=1.2, label="simulated")
    ax1.step(
        hour_t,
        exp / SECONDS_PER_HOUR,
        where="post",
        linewidth=1.2,
        linestyle="--",
        color="black",
        label="configured (expected)",
    )
    ax1.set_ylabel("requests/s (hourly mean)")
    ax1.set_title(f"{title}: per hour")
    ax1.legend(loc="upper right", fontsize=8)
    _dates(ax1, mdates)

    k = int(np.argmax(view.counts)) if view.counts.size else 0
    lo = max(0, k - 90 * 60)
    hi = min(view.counts.size, lo + 3 * SECONDS_PER_HOUR)
    sec_t = (view.start_epoch_s + np.arange(lo, hi)).astype("datetime64[s]")
    ax2.plot(sec_t, view.counts[lo:hi], linewidth=0.5, label="simulated, per second")
    ax2.plot(
        sec_t,
        view.expected[lo:hi],
        linewidth=1.2,
        color="black",
        linestyle="--",
        label="configured (expected)",
    )
    ax2.set_ylabel("requests in the second")
    ax2.set_title("per second, around the busiest second")
    ax2.legend(loc="upper right", fontsize=8)
    _dates(ax2, mdates)
    fig.tight_layout()
    return fig


def _dates(ax: Any, mdates: Any) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def inspect_traffic(
    scenario: Scenario,
    out: str | Path,
    *,
    seed: int | None = None,
    days: float | None = None,
    into_directory: bool = True,
) -> dict[str, Any]:
    """Simulate the scenario's arrivals and write the figure: as ``traffic.png`` into the result
    directory ``out`` (``into_directory``), or to the PNG file ``out``. Returns a summary
    (``"figure"``: the file written)."""
    from sim.output import figure_writer, write_file, write_result

    view = simulate_traffic(scenario, seed=seed, days=days)
    prov = {
        "scenario": scenario.scenario.name,
        "config_hash": scenario.config_hash(),
        "seed": scenario.scenario.seed if seed is None else seed,
        "days": days,
    }
    writer = figure_writer(traffic_figure(view, scenario.scenario.name), prov)
    if into_directory:
        write_result(out, "traffic", {TRAFFIC_PNG: writer})
        figure = Path(out) / TRAFFIC_PNG
    else:
        write_file(out, writer)
        figure = Path(out)
    return {**view.summary(), "figure": str(figure)}


#: The figure's name in a result directory.
TRAFFIC_PNG = "traffic.png"


def format_summary(summary: dict[str, Any]) -> list[str]:
    """Lines for the terminal."""
    s = summary
    return [
        f"requests {s['requests']:,} (expected {s['expected_requests']:,.0f}) over "
        f"{s['seconds'] / 86400:g} days",
        f"mean {s['mean_rps']:.2f} req/s (configured {s['expected_mean_rps']:.2f}); busiest second "
        f"{s['peak_rps']:,} (highest expected rate {s['expected_peak_rps']:.1f}); busiest hour "
        f"{s['busiest_hour_rps']:.1f} req/s",
        f"hourly dispersion {s['hourly_dispersion']:.2f} (1 for a Poisson stream)",
        f"wrote {s['figure']}",
    ]
