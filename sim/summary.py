"""The run summary: totals per option (the period, each calendar month, a 30-day projection),
savings between options, what drives the ALB bill, and what would fail."""

from __future__ import annotations

from itertools import permutations
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sim.pricing.charge import CATEGORIES
from sim.pricing.derive import LCU_DIMENSIONS

if TYPE_CHECKING:
    from sim.billing import Bill
    from sim.config import Scenario


def _empty() -> dict[str, Any]:
    return {**{f"{c}_usd": 0.0 for c in CATEGORIES}, "total_usd": 0.0, "components_usd": {}}


def option_totals(costs: pa.Table) -> dict[str, dict[str, Any]]:
    """Per option: USD per category and per component, and the total (unrounded)."""
    grouped = costs.group_by(["option", "category", "component"]).aggregate([("cost_usd", "sum")])
    out: dict[str, dict[str, Any]] = {}
    for row in grouped.to_pylist():
        entry = out.setdefault(row["option"], _empty())
        value = float(row["cost_usd_sum"])
        entry[f"{row['category']}_usd"] += value
        entry["total_usd"] += value
        entry["components_usd"][row["component"]] = (
            entry["components_usd"].get(row["component"], 0.0) + value
        )
    return out


def monthly_bills(costs: pa.Table) -> list[dict[str, Any]]:
    """One invoice per calendar month (UTC) the period touches: per option, USD per category."""
    months = np.asarray(costs.column("hour").to_numpy(), dtype="datetime64[M]")
    out = []
    for month in np.unique(months):
        rows = costs.filter(pa.array(months == month))
        out.append(
            {
                "month": str(month),
                "hours": len(set(rows.column("hour").to_pylist())),
                "options": {o: {k: v for k, v in t.items() if k != "components_usd"}
                            for o, t in option_totals(rows).items()},
            }
        )  # fmt: skip
    return out


def savings(totals: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """For every ordered pair: how much ``option`` saves against ``versus`` (USD and %)."""
    rows = []
    for a, b in permutations(totals, 2):
        row: dict[str, Any] = {"option": a, "versus": b}
        for key in ("front_door", "total"):
            ca, cb = totals[a][f"{key}_usd"], totals[b][f"{key}_usd"]
            row[f"{key}_usd"] = cb - ca
            row[f"{key}_pct"] = 100 * (cb - ca) / cb if cb > 0 else None
        rows.append(row)
    return rows


def _ratio(meters: pa.Table, num: str, den: str) -> float | None:
    d = pc.sum(meters.column(den)).as_py() or 0
    return float((pc.sum(meters.column(num)).as_py() or 0) / d) if d else None


def alb_drivers(meters: pa.Table) -> dict[str, Any]:
    """Which LCU dimension sets the ALB bill, and what a monthly-average calculator would miss."""
    dims = {d: meters.column(f"lcu_{d}").to_numpy() for d in LCU_DIMENSIONS}
    lcu = meters.column("lcu").to_numpy()
    dominant = meters.column("lcu_dominant").to_numpy(zero_copy_only=False)
    n = len(lcu)
    lcu_hours_by_dim = {d: float(lcu[dominant == d].sum()) for d in LCU_DIMENSIONS}
    averaged = max(float(v.mean()) for v in dims.values()) * n if n else 0.0
    total = float(lcu.sum())
    return {
        "dominant_lcu_dimension": max(lcu_hours_by_dim, key=lambda d: lcu_hours_by_dim[d]),
        "hours_dominated": {d: int((dominant == d).sum()) for d in LCU_DIMENSIONS},
        "lcu_hours": total,
        "mean_lcu": float(lcu.mean()) if n else 0.0,
        "peak_lcu": float(lcu.max()) if n else 0.0,
        "mean_lcu_by_dimension": {d: float(v.mean()) for d, v in dims.items()},
        "lcu_hours_if_priced_on_monthly_average": averaged,
        # rounded: Σ max ≥ max Σ holds exactly, so what is left beyond 1e-9 % is float noise
        "monthly_average_understates_lcu_pct": (
            round(100 * (total - averaged) / total, 9) if total else 0.0
        ),
    }


def _replay(scenario: Scenario) -> dict[str, Any]:
    """``{"replay": ...}``: what an access-log replay read and played (else nothing)."""
    traffic = scenario.traffic
    if traffic.model != "access_log":
        return {}
    from sim.traffic.logreplay import replay_summary

    s = scenario.scenario
    return {"replay": replay_summary(traffic, s.start.timestamp(), s.duration_s)}


def findings(billed: Bill, scenario: Scenario) -> list[dict[str, Any]]:
    """What would fail, be refused or is inconsistent: never silently ignored."""
    from sim.meters import LIMITS

    meters = billed.meters

    def total(name: str) -> int:
        if name not in meters.column_names:
            return 0
        return int(pc.sum(meters.column(name)).as_py() or 0)

    requests = total("requests")
    out: list[dict[str, Any]] = []

    def add(kind: str, count: int, options: list[str], what: str, of: int | None = None) -> None:
        """``share``: of ``of`` (the option's invocations), or of all requests."""
        whole = requests if of is None else of
        if count and options:
            out.append(
                {
                    "finding": kind,
                    "requests": count,
                    "share": count / whole if whole else 0.0,
                    "options": options,
                    "what": what,
                }
            )

    doors = {o.name: o for o in billed.options}

    def kind(o: Any) -> str:
        """The door an option is, or, behind CloudFront, its origin's."""
        return str(o.params["origin"]) if o.door == "cloudfront" else str(o.door)

    def where(*names: str, edge: bool | None = None) -> list[str]:
        return [
            o.name
            for o in billed.options
            if kind(o) in names and (edge is None or o.path.startswith("edge_") == edge)
        ]

    gateway_doors = ("apigw_rest", "apigw_http", "apigw_rest_cached", "apigw_websocket")
    gateway = where(*gateway_doors)
    add(
        "apigw_throttled",
        total("gateway_throttled"),
        where(*gateway_doors, edge=False),
        "requests over API Gateway's throttle (429: failures, not billed)",
    )
    add(
        "apigw_throttled",
        total("edge_gateway_throttled"),
        where(*gateway_doors, edge=True),
        "requests CloudFront forwards over API Gateway's throttle (429: failures, not billed)",
    )
    if scenario.backend.enabled:
        for name, option in doors.items():
            refused = total(f"{option.path}_lambda_throttled")
            add(
                "lambda_throttled",
                refused,
                [name],
                "invocations over this option's Lambda concurrency limit (throttled: not "
                "billed, the client gets an error; share: of the invocations it asked for)",
                of=refused + total(f"{option.path}_invocations"),
            )
    streams = scenario.lambda_url.streaming
    buffered = [n for n, o in doors.items() if not (streams and kind(o) == "lambda_url")]
    for name, affected in (
        ("over_alb_lambda_payload", where("alb")),
        ("over_apigw_payload", gateway),
        ("over_lambda_payload", buffered),
        ("over_rest_timeout", where("apigw_rest", "apigw_rest_cached")),
        ("over_http_timeout", where("apigw_http")),
        ("over_cache_item", where("apigw_rest_cached")),
        ("over_websocket_message", where("apigw_websocket")),
    ):
        add(name, total(name), affected, LIMITS[name][2])
    from sim.meters import EDGE_COLUMNS, STREAMING_COLUMNS

    cloudfront = [n for n, o in doors.items() if o.door == "cloudfront"]
    add(
        "over_cloudfront_timeout",
        total("over_cloudfront_timeout"),
        cloudfront,
        EDGE_COLUMNS["over_cloudfront_timeout"][1],
    )
    if streams:
        add(
            "over_lambda_url_stream",
            total("over_lambda_url_stream"),
            where("lambda_url"),
            STREAMING_COLUMNS["over_lambda_url_stream"][1],
        )
    out += plan_findings(billed, scenario)
    if "alb" in doors and scenario.alb.target_type != "lambda" and scenario.backend.enabled:
        out.append(
            {
                "finding": "alb_target_not_lambda",
                "requests": 0,
                "share": 0.0,
                "options": ["alb"],
                "what": f"alb.target_type is {scenario.alb.target_type!r}: the ALB's LCUs are "
                "priced for those targets (1 GB per LCU-hour of processed bytes), yet a Lambda "
                "backend is billed behind it; set backend.enabled = false to compare front doors "
                "alone, or target_type = 'lambda'",
            }
        )
    return out


def plan_usage(billed: Bill, scenario: Scenario) -> dict[str, Any] | None:
    """A CloudFront flat-rate plan's allowances against the traffic: each calendar month's requests
    and GB out, and the 30-day projection's (per CloudFront option: what it delivers)."""
    cf = scenario.cloudfront
    options = [o for o in billed.options if o.door == "cloudfront"]
    if cf.plan == "pay_as_you_go" or not options:
        return None
    from sim.config import price_book_for

    plan = price_book_for(scenario).region(scenario.scenario.region).plan(cf.plan)
    meters = billed.meters
    months = np.asarray(meters.column("hour").to_numpy(), dtype="datetime64[M]")
    scale = 30 * 86_400 / scenario.scenario.duration_s
    requests = meters.column("requests").to_numpy().astype(np.float64)
    per_option: dict[str, Any] = {}
    for o in options:
        gb = meters.column(f"{o.path}_response_bytes").to_numpy() / 2**30
        rows = []
        for month in np.unique(months):
            m = months == month
            rows.append(
                {"month": str(month), "requests": float(requests[m].sum()),
                 "data_transfer_gb": float(gb[m].sum())}
            )  # fmt: skip
        rows.append(
            {"month": "per 30 days", "requests": float(requests.sum() * scale),
             "data_transfer_gb": float(gb.sum() * scale)}
        )  # fmt: skip
        per_option[o.name] = rows
    return {
        "plan": cf.plan,
        "fee_usd_per_month": plan.fee.value,
        "allowance": {"requests": plan.requests, "data_transfer_gb": plan.data_transfer_gb},
        "waf_rules_included": plan.waf_rules,
        "usage": per_option,
    }


def plan_findings(billed: Bill, scenario: Scenario) -> list[dict[str, Any]]:
    """Where traffic exceeds a CloudFront flat-rate plan's allowances (no overage is billed: AWS may
    change how it delivers after sustained excess), and a web ACL larger than the plan's."""
    usage = plan_usage(billed, scenario)
    if usage is None:
        return []
    out: list[dict[str, Any]] = []
    allow = usage["allowance"]
    for option, rows in usage["usage"].items():
        for key, unit in (("requests", "requests"), ("data_transfer_gb", "GB out")):
            over = [r for r in rows if r[key] > allow[key]]
            if over:
                worst = max(r[key] / allow[key] for r in over)
                months = ", ".join(
                    f"{r['month']} ({r[key]:,.0f} {unit}, {r[key] / allow[key]:.2g}×)" for r in over
                )
                out.append(
                    {
                        "finding": "cloudfront_plan_allowance",
                        "requests": 0,
                        "share": 0.0,
                        "options": [option],
                        "what": f"the {usage['plan']} plan allows {allow[key]:,.0f} {unit} a "
                        f"month; the traffic exceeds it in {months}: no overage is billed, but "
                        "AWS may change how it delivers after sustained excess (a first spike up "
                        f"to 3× is tolerated{'; this one is over 3×' if worst > 3 else ''}); "
                        "consider a larger plan or pay-as-you-go",
                    }
                )
    from sim.doors.waf import waf_of

    waf = waf_of(scenario)
    if waf is not None and waf.rules > usage["waf_rules_included"]:
        out.append(
            {
                "finding": "cloudfront_plan_waf_rules",
                "requests": 0,
                "share": 0.0,
                "options": list(usage["usage"]),
                "what": f"the web ACL holds {waf.rules} rules; the {usage['plan']} plan's includes "
                f"{usage['waf_rules_included']}",
            }
        )
    return out


def left_out(scenario: Scenario) -> dict[str, str]:
    """What the scenario leaves out of every option's bill: category -> the setting and what it is
    (a category left out bills $0 in every option; ``{}`` when the bills are whole)."""
    out: dict[str, str] = {}
    if not scenario.backend.enabled:
        out["backend"] = (
            "backend.enabled = false: the Lambda function behind the front door (requests, "
            "GB-seconds, streaming) is left out of every option's bill"
        )
    if not scenario.transfer.enabled:
        out["transfer"] = (
            "transfer.enabled = false: data transfer (out to the internet, CloudFront's out and "
            "to the origin, PrivateLink's GB processed) is left out of every option's bill: a "
            "front-door-only comparison"
        )
    return out


def price_warnings(billed: Bill) -> list[str]:
    """One line per charge priced with a book entry marked unverified (``pricing.allow_unverified``)."""
    out = []
    for c in billed.charges:
        if not c.price.verified:
            out.append(
                f"{c.option} {c.component}: unverified price ({c.price.note}); check it before "
                "relying on this bill"
            )
    return list(dict.fromkeys(out))


def build_summary(billed: Bill, provenance: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """The ``summary.json`` document."""
    meters, costs = billed.meters, billed.costs
    duration_s = scenario.scenario.duration_s
    totals = option_totals(costs)
    for option in totals:
        projected = billed.projection.get(option, _empty())
        totals[option]["per_30_days_usd"] = {
            k: v for k, v in projected.items() if k != "components_usd"
        }
        totals[option]["per_30_days_components_usd"] = projected["components_usd"]
    requests = int(pc.sum(meters.column("requests")).as_py() or 0)
    hours = meters.column("hour")
    throttled = {
        o.name: int(pc.sum(meters.column(f"{o.path}_lambda_throttled")).as_py() or 0)
        for o in billed.options
    }
    peak = {
        o.name: float(np.max(meters.column(f"{o.path}_peak_concurrency").to_numpy(), initial=0))
        for o in billed.options
    }
    from sim.doors import DOORS, assessed

    verdicts = {a.option.name: a for a in assessed(scenario)}
    omitted = left_out(scenario)
    for name, entry in totals.items():
        if omitted:
            entry["left_out"] = list(omitted)
        a = verdicts.get(name)
        if a is None:
            continue
        entry["door"] = DOORS[a.option.door].title
        entry["qualifies"] = a.qualifies
        if a.unmet:
            entry["excluded_because"] = a.reasons
        if a.offered_for:
            entry["offered_for"] = a.offered_for
    qualifying = {o: t for o, t in totals.items() if t.get("qualifies", True)}
    ranked = sorted(qualifying, key=lambda o: qualifying[o]["per_30_days_usd"]["total_usd"])
    summary: dict[str, Any] = {
        "scenario": provenance["scenario"],
        "period": {
            "start": scenario.scenario.start.isoformat(),
            "duration_s": duration_s,
            "days": duration_s / 86_400,
            "hours_metered": len(hours),
        },
        "traffic": {
            "requests": requests,
            "mean_rps": requests / duration_s,
            "peak_rps": int(pc.max(meters.column("peak_rps")).as_py() or 0),
            "peak_hour_mean_rps": float(np.max(meters.column("mean_rps").to_numpy(), initial=0)),
            "processed_bytes": int(pc.sum(meters.column("processed_bytes")).as_py() or 0),
            "new_connections": int(pc.sum(meters.column("new_connections")).as_py() or 0),
            "mean_active_connections": float(
                np.mean(meters.column("active_connections").to_numpy())
            ),
        },
        "options": totals,
        "requirements": {
            k: v for k, v in scenario.requirements.model_dump().items() if v not in (False, None)
        },
        "ranking": [
            {"option": o, "total_usd_per_30_days": qualifying[o]["per_30_days_usd"]["total_usd"]}
            for o in ranked
        ],
        "excluded": [
            {
                "option": o,
                "because": t["excluded_because"],
                "total_usd_per_30_days": t["per_30_days_usd"]["total_usd"],
            }
            for o, t in totals.items()
            if not t.get("qualifies", True)
        ],
        "months": monthly_bills(costs),
        "cheapest": {
            key: min(qualifying, key=lambda o: qualifying[o][f"{key}_usd"]) if qualifying else None
            for key in ("front_door", "total")
        },
        "cheapest_per_30_days": {
            key: min(qualifying, key=lambda o: qualifying[o]["per_30_days_usd"][f"{key}_usd"])
            if qualifying
            else None
            for key in ("front_door", "total")
        },
        "savings": savings(qualifying),
        "alb": alb_drivers(meters),
        "gateway": {
            "throttled_requests": int(pc.sum(meters.column("gateway_throttled")).as_py() or 0),
            "cache_requests": int(pc.sum(meters.column("cache_requests")).as_py() or 0),
            "cache_hit_ratio": {
                o.name: _ratio(meters, f"{o.path}_hits", "cache_requests")
                for o in billed.options
                if o.door == "apigw_rest_cached"
            },
            "lambda_peak_concurrency": peak,
            "lambda_throttled": throttled,
        },
        "cloudfront_plan": plan_usage(billed, scenario),
        "findings": findings(billed, scenario),
        **_replay(scenario),
        "warnings": price_warnings(billed),
        "free_tier": scenario.pricing.free_tier,
        "left_out": omitted,
        "provenance": provenance,
    }
    return summary
