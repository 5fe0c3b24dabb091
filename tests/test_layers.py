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


def test_every_module_imports_on_its_own() -> None:
    """Each module imports first in a fresh interpreter (no import cycle that only the order of
    ``import sim`` used to hide: ``import sim.meters`` once failed)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    modules = sorted(
        ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        for p in (root / "sim").rglob("*.py")
        if p.name != "__main__.py"
    )
    script = (
        "import os, subprocess, sys\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "def check(m):\n"
        "    r = subprocess.run([sys.executable, '-c', f'import {m}'], capture_output=True, "
        "text=True)\n"
        "    return m + ': ' + (r.stderr.strip().splitlines() or [''])[-1] if r.returncode else ''\n"
        "with ThreadPoolExecutor(os.cpu_count() or 2) as pool:\n"
        "    print('\\n'.join(b for b in pool.map(check, sys.argv[1:]) if b))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *modules], capture_output=True, text=True, cwd=root,
        timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", done.stdout
