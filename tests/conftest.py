"""Shared fixtures: small scenarios built from the shipped seed file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sim.config import Scenario, apply_overrides, read_toml, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SEED = CONFIGS / "seed.toml"
TRACES = ROOT.parent / "shared" / "traces"


def scenario_with(*overrides: str, base: Path = SEED) -> Scenario:
    """The seed scenario (or ``base``) with ``--set`` style overrides."""
    data: dict[str, Any] = apply_overrides(read_toml(base), overrides)
    return scenario_from_dict(data, str(base))


@pytest.fixture
def seed_data() -> dict[str, Any]:
    return read_toml(SEED)


def metered(scenario: Scenario, **kwargs: Any) -> Any:
    """The meter table as ``meters.parquet`` holds it: the engine's facts and the derived columns
    (LCU dimensions, GB-seconds ...) under the scenario's pricing settings."""
    from sim.engine import simulate
    from sim.pricing.derive import derive_columns

    return derive_columns(simulate(scenario, **kwargs), scenario)
