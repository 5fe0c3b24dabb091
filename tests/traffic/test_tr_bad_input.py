"""Bad traffic input: a clear error naming the field (or file and line), exit status 2, no output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SEED, scenario_with

from sim.errors import ConfigError

PROFILE = "traffic={model='profile', requests_per_s=10, "


def problems(*overrides: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        scenario_with(*overrides)
    assert exc.value.path == str(SEED)
    return dict(exc.value.problems)


@pytest.mark.parametrize(
    ("override", "field", "expected"),
    [
        (
            PROFILE + "burst={model='hawkes', branching_ratio=1.0, decay_s=1}}",
            "traffic.burst.branching_ratio",
            "must be below 1",
        ),
        (
            PROFILE + "burst={model='hawkes', branching_ratio=1.7, decay_s=1}}",
            "traffic.burst.branching_ratio",
            "must be below 1",
        ),
        (
            "traffic={model='profile', requests_per_s=-3}",
            "traffic.requests_per_s",
            "greater than 0",
        ),
        (
            "traffic={model='profile', requests_per_day=0}",
            "traffic.requests_per_day",
            "greater than 0",
        ),
        (
            PROFILE + "burst={model='mmpp', levels=[1, -2], sojourn_s=[1, 1]}}",
            "traffic.burst",
            "levels must be finite, ≥ 0",
        ),
        (
            PROFILE + "burst={model='mmpp', levels=[1, 2], sojourn_s=[1, 1], "
            "transitions=[[0, 1.5], [1, 0]]}}",
            "traffic.burst",
            "must be in [0, 1]",
        ),
        (
            PROFILE + "burst={model='mmpp', levels=[1, 2, 3], sojourn_s=[1, 1, 1], "
            "transitions=[[0, -0.5, 1.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]}}",
            "traffic.burst",
            "must be in [0, 1]",
        ),
        (
            PROFILE + "burst={model='mmpp', levels=[1, 2], sojourn_s=[1]}}",
            "traffic.burst",
            "sojourn_s needs 2 values",
        ),
        (
            PROFILE + "burst={model='on_off', sources=0, on_mean_s=1, off_mean_s=1}}",
            "traffic.burst.sources",
            "greater than or equal to 1",
        ),
        (
            PROFILE + "burst={model='on_off', sources=5, on_mean_s=1, off_mean_s=1, "
            "pareto_shape=1}}",
            "traffic.burst.pareto_shape",
            "greater than 1",
        ),
        (
            "traffic={model='profile', requests_per_day=1e6, peak_requests_per_s=5, "
            "factors=[{model='daily_cycle'}]}",
            "traffic",
            "cannot be reached",
        ),
        (
            "traffic={model='profile', requests_per_day=1e6, peak_requests_per_s=50}",
            "traffic",
            "cannot be reached",
        ),
        (
            "traffic={model='profile', requests_per_day=1e6, peak_requests_per_s=14, "
            "factors=[{model='daily_cycle'}, {model='weekly_cycle', weekday=1, weekend=0.2}]}",
            "traffic",
            "cannot be reached",
        ),
        (
            "traffic={model='profile', requests_per_day=86400, peak_requests_per_s=2e5, "
            "factors=[{model='daily_cycle'}]}",
            "traffic",
            "cannot be reached",
        ),
        (
            "traffic={model='profile', requests_per_s=1, factors=[{model='daily_cycle'}]}",
            "traffic",
            "needs peak_to_mean, hourly",
        ),
        (
            PROFILE + "factors=[{model='daily_cycle', hourly=[1, 2]}]}",
            "traffic.factors.0.hourly",
            "needs 24 values",
        ),
        (
            PROFILE + "factors=[{model='daily_cycle', peak_to_mean=0.5}]}",
            "traffic.factors.0.peak_to_mean",
            "greater than or equal to 1",
        ),
        (
            PROFILE + "factors=[{model='weekly_cycle', weekend=-1}]}",
            "traffic.factors.0.weekend",
            "greater than or equal to 0",
        ),
        (
            PROFILE + "factors=[{model='trend', growth_per_month=-1}]}",
            "traffic.factors.0.growth_per_month",
            "greater than -1",
        ),
        (
            PROFILE + "factors=[{model='scheduled_peak', start=2026-11-02T00:00:00Z, plateau_s=0, "
            "multiplier=2}]}",
            "traffic.factors.0",
            "must be > 0",
        ),
        (
            PROFILE + "factors=[{model='flash_crowds', per_day=-1}]}",
            "traffic.factors.0.per_day",
            "greater than 0",
        ),
        (
            PROFILE + "factors=[{model='flash_crowds', per_day=1, amplitude_shape=0.9}]}",
            "traffic.factors.0.amplitude_shape",
            "greater than 1",
        ),
        (PROFILE + "factors=[{model='wobble'}]}", "traffic.factors.0", "unknown model 'wobble'"),
        (
            "payload.routes=[{name='a', share=1.5}]",
            "payload.routes.0.share",
            "less than or equal to 1",
        ),
        (
            "payload.routes=[{name='a', share=-0.1}, {name='b', share=1.1}]",
            "payload.routes.0.share",
            "greater than or equal to 0",
        ),
        (
            "payload={routes=[{name='a', share=0.5}, {name='b', share=0.4}]}",
            "payload",
            "must sum to 1",
        ),
        (
            "payload.response={model='empirical', edges_bytes=[1, 2], weights=[1, 2]}",
            "payload.response",
            "needs 3 edges",
        ),
        (
            "payload.response={model='empirical', edges_bytes=[5, 2, 9], weights=[1, 2]}",
            "payload.response",
            "strictly increasing",
        ),
        (
            "payload.request={model='empirical', values_bytes=[10, 20], weights=[1, -1]}",
            "payload.request",
            "weights must be finite, ≥ 0",
        ),
        (
            "connections={model='sessions', idle_timeout_s=0}",
            "connections.idle_timeout_s",
            "greater than or equal to 1",
        ),
        (
            "connections={model='sessions', think_time_s=-5}",
            "connections.think_time_s",
            "greater than 0",
        ),
        (
            "connections={model='sessions', requests_per_session=0.5}",
            "connections.requests_per_session",
            "greater than or equal to 1",
        ),
    ],
)
def test_bad_values_name_the_field(override: str, field: str, expected: str) -> None:
    found = problems(override)
    assert field in found, found
    assert expected in found[field], found[field]


def sim_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_exits_2_without_output(tmp_path: Path) -> None:
    """One process for several checks is too coarse: each bad input is its own run."""
    bad = tmp_path / "bad.toml"
    text = SEED.read_text().replace(
        'model = "daily_cycle"',
        'model = "profile"\nfactors = [{ model = "daily_cycle" }]\n'
        'burst = { model = "hawkes", branching_ratio = 1.2, decay_s = 1 }',
    )
    bad.write_text(text)
    for command in (
        ["validate", str(bad)],
        ["run", str(bad), "--out", str(tmp_path / "out")],
        ["traffic", str(bad), "--out", str(tmp_path / "t.png")],
    ):
        r = sim_cli(*command)
        assert r.returncode == 2, r.stderr
        assert r.stdout == ""
        assert "traffic.burst.branching_ratio" in r.stderr and "below 1" in r.stderr
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "t.png").exists()
