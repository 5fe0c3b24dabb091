"""Small studies for the tests: short horizons and small volumes, so every run takes milliseconds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "configs" / "seed.toml"
SHIPPED = ROOT / "configs" / "studies" / "seed-sensitivity.toml"

#: The seed's options the studies compare (the ALB and the REST and HTTP APIs): its function URL
#: and CloudFront options are not simulated.
ONLY_STUDIED = ("lambda_url.enabled=false", "cloudfront.origins=[]")
#: A one-day, low-volume seed scenario: request fidelity runs it in a few milliseconds.
SMALL_BASE = (
    "scenario.duration_days=1",
    "traffic.requests_per_day=2e5",
    "traffic.peak_requests_per_s=5",
    *ONLY_STUDIED,
)

INPUTS = """
[[inputs]]
name = "volume"
field = "traffic.requests_per_day"
distribution = "loguniform"
low = 1e5
high = 1e6

[[inputs]]
name = "peak_factor"
field = "traffic.peak_requests_per_s"
relative_to = "traffic.mean_requests_per_s"
distribution = "triangular"
low = 1.2
mode = 2.0
high = 4.0

[[inputs]]
name = "rules"
field = "alb.rules_processed"
distribution = "uniform"
low = 5
high = 40

[[inputs]]
name = "request_bytes"
field = "payload.request.bytes"
distribution = "lognormal"
median = 1024
sigma = 0.5
truncate = { low = 100, high = 100000 }
"""


def study_text(
    *,
    name: str = "small",
    runs: int = 24,
    method: str = "latin_hypercube",
    chunk_size: int | None = 4,
    fidelity: str = "request",
    base_set: tuple[str, ...] = SMALL_BASE,
    inputs: str = INPUTS,
    extra_study: str = "",
    extra: str = "",
    seed: int = 7,
) -> str:
    """A study file's text (its base is the shipped seed scenario, made small)."""
    chunk = f"chunk_size = {chunk_size}\n" if chunk_size is not None else ""
    sets = ", ".join(f'"{s}"' for s in base_set)
    return (
        f'[study]\nname = "{name}"\nruns = {runs}\nseed = {seed}\nfidelity = "{fidelity}"\n'
        f"{chunk}{extra_study}\n"
        f'[base]\npath = "{SEED.as_posix()}"\nset = [{sets}]\n\n'
        f'[design]\nmethod = "{method}"\nbootstrap = 100\n\n'
        f"{inputs}\n{extra}"
    )


def write_study(tmp: Path, filename: str = "study.toml", **kwargs: Any) -> Path:
    """Write :func:`study_text` to ``tmp / filename``."""
    path = tmp / filename
    path.write_text(study_text(**kwargs), encoding="utf-8")
    return path


def sim_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sim ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (relative name -> bytes): to prove a directory was not touched."""
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }
