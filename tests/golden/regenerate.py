"""Regenerate the golden summaries: ``python tests/golden/regenerate.py``.

Run it only when a change is *meant* to move the numbers (a model fix, a new price book), and say why
in the commit. The cases are the shipped scenarios, shortened where a full month would slow the suite.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

CASES: dict[str, list[str]] = {
    "seed": [],
    "low-traffic": [],
    "high-throughput": ["scenario.duration_days=1"],
    "seed-with-waf": ["scenario.duration_days=2"],
    "internal-api": [],
}


@functools.cache
def golden_numbers(name: str) -> dict[str, object]:
    import sim
    from sim.config import load_scenario

    path = HERE.parents[1] / "configs" / f"{name}.toml"
    summary = sim.run(load_scenario(path, CASES[name])).summary
    return {
        "overrides": CASES[name],
        "requests": summary["traffic"]["requests"],
        "peak_rps": summary["traffic"]["peak_rps"],
        "lcu_hours": summary["alb"]["lcu_hours"],
        "dominant_lcu_dimension": summary["alb"]["dominant_lcu_dimension"],
        "totals_usd": {o: t["total_usd"] for o, t in summary["options"].items()},
        "front_door_usd": {o: t["front_door_usd"] for o, t in summary["options"].items()},
        "ranking": [r["option"] for r in summary["ranking"]],
        "excluded": {e["option"]: e["because"] for e in summary["excluded"]},
    }


if __name__ == "__main__":
    for case in CASES:
        (HERE / f"{case}.json").write_text(json.dumps(golden_numbers(case), indent=2) + "\n")
        print(f"wrote {case}.json")
