"""``sim traffic CONFIG``: the stream it shows is the stream ``sim run`` prices; the figure is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED, scenario_with

from sim.engine import simulate
from sim.traffic.inspect import simulate_traffic


@pytest.mark.parametrize(
    "overrides",
    [
        (),
        (
            "traffic={model='profile', requests_per_day=2e6, peak_requests_per_s=50, "
            "factors=[{model='daily_cycle'}, {model='flash_crowds', per_day=3}], "
            "burst={model='mmpp', levels=[1, 3], sojourn_s=[600, 60]}}",
        ),
        ("connections={model='sessions', requests_per_session=6, think_time_s=8}",),
    ],
)
def test_the_shown_stream_is_the_priced_stream(overrides: tuple[str, ...]) -> None:
    s = scenario_with(*overrides, "scenario.duration_days=0.5")
    view = simulate_traffic(s)
    sim_hours, expected_hours, peak = view.hours
    meters = simulate(s)
    assert sim_hours.tolist() == meters.column("requests").to_numpy().tolist()
    assert peak.tolist() == meters.column("peak_rps").to_numpy().tolist()
    assert np.all(expected_hours > 0)


def test_cli_writes_the_figure(tmp_path: Path) -> None:
    out = tmp_path / "traffic.png"
    r = subprocess.run(
        [sys.executable, "-m", "sim", "traffic", str(SEED), "--days", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = " ".join(r.stdout.split())
    assert "configured 57.87" in text and "hourly dispersion" in text
