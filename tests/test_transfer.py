"""``[transfer] enabled = false``: data transfer left out of every option's bill (a front-door-only
comparison), the same way in costs.parquet, the summary and a re-priced run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from conftest import scenario_with

import sim
from sim.errors import ConfigError

#: The seed (every public option, CloudFront in front of four) for six hours, without free data
#: transfer, so that every option pays some.
BASE = (
    "scenario.duration_days=0.25",
    "pricing.free_tier='none'",
)
#: A private API: PrivateLink's GB processed is its transfer charge.
PRIVATE = (
    *BASE,
    "requirements.private=true",
    "lattice.enabled=true",
    "cloudfront.origins=[]",
)


def cents(usd: float) -> int:
    return round(usd * 100)


def transfer_rows(costs: Any) -> int:
    return int(pc.sum(pc.equal(costs.column("category"), "transfer")).as_py() or 0)


@pytest.mark.parametrize("base", [BASE, PRIVATE], ids=["public", "private"])
def test_each_total_falls_by_its_transfer_component(base: tuple[str, ...], tmp_path: Path) -> None:
    whole = sim.run(scenario_with(*base), tmp_path / "whole", plots=False)
    front = sim.run(scenario_with(*base, "transfer.enabled=false"), tmp_path / "front", plots=False)
    assert whole.meters.equals(front.meters)  # the same traffic: only the bill changes
    before, after = whole.summary["options"], front.summary["options"]
    assert set(before) == set(after)
    assert sum(t["transfer_usd"] > 0 for t in before.values()) >= 1
    for option, was in before.items():
        now = after[option]
        assert cents(now["total_usd"]) == cents(was["total_usd"] - was["transfer_usd"]), option
        assert now["transfer_usd"] == 0.0
        assert now["front_door_usd"] == pytest.approx(was["front_door_usd"], abs=1e-9)
        assert now["backend_usd"] == pytest.approx(was["backend_usd"], abs=1e-9)
        per_30 = (now["per_30_days_usd"], was["per_30_days_usd"])
        assert cents(per_30[0]["total_usd"]) == cents(
            per_30[1]["total_usd"] - per_30[1]["transfer_usd"]
        )
        assert now["left_out"] == ["transfer"]
        assert "left_out" not in was
    # costs.parquet holds no transfer row at all, and the same rows otherwise
    assert transfer_rows(whole.costs) > 0 and transfer_rows(front.costs) == 0
    kept = whole.costs.filter(pc.not_equal(whole.costs.column("category"), "transfer"))
    assert kept.equals(front.costs)
    # the summary says what was left out, and why
    assert whole.summary["left_out"] == {}
    assert set(front.summary["left_out"]) == {"transfer"}
    assert "transfer.enabled = false" in front.summary["left_out"]["transfer"]
    written = json.loads((tmp_path / "front" / "summary.json").read_text())
    assert written["left_out"] == front.summary["left_out"]
    for month in front.summary["months"]:
        assert all(t["transfer_usd"] == 0.0 for t in month["options"].values())


def test_backend_left_out_is_said_too() -> None:
    s = scenario_with(
        *BASE, "backend.enabled=false", "transfer.enabled=false", "cloudfront.origins=[]"
    )
    summary = sim.run(s).summary
    assert set(summary["left_out"]) == {"backend", "transfer"}
    assert all(t["left_out"] == ["backend", "transfer"] for t in summary["options"].values())
    assert all(t["total_usd"] == t["front_door_usd"] for t in summary["options"].values())


def test_transfer_enabled_is_strict() -> None:
    with pytest.raises(ConfigError) as exc:
        scenario_with("transfer.enabled=0")
    assert "expected true or false" in dict(exc.value.problems)["transfer.enabled"]
    with pytest.raises(ConfigError) as exc:
        scenario_with("transfer.enable=false")
    assert "did you mean 'enabled'" in dict(exc.value.problems)["transfer.enable"]


def test_reprice_turns_transfer_off_without_simulating(tmp_path: Path) -> None:
    from sim.reprice import PRICING_ONLY, reprice

    assert "transfer" in PRICING_ONLY
    stored = tmp_path / "run"
    sim.run(scenario_with(*BASE, "cloudfront.origins=[]"), stored, plots=False)
    repriced = reprice(stored, tmp_path / "re", ["transfer.enabled=false"], plots=False)
    fresh = sim.run(scenario_with(*BASE, "cloudfront.origins=[]", "transfer.enabled=false"))
    assert repriced.costs.equals(fresh.costs)
    assert repriced.summary["options"] == fresh.summary["options"]
    assert repriced.summary["left_out"] == fresh.summary["left_out"]
    # and back on, from the run without it
    back = reprice(tmp_path / "re", None, ["transfer.enabled=true"])
    assert back.costs.equals(sim.run(scenario_with(*BASE, "cloudfront.origins=[]")).costs)
