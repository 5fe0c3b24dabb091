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

    def add(kind: str, count: int, options: list[str], what: str) -> None:
        if count and options:
            out.append(
                {
                    "finding": kind,
                    "requests": count,
                    "share": count / requests if requests else 0.0,
                    "options": options,
                    "what": what,
                }
            )

    doors = {o.name: o for o in billed.options}

    def where(*names: str) -> list[str]:
        return [o.name for o in billed.options if o.door in names]

    gateway = where("apigw_rest", "apigw_http", "apigw_rest_cached", "apigw_websocket")
    add(
        "apigw_throttled",
        total("gateway_throttled"),
        gateway,
        "requests over API Gateway's throttle (429: failures, not billed)",
    )
    if scenario.backend.enabled:
        for name, option in doors.items():
            add(
                "lambda_throttled",
                total(f"{option.path}_lambda_throttled"),
                [name],
                "invocations over this option's Lambda concurrency limit (throttled: not "
                "billed, the client gets an error)",
            )
    for kind, affected in (
        ("over_alb_lambda_payload", where("alb")),
        ("over_apigw_payload", gateway),
        ("over_lambda_payload", list(doors)),
        ("over_rest_timeout", where("apigw_rest", "apigw_rest_cached")),
        ("over_http_timeout", where("apigw_http")),
        ("over_cache_item", where("apigw_rest_cached")),
        ("over_websocket_message", where("apigw_websocket")),
    ):
        add(kind, total(kind), affected, LIMITS[kind][2])
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
        "months": monthly_bills(costs),
        "cheapest": {
            key: min(totals, key=lambda o: totals[o][f"{key}_usd"]) if totals else None
            for key in ("front_door", "total")
        },
        "cheapest_per_30_days": {
            key: min(totals, key=lambda o: totals[o]["per_30_days_usd"][f"{key}_usd"])
            if totals
            else None
            for key in ("front_door", "total")
        },
        "savings": savings(totals),
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
        "findings": findings(billed, scenario),
        "warnings": price_warnings(billed),
        "free_tier": scenario.pricing.free_tier,
        "provenance": provenance,
    }
    return summary
