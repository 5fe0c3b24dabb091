"""Every front door of today (issue 10): the registry, the requirements, and each new option's bill
recomputed hour by hour from the meters by PRICING.md's rules (an independent re-implementation of
the tiers, allowances and prorations, in plain Python)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import sim
from sim.config import Scenario
from sim.doors import DOORS, assessed
from sim.doors.base import Door, Features
from sim.pricing.book import RegionPrices, load_price_book
from tests.conftest import scenario_with

GIB = 2**30
PRICES: RegionPrices = load_price_book().region("us-east-1")
ORIGINS = ("lambda_url", "alb", "apigw_http", "apigw_rest")


# =========================================================================== the registry
def test_every_door_declares_its_meters_charges_features_and_prices() -> None:
    assert set(DOORS) == {
        "alb", "apigw_rest", "apigw_http", "apigw_rest_cached", "apigw_websocket", "lambda_url",
        "cloudfront", "vpc_lattice",
    }  # fmt: skip
    for name, door in DOORS.items():
        assert isinstance(door, Door) and door.name == name and door.title
        assert isinstance(door.features, Features)
        assert callable(door.options) and callable(door.charges)
        assert door.meters and all(isinstance(m, str) for m in door.meters), name
        # a door either bills nothing of its own (a function URL) or names the entries it needs
        assert door.prices or door.option_prices is not None or name == "lambda_url", name


def test_the_feature_table_is_pricing_mds() -> None:
    """PRICING.md, "What each front door can do": the yes/no rows, door by door."""
    expected = {
        #            ALB    REST   HTTP   WS     URL    CF     Lattice
        "waf": (True, True, False, False, False, True, False),
        "api_keys": (False, True, False, False, False, False, False),
        "private": (True, True, False, False, False, False, True),
        "mutual_tls": (True, True, True, False, False, False, False),
        "custom_domain": (True, True, True, True, False, True, True),
    }
    doors = ["alb", "apigw_rest", "apigw_http", "apigw_websocket", "lambda_url", "cloudfront",
             "vpc_lattice"]  # fmt: skip
    for key, row in expected.items():
        got = tuple(getattr(DOORS[d].features, key) for d in doors)
        assert got == row, key
    assert DOORS["apigw_rest"].features.cache == "hourly"
    assert DOORS["cloudfront"].features.cache == "edge"
    limits = {d: DOORS[d].features.max_response_bytes for d in doors}
    assert limits["alb"] == 2**20 and limits["apigw_websocket"] == 128 * 2**10
    assert limits["lambda_url"] == limits["vpc_lattice"] == 6 * 2**20
    assert DOORS["lambda_url"].features.timeout_s == 900
    assert DOORS["apigw_http"].features.timeout_s == 30


def test_sim_options_prints_the_table_and_the_verdicts(tmp_path: Any) -> None:
    import json
    import subprocess
    import sys

    from tests.conftest import SEED

    r = subprocess.run(
        [sys.executable, "-m", "sim", "options", str(SEED), "--set", "requirements.api_keys=true",
         "--json"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert {row["feature"] for row in data["features"]} >= {"AWS WAF", "custom domain"}
    qualifying = {v["option"] for v in data["options"] if v["qualifies"]}
    assert qualifying == {"apigw_rest", "cloudfront_apigw_rest"}


# =========================================================================== requirements
def _verdicts(*overrides: str) -> dict[str, Any]:
    return {a.option.name: a for a in assessed(scenario_with(*overrides))}


def test_waf_required_offers_the_http_api_and_the_function_url_behind_cloudfront() -> None:
    v = _verdicts("cloudfront.origins=[]", "requirements.waf=true")
    assert not v["apigw_http"].qualifies and not v["lambda_url"].qualifies
    assert "AWS WAF" in v["apigw_http"].reasons[0]
    assert v["cloudfront_apigw_http"].qualifies
    assert v["cloudfront_apigw_http"].offered_for == "apigw_http"
    assert v["cloudfront_lambda_url"].offered_for == "lambda_url"
    assert v["alb"].qualifies and v["apigw_rest"].qualifies
    # ... and they are billed with their web ACL
    r = sim.run(
        scenario_with(
            "cloudfront.origins=[]", "requirements.waf=true", "scenario.duration_days=0.125",
            "traffic.requests_per_day=200000", "traffic.peak_requests_per_s=4",
        )
    )  # fmt: skip
    ranked = [x["option"] for x in r.summary["ranking"]]
    assert "apigw_http" not in ranked and "lambda_url" not in ranked
    assert {"cloudfront_apigw_http", "cloudfront_lambda_url", "alb", "apigw_rest"} == set(ranked)
    excluded = {e["option"] for e in r.summary["excluded"]}
    assert excluded == {"apigw_http", "lambda_url"}
    for option in ranked:
        components = r.summary["options"][option]["components_usd"]
        assert {"waf_web_acl", "waf_rules", "waf_requests"} <= set(components), option
    for option in excluded:
        assert not any(c.startswith("waf") for c in r.summary["options"][option]["components_usd"])


def test_api_keys_leave_only_the_rest_api_options() -> None:
    v = _verdicts(
        "requirements.api_keys=true", "apigateway.cache.enabled=true", "lattice.enabled=true"
    )
    assert {n for n, a in v.items() if a.qualifies} == {
        "apigw_rest", "apigw_rest_cached", "cloudfront_apigw_rest",
    }  # fmt: skip
    assert "no API keys" in v["cloudfront_alb"].reasons[0]


def test_private_bills_the_options_as_private_and_rules_out_the_public_ones() -> None:
    v = _verdicts("requirements.private=true", "lattice.enabled=true")
    assert {n for n, a in v.items() if a.qualifies} == {"alb", "apigw_rest", "vpc_lattice"}
    assert "private" in v["apigw_http"].reasons[0]


@pytest.mark.parametrize(
    ("override", "qualifying"),
    [
        ("requirements.max_duration_s=60", {"alb", "lambda_url"}),
        ("requirements.max_response_bytes=2000000", {"apigw_rest", "apigw_http", "lambda_url",
                                                     "cloudfront_lambda_url",
                                                     "cloudfront_apigw_http",
                                                     "cloudfront_apigw_rest"}),
        ("requirements.custom_domain=true", {"alb", "apigw_rest", "apigw_http",
                                             *(f"cloudfront_{o}" for o in ORIGINS)}),
        ("requirements.jwt_auth=true", {"alb", "apigw_rest", "apigw_http", "cloudfront_alb",
                                        "cloudfront_apigw_http", "cloudfront_apigw_rest"}),
    ],
)  # fmt: skip
def test_each_requirement_decides(override: str, qualifying: set[str]) -> None:
    v = _verdicts(override)
    assert {n for n, a in v.items() if a.qualifies} == qualifying


def test_requirements_no_option_meets_are_refused_with_every_reason() -> None:
    from sim.errors import ConfigError

    with pytest.raises(ConfigError) as exc:
        scenario_with("requirements.websocket=true", "requirements.waf=true")
    message = dict(exc.value.problems)["requirements"]
    assert "no option meets the requirements" in message
    for option in ("alb", "apigw_rest", "apigw_http", "lambda_url", "cloudfront_alb"):
        assert f"{option}:" in message


# =========================================================================== bills, hour by hour
def _tier_cost(
    lo: float,
    hi: float,
    tiers: Sequence[tuple[float | None, float]],
    free: float,
    after: bool = False,
) -> float:
    """USD of units [lo, hi) of a month on published tiers, the month's first ``free`` units $0
    (inside the first tier, or, ``after``, before the tiers start: data transfer out's 100 GB)."""
    if after:
        lo, hi, free = max(lo - free, 0.0), max(hi - free, 0.0), 0.0
    total, start = 0.0, 0.0
    for up_to, price in tiers:
        end = math.inf if up_to is None else up_to
        a, b = max(lo, start, free), min(hi, end)
        if b > a:
            total += (b - a) * price
        start = end
    return total


def _month_to_date(
    q: np.ndarray,
    hours: np.ndarray,
    tiers: Sequence[tuple[float | None, float]],
    free: float = 0.0,
    prior: float = 0.0,
    after: bool = False,
) -> np.ndarray:
    """Per hour: the cost of its units on the calendar month's running total, which starts at
    ``prior`` (the rest of the account's usage); ``after``: see :func:`_tier_cost`."""
    out = np.zeros(q.size)
    month, used = None, 0.0
    for i, (h, x) in enumerate(zip(hours, q, strict=True)):
        m = h.astype("datetime64[M]")
        if m != month:
            month, used = m, prior
        out[i] = _tier_cost(used, used + float(x), tiers, free, after)
        used += float(x)
    return out


def _tiers(price: Any) -> list[tuple[float | None, float]]:
    if hasattr(price, "tiers"):
        return [(t.up_to, t.price) for t in price.tiers]
    return [(None, price.value)]


def _hours_in_month(hours: np.ndarray) -> np.ndarray:
    m = hours.astype("datetime64[M]")
    return ((m + 1).astype("datetime64[D]") - m.astype("datetime64[D]")).astype(int) * 24


def _per_hour(costs: pa.Table, option: str, n: int, hours: np.ndarray) -> dict[str, np.ndarray]:
    rows = costs.filter(pa.compute.field("option") == option).to_pylist()
    index = {h: i for i, h in enumerate(hours.astype("datetime64[us]").tolist())}
    out: dict[str, np.ndarray] = {}
    for row in rows:
        out.setdefault(row["component"], np.zeros(n))[
            index[np.datetime64(row["hour"].replace(tzinfo=None), "us").tolist()]
        ] += row["cost_usd"]
    return out


@pytest.fixture(scope="module")
def across_months() -> tuple[Scenario, Any]:
    """Two days across a month's end, every new door, WAF with Bot Control, three edge regions."""
    s = scenario_with(
        "scenario.start=2026-11-30T00:00:00Z",
        "scenario.duration_days=2",
        "traffic.requests_per_day=4e6",
        "traffic.peak_requests_per_s=90",
        "lattice.enabled=true",
        "lattice.services=3",
        "cloudfront.https_share=0.8",
        "cloudfront.edge_regions={'United States'=0.6, EU=0.3, Japan=0.1}",
        "waf={rules=3, bot_control=true, bot_control_share=0.5}",
        # the rest of the account has used most allowances and nearly a tier: every allowance and
        # the first tier boundary of data transfer out are crossed inside the two days
        "account.other_monthly_usage={cloudfront_requests=9.5e6, cloudfront_data_transfer_gb=1020,"
        " data_transfer_gb=10338, lambda_requests=5e5}",
    )
    return s, sim.run(s)


ACCOUNT = {"cloudfront_requests": 9.5e6, "cloudfront_data_transfer_gb": 1020,
           "data_transfer_gb": 10338, "lambda_requests": 5e5}  # fmt: skip


def _check(expected: dict[str, np.ndarray], got: dict[str, np.ndarray], option: str) -> None:
    assert set(got) == set(expected), option
    for component, values in expected.items():
        np.testing.assert_allclose(got[component], values, rtol=1e-9, atol=1e-9, err_msg=component)


def test_cloudfront_is_billed_by_the_rules_every_hour(across_months: tuple[Scenario, Any]) -> None:
    s, r = across_months
    m = r.meters
    hours = np.asarray(m.column("hour").to_numpy()).astype("datetime64[h]")
    n = m.num_rows
    f = {c: np.asarray(m.column(c).to_numpy(), dtype=float) for c in m.column_names if c != "hour"
         and c != "lcu_dominant"}  # fmt: skip
    free = PRICES.free_tier
    cf = s.cloudfront
    month = 1.0 / _hours_in_month(hours)
    waf = 5.0 * month + 3 * 1.0 * month + 0.6e-6 * f["requests"] + 10.0 * month
    bot = _month_to_date(0.5 * f["requests"], hours, [(1e7, 0.0), (None, 1e-6)])
    for origin in ORIGINS:
        option = f"cloudfront_{origin}"
        path = "direct" if origin in ("lambda_url", "alb") else "gateway"
        requests = np.zeros(n)
        transfer = np.zeros(n)
        to_origin = np.zeros(n)
        for edge, w in cf.edge_regions.items():
            for proto, p in (("https", 0.8), ("http", 0.2)):
                price = PRICES.cloudfront_requests_https[edge] if proto == "https" else (
                    PRICES.cloudfront_requests_http[edge])  # fmt: skip
                requests += _month_to_date(
                    f["requests"] * w * p, hours, _tiers(price),
                    free["cloudfront_requests"].quantity * w * p,
                    ACCOUNT["cloudfront_requests"] * w * p,
                )  # fmt: skip
            transfer += _month_to_date(
                f[f"{path}_response_bytes"] / GIB * w, hours,
                _tiers(PRICES.cloudfront_data_transfer_out[edge]),
                free["cloudfront_data_transfer_gb"].quantity * w,
                ACCOUNT["cloudfront_data_transfer_gb"] * w,
            )  # fmt: skip
            to_origin += (
                f["edge_request_bytes"] / GIB * w * PRICES.cloudfront_origin_transfer[edge].value
            )
        lam = _month_to_date(
            f[f"{path}_invocations"], hours, [(None, 2e-7)], 1e6, ACCOUNT["lambda_requests"]
        )
        gbs = _month_to_date(
            f[f"{path}_billed_ms"] / 1000 * 512 / 1024, hours,
            _tiers(PRICES.lambda_gb_second_x86), 400_000,
        )  # fmt: skip
        expected = {
            "cloudfront_requests": requests,
            "cloudfront_data_transfer": transfer,
            "cloudfront_to_origin": to_origin,
            "waf_web_acl": 5.0 * month,
            "waf_rules": 3.0 * month,
            "waf_requests": 0.6e-6 * f["requests"],
            "waf_bot_control": 10.0 * month + bot,
            "lambda_requests": lam,
            "lambda_gb_seconds": gbs,
        }
        if origin == "alb":
            # the ALB behind CloudFront: LCUs on CloudFront's pooled connections and what reaches it
            processed = f["edge_request_bytes"] + f["direct_response_bytes"]
            lcu = np.maximum.reduce([
                f["edge_new_connections"] / 3600 / 25,
                f["edge_active_connections"] / 3000,
                processed / 1e9 / 0.4,
                np.zeros(n),  # 10 rules: none beyond the free 10
            ])  # fmt: skip
            np.testing.assert_allclose(f["edge_lcu"], lcu, rtol=1e-12)
            expected |= {
                "alb_hours": np.full(n, PRICES.alb_hour.value),
                "lcu": lcu * PRICES.alb_lcu_hour.value,
                "public_ipv4": np.full(n, 2 * PRICES.public_ipv4_hour.value),
            }
        elif origin == "apigw_rest":
            expected["requests"] = _month_to_date(
                f["gateway_requests"], hours, _tiers(PRICES.apigw_rest_requests)
            )
        elif origin == "apigw_http":
            expected["requests"] = _month_to_date(
                f["gateway_http_units"], hours, _tiers(PRICES.apigw_http_requests)
            )
        got = _per_hour(r.costs, option, n, hours)
        _check(expected, got, option)
    assert bot.sum() == 0  # 4 M inspected a day: inside Bot Control's free 10 M a month
    assert waf.sum() > 0


def test_the_new_doors_are_billed_by_the_rules_every_hour(
    across_months: tuple[Scenario, Any],
) -> None:
    _, r = across_months
    m = r.meters
    hours = np.asarray(m.column("hour").to_numpy()).astype("datetime64[h]")
    n = m.num_rows
    f = {c: np.asarray(m.column(c).to_numpy(), dtype=float) for c in m.column_names
         if c not in ("hour", "lcu_dominant")}  # fmt: skip
    lam = _month_to_date(
        f["direct_invocations"], hours, [(None, 2e-7)], 1e6, ACCOUNT["lambda_requests"]
    )
    gbs = _month_to_date(
        f["direct_billed_ms"] / 1000 * 512 / 1024, hours, _tiers(PRICES.lambda_gb_second_x86), 4e5
    )
    dto = _month_to_date(
        f["direct_response_bytes"] / GIB, hours, _tiers(PRICES.data_transfer_out), 100,
        ACCOUNT["data_transfer_gb"], after=True,
    )  # fmt: skip
    # the fixture crosses the first tier of data transfer out (10 TB beyond the free 100 GB,
    # where the tiers start) on 30 November
    costs = r.costs.filter(
        (pa.compute.field("option") == "lambda_url")
        & (pa.compute.field("component") == "data_transfer")
    )
    assert set(costs.column("unit_price_usd").to_pylist()) >= {0.09, 0.085}
    # a function URL: the Lambda function and its data transfer out, nothing else
    _check(
        {"lambda_requests": lam, "lambda_gb_seconds": gbs, "data_transfer": dto},
        _per_hour(r.costs, "lambda_url", n, hours),
        "lambda_url",
    )
    # VPC Lattice: 3 services, GB processed, requests beyond 300,000 an hour; no data transfer
    processed = (f["request_bytes"] + f["direct_response_bytes"]) / GIB
    _check(
        {
            "lattice_service_hours": np.full(n, 3 * 0.025),
            "lattice_data": processed * 0.025,
            "lattice_requests": np.maximum(0, f["requests"] - 300_000) * 1e-7,
            "lambda_requests": lam,
            "lambda_gb_seconds": gbs,
        },
        _per_hour(r.costs, "vpc_lattice", n, hours),
        "vpc_lattice",
    )
    # WAF on the ALB and the REST API too, but not on the HTTP API or the function URL
    for option in ("alb", "apigw_rest"):
        got = _per_hour(r.costs, option, n, hours)
        month = 1.0 / _hours_in_month(hours)
        np.testing.assert_allclose(got["waf_web_acl"], 5 * month, rtol=1e-12)
        np.testing.assert_allclose(got["waf_requests"], 0.6e-6 * f["requests"], rtol=1e-12)
    for option in ("apigw_http", "lambda_url", "vpc_lattice"):
        assert not any(c.startswith("waf") for c in _per_hour(r.costs, option, n, hours))


def test_waf_prorated_hourly_bills_a_whole_month_its_fee() -> None:
    """Example 13 through the door's charges: a 30-day month, 1 web ACL, 7 rules, 10 M requests."""
    r = sim.run(
        scenario_with(
            "scenario.start=2026-11-01T00:00:00Z", "scenario.duration_days=30",
            "traffic={model='constant', requests_per_s=3.8580246913580245}",
            "engine.fidelity='aggregate'", "waf={rules=7}", "lambda_url.enabled=false",
            "cloudfront.origins=[]", "apigateway.apis=[]",
        )
    )  # fmt: skip
    waf = r.summary["options"]["alb"]["components_usd"]
    requests = r.summary["traffic"]["requests"]
    assert abs(requests - 10e6) < 6 * math.sqrt(10e6)
    assert waf["waf_web_acl"] == pytest.approx(5.0, abs=1e-9)
    assert waf["waf_rules"] == pytest.approx(7.0, abs=1e-9)
    assert waf["waf_requests"] == pytest.approx(requests * 0.6e-6, rel=1e-12)


def test_a_flat_rate_plan_is_prorated_by_the_day_and_its_allowance_is_a_finding() -> None:
    """Example 15 through the bill: Pro from day 16 of a 30-day month costs $7.50 that month."""
    s = scenario_with(
        "scenario.start=2026-11-16T00:00:00Z", "scenario.duration_days=15",
        "engine.fidelity='aggregate'", "cloudfront.plan='pro'",
        "cloudfront.origins=['lambda_url']", "alb.enabled=false", "apigateway.apis=[]",
    )  # fmt: skip
    r = sim.run(s)
    cf = r.summary["options"]["cloudfront_lambda_url"]
    assert cf["components_usd"]["cloudfront_plan"] == pytest.approx(7.50, abs=1e-9)
    assert set(cf["components_usd"]) == {"cloudfront_plan", "lambda_requests", "lambda_gb_seconds"}
    assert cf["per_30_days_components_usd"]["cloudfront_plan"] == pytest.approx(15.0, abs=1e-9)
    # 5 M requests a day: 75 M in the 15 days, over Pro's 10 M a month
    kinds = {f["finding"]: f for f in r.summary["findings"]}
    over = kinds["cloudfront_plan_allowance"]
    assert over["options"] == ["cloudfront_lambda_url"] and "2026-11" in over["what"]
    plan = r.summary["cloudfront_plan"]
    assert plan["allowance"] == {"requests": 10e6, "data_transfer_gb": 51_200}


def test_a_private_api_pays_privatelink_and_no_data_transfer() -> None:
    s = scenario_with(
        "scenario.duration_days=0.25", "traffic.requests_per_day=1e6",
        "traffic.peak_requests_per_s=20", "requirements.private=true", "lattice.enabled=true",
    )  # fmt: skip
    r = sim.run(s)
    m = r.meters
    rest = r.summary["options"]["apigw_rest"]["components_usd"]
    assert "data_transfer" not in rest
    processed = (
        np.asarray(m.column("request_bytes").to_numpy(), float).sum()
        + np.asarray(m.column("gateway_response_bytes").to_numpy(), float).sum()
    ) / GIB
    assert rest["privatelink_hours"] == pytest.approx(
        6 * 2 * PRICES.privatelink_endpoint_hour.value
    )
    assert rest["privatelink_data"] == pytest.approx(processed * 0.01, rel=1e-9)
    alb = r.summary["options"]["alb"]["components_usd"]
    assert "public_ipv4" not in alb and "data_transfer" not in alb
    assert "data_transfer" not in r.summary["options"]["vpc_lattice"]["components_usd"]
    # the public ones are still billed (for reference) as public, and excluded
    assert "data_transfer" in r.summary["options"]["apigw_http"]["components_usd"]
    assert {e["option"] for e in r.summary["excluded"]} >= {"apigw_http", "lambda_url"}


# =========================================================================== bad input
@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("cloudfront.origins=['apigw_websocket']", "cloudfront.origins.0"),
        ("cloudfront.origins=['s3']", "cloudfront.origins.0"),
        ("cloudfront.plan='gold'", "cloudfront.plan"),
        ("waf={rules=-1}", "waf.rules"),
        ("waf={rules=2, bot_control_share=1.5}", "waf.bot_control_share"),
        ("cloudfront.https_share=-0.1", "cloudfront.https_share"),
        ("cloudfront.edge_regions={EU=1.2}", "cloudfront.edge_regions"),
        ("cloudfront.edge_regions={EU=0.5, Japan=0.4}", "cloudfront.edge_regions"),
        ("cloudfront.edge_regions={Mars=1.0}", "cloudfront.edge_regions"),
        ("requirements.websocket=true", "requirements"),
        ("requirements.waf='yes'", "requirements.waf"),
        ("lattice.services=0", "lattice.services"),
    ],
)
def test_bad_door_input_names_the_field_and_writes_nothing(
    override: str, field: str, tmp_path: Any
) -> None:
    import subprocess
    import sys

    from tests.conftest import SEED

    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(SEED), "--set", override, "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert f"  - {field}:" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_waf_on_doors_that_cannot_take_it_is_refused() -> None:
    from sim.errors import ConfigError

    with pytest.raises(ConfigError) as exc:
        scenario_with(
            "waf={rules=2}",
            "alb.enabled=false",
            "apigateway.apis=['http']",
            "cloudfront.origins=[]",
        )
    assert "no option compared takes a web ACL" in dict(exc.value.problems)["waf"]
