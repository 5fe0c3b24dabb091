"""Golden summaries of the shipped scenarios, plus checks that do not depend on the golden file.

A golden mismatch means a change moved the numbers: if that was the intent, regenerate with
``python tests/golden/regenerate.py`` and say why in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture(
    scope="module",
    params=["seed", "low-traffic", "high-throughput", "seed-with-waf", "internal-api"],
)
def case(request: pytest.FixtureRequest) -> tuple[dict[str, object], dict[str, object]]:
    from golden.regenerate import golden_numbers

    expected = json.loads((GOLDEN / f"{request.param}.json").read_text())
    return expected, golden_numbers(request.param)


def test_matches_golden(case: tuple[dict[str, object], dict[str, object]]) -> None:
    expected, got = case
    assert got["requests"] == expected["requests"]
    assert got["peak_rps"] == expected["peak_rps"]
    assert got["dominant_lcu_dimension"] == expected["dominant_lcu_dimension"]
    assert got["lcu_hours"] == pytest.approx(expected["lcu_hours"], rel=1e-9)
    for key in ("totals_usd", "front_door_usd"):
        assert got[key] == pytest.approx(expected[key], rel=1e-9)
    assert got["ranking"] == expected["ranking"]
    assert got["excluded"] == expected["excluded"]


def test_seed_month_is_what_the_inputs_imply() -> None:
    """Independent of the golden file: the seed month against the reference case's arithmetic."""
    from golden.regenerate import golden_numbers

    got = golden_numbers("seed")
    n = got["requests"]
    expected_n = 5_000_000 * 30
    assert abs(n - expected_n) < 5 * np.sqrt(expected_n)  # Poisson total
    fd = got["front_door_usd"]
    assert fd["apigw_rest"] == pytest.approx(n * 3.5e-6, rel=1e-12)  # all in the first tier
    assert fd["apigw_http"] == pytest.approx(n * 1.0e-6, rel=1e-12)  # 1 KB: one unit each
    # processed bytes dominate every hour: LCU-hours = 2048 bytes × n / 0.4 GB
    assert got["lcu_hours"] == pytest.approx(2048 * n / 0.4e9, rel=1e-12)
    assert fd["alb"] == pytest.approx(
        720 * (0.0225 + 2 * 0.005) + got["lcu_hours"] * 0.008, rel=1e-12
    )
    # today's doors on the same month: no front-door charge for a function URL; CloudFront's
    # requests after the Always Free 10 M, and behind it the origin's own front-door bill (the ALB
    # still dominated by processed bytes: CloudFront forwards every request when it caches nothing)
    assert fd["lambda_url"] == 0
    edge = (n - 10_000_000) * 1e-6
    assert fd["cloudfront_lambda_url"] == pytest.approx(edge, rel=1e-12)
    assert fd["cloudfront_apigw_rest"] == pytest.approx(edge + fd["apigw_rest"], rel=1e-12)
    assert fd["cloudfront_apigw_http"] == pytest.approx(edge + fd["apigw_http"], rel=1e-12)
    assert fd["cloudfront_alb"] == pytest.approx(edge + fd["alb"], rel=1e-12)
    assert got["excluded"] == {} and got["ranking"][0] == "lambda_url"
