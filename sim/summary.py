"""The run summary: totals per option, savings between options, what drives the ALB bill."""

from __future__ import annotations

from itertools import permutations
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sim.meters import LCU_DIMENSIONS
from sim.units import DAYS_PER_BILLING_MONTH, SECONDS_PER_DAY

CATEGORIES = ("front_door", "backend", "transfer")


def option_totals(costs: pa.Table) -> dict[str, dict[str, Any]]:
    """Per option: USD per category and per component, and the total (unrounded)."""
    grouped = costs.group_by(["option", "category", "component"]).aggregate([("cost_usd", "sum")])
    out: dict[str, dict[str, Any]] = {}
    for row in grouped.to_pylist():
        entry = out.setdefault(
            row["option"],
            {**{f"{c}_usd": 0.0 for c in CATEGORIES}, "total_usd": 0.0, "components_usd": {}},
        )
        value = float(row["cost_usd_sum"])
        entry[f"{row['category']}_usd"] += value
        entry["total_usd"] += value
        entry["components_usd"][row["component"]] = (
            entry["components_usd"].get(row["component"], 0.0) + value
        )
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


def findings(meters: pa.Table, options: tuple[str, ...]) -> list[dict[str, Any]]:
    """What would fail or be refused: never silently ignored (throttles, payload and time limits)."""
    from sim.meters import LIMITS

    def total(name: str) -> int:
        return int(pc.sum(meters.column(name)).as_py() or 0)

    requests = total("requests")
    out: list[dict[str, Any]] = []

    def add(kind: str, count: int, affects: list[str], what: str) -> None:
        affected = [o for o in affects if o in options]
        if count and affected:
            out.append(
                {
                    "finding": kind,
                    "requests": count,
                    "share": count / requests if requests else 0.0,
                    "options": affected,
                    "what": what,
                }
            )

    apigw = [o for o in options if o.startswith("apigw_")]
    add(
        "apigw_throttled",
        total("apigw_throttled"),
        apigw,
        "requests over API Gateway's throttle (429: failures, not billed)",
    )
    add(
        "lambda_throttled",
        total("lambda_throttled"),
        list(options),
        "invocations over Lambda's concurrency limit (throttled)",
    )
    add(
        "over_alb_lambda_payload",
        total("over_alb_lambda_payload"),
        ["alb"],
        LIMITS["over_alb_lambda_payload"][2],
    )
    add("over_apigw_payload", total("over_apigw_payload"), apigw, LIMITS["over_apigw_payload"][2])
    add(
        "over_lambda_payload",
        total("over_lambda_payload"),
        list(options),
        LIMITS["over_lambda_payload"][2],
    )
    rest = [o for o in apigw if o.startswith("apigw_rest")]
    add("over_rest_timeout", total("over_rest_timeout"), rest, LIMITS["over_rest_timeout"][2])
    add(
        "over_http_timeout",
        total("over_http_timeout"),
        ["apigw_http"],
        LIMITS["over_http_timeout"][2],
    )
    return out


def build_summary(
    meters: pa.Table, costs: pa.Table, provenance: dict[str, Any], duration_s: int
) -> dict[str, Any]:
    """The ``summary.json`` document."""
    totals = option_totals(costs)
    scale = DAYS_PER_BILLING_MONTH * SECONDS_PER_DAY / duration_s
    for entry in totals.values():
        entry["per_30_days_usd"] = {
            **{f"{c}_usd": entry[f"{c}_usd"] * scale for c in CATEGORIES},
            "total_usd": entry["total_usd"] * scale,
        }
    requests = int(pc.sum(meters.column("requests")).as_py() or 0)
    hours = meters.column("hour")
    return {
        "scenario": provenance["scenario"],
        "period": {
            "start": hours[0].as_py().isoformat() if len(hours) else None,
            "duration_s": duration_s,
            "days": duration_s / SECONDS_PER_DAY,
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
        "cheapest": {
            key: min(totals, key=lambda o: totals[o][f"{key}_usd"]) if totals else None
            for key in ("front_door", "total")
        },
        "savings": savings(totals),
        "alb": alb_drivers(meters),
        "gateway": {
            "throttled_requests": int(pc.sum(meters.column("apigw_throttled")).as_py() or 0),
            "cache_requests": int(pc.sum(meters.column("cache_requests")).as_py() or 0),
            "cache_hits": int(pc.sum(meters.column("cache_hits")).as_py() or 0),
            "cache_hit_ratio": _ratio(meters, "cache_hits", "cache_requests"),
            "lambda_peak_concurrency": float(
                np.max(meters.column("lambda_peak_concurrency").to_numpy(), initial=0)
            ),
            "lambda_throttled": int(pc.sum(meters.column("lambda_throttled")).as_py() or 0),
        },
        "findings": findings(meters, tuple(totals)),
        "provenance": provenance,
    }
