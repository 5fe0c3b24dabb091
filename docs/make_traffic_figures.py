"""Make the pictures of docs/TRAFFIC.md: one per traffic model, from the seed scenario with overrides.

    python docs/make_traffic_figures.py            # writes docs/img/traffic-*.png (about a minute)

Each traffic figure is what ``sim traffic`` draws (simulated rate against the configured one, per
hour and per second around the busiest second); the connection and payload figures are drawn here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.config import Scenario, apply_overrides, read_toml, scenario_from_dict  # noqa: E402
from sim.engine import simulate  # noqa: E402
from sim.traffic.connections import build_connection_model  # noqa: E402
from sim.traffic.inspect import simulate_traffic, traffic_figure  # noqa: E402
from sim.traffic.payloads import build_payload  # noqa: E402

SEED = ROOT / "configs" / "seed.toml"
OUT = ROOT / "docs" / "img"

TRAFFIC = {
    "profile": (
        "traffic={model='profile', requests_per_day=5e6, peak_requests_per_s=120, factors=["
        "{model='daily_cycle', peak_hour_utc=15}, {model='weekly_cycle', weekend=0.55}, "
        "{model='trend', growth_per_month=0.15}, {model='scheduled_peak', "
        "start=2026-11-05T18:00:00Z, ramp_up_s=1800, plateau_s=5400, decay_s=3600, multiplier=3}]}",
        14,
    ),
    "hourly-shape": (
        "traffic={model='profile', requests_per_day=5e6, factors=[{model='daily_cycle', "
        "hourly=[2,1,1,1,1,2,4,7,9,9,8,8,9,9,8,7,6,6,7,8,8,6,4,3]}]}",
        3,
    ),
    "flash-crowds": (
        "traffic={model='profile', requests_per_day=5e6, peak_requests_per_s=120, factors=["
        "{model='daily_cycle', peak_hour_utc=15}, {model='flash_crowds', per_day=0.5, "
        "amplitude_min=2, amplitude_shape=1.5, amplitude_max=20, duration_s=1800}]}",
        10,
    ),
    "mmpp": (
        "traffic={model='profile', requests_per_s=60, burst={model='mmpp', levels=[0.7, 3], "
        "sojourn_s=[900, 60]}}",
        2,
    ),
    "hawkes": (
        "traffic={model='profile', requests_per_s=60, burst={model='hawkes', branching_ratio=0.8, "
        "decay_s=3}}",
        2,
    ),
    "on-off": (
        "traffic={model='profile', requests_per_s=60, burst={model='on_off', sources=30, "
        "on_mean_s=20, off_mean_s=60, pareto_shape=1.4}}",
        2,
    ),
    "replay-nasa": ("@nasa-replay", 14),
    "replay-worldcup98": ("@worldcup98-replay", 30),
}


def scenario(override: str, days: float) -> Scenario:
    if override.startswith("@"):
        path = ROOT / "configs" / f"{override[1:]}.toml"
        data = apply_overrides(read_toml(path), [f"scenario.duration_days={days}"])
        return scenario_from_dict(data, str(path))
    data = apply_overrides(read_toml(SEED), [override, f"scenario.duration_days={days}"])
    return scenario_from_dict(data, str(SEED))


def traffic_figures() -> None:
    for name, (override, days) in TRAFFIC.items():
        if override.startswith("@") and not (ROOT.parent / "shared" / "traces").exists():
            print(f"skip {name}: no traces at ../shared/traces")
            continue
        s = scenario(override, days)
        traffic_figure(simulate_traffic(s), name).savefig(OUT / f"traffic-{name}.png", dpi=110)
        print(f"wrote traffic-{name}.png")


def sessions_figure() -> None:
    s = scenario(
        "connections={model='sessions', requests_per_session=12, think_time_s=15, "
        "idle_timeout_s=60, linger_s=10}",
        3,
    )
    m = simulate(s)
    model = build_connection_model(s.connections)
    hours = m.column("hour").to_numpy().astype("datetime64[s]")
    rps = m.column("mean_rps").to_numpy()
    new = m.column("new_connections").to_numpy() / 3600
    active = m.column("active_connections").to_numpy()
    little = rps * model.expected_new_per_request() * model.expected_lifetime_s()
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.step(hours, rps, where="post", label="requests/s")
    ax.step(hours, new, where="post", label="new connections/s")
    ax.step(hours, active, where="post", label="active connections (simulated)")
    ax.step(
        hours,
        little,
        where="post",
        color="black",
        linestyle="--",
        label="active connections (Little's law)",
    )
    ax.set_yscale("log")
    ax.set_title("sessions: 12 requests per session, 15 s think time, 60 s idle timeout")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "traffic-sessions.png", dpi=110)
    plt.close(fig)
    print("wrote traffic-sessions.png")


def payload_figure() -> None:
    s = scenario(
        "payload={routes=[{name='GET /items', share=0.7, request={model='fixed', bytes=600}, "
        "response={model='lognormal', mean_bytes=8000, sigma=1.0}}, {name='POST /orders', "
        "share=0.25, request={model='empirical', edges_bytes=[500, 2000, 8000, 64000], "
        "weights=[5, 3, 1]}, response={model='fixed', bytes=400}}, {name='PUT /upload', "
        "share=0.05, request={model='lognormal', mean_bytes=600000, sigma=0.6}, "
        "response={model='fixed', bytes=300}}]}",
        1,
    )
    payload = build_payload(s.payload)
    req, resp = payload.draw(np.random.default_rng(0), 200_000)
    bins = np.logspace(2, 7, 120)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.hist(req, bins=bins, alpha=0.6, label="request bytes")
    ax.hist(resp, bins=bins, alpha=0.6, label="response bytes")
    ax.axvline(524_288, color="black", linestyle="--", linewidth=1, label="512 KB (HTTP API unit)")
    ax.set_xscale("log")
    ax.set_xlabel("bytes (headers included)")
    ax.set_title(
        "payload route mix: GET 70 % (lognormal responses), POST 25 % (histogram "
        "requests), PUT 5 % (large uploads)"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "traffic-payload.png", dpi=110)
    plt.close(fig)
    print("wrote traffic-payload.png")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    traffic_figures()
    sessions_figure()
    payload_figure()
