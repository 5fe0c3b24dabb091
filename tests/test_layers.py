"""The import rules of DESIGN.md: pricing never imports the engine or SimPy; the engine never knows a
price."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "sim"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


@pytest.mark.parametrize("path", modules("pricing"), ids=lambda p: p.name)
def test_pricing_never_imports_the_engine(path: Path) -> None:
    bad = {
        m
        for m in imports(path)
        if m.startswith(("sim.engine", "simpy", "sim.traffic", "sim.meters"))
    }
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", modules("engine") + modules("traffic"), ids=lambda p: p.name)
def test_engine_and_traffic_never_know_a_price(path: Path) -> None:
    bad = {m for m in imports(path) if m.startswith("sim.pricing")}
    assert not bad, f"{path.name} imports {bad}"
