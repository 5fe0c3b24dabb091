"""What the report of a ``sim run`` shows, built from the stored results alone (``summary.json``,
``meters.parquet``, ``costs.parquet``): the answer, every option, the ALB's drivers, the findings,
what each door can do, the inputs and the figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sim.errors import ResultError
from sim.pricing.charge import CATEGORIES
from sim.report import fmt

#: Labels of the cost categories, in the table's order.
CATEGORY_LABELS = {"front_door": "front door", "backend": "backend", "transfer": "transfer"}
assert tuple(CATEGORY_LABELS) == tuple(CATEGORIES)


def load_summary(directory: Path) -> dict[str, Any]:
    """``summary.json`` of a run directory (a clear error when it cannot be read)."""
    path = directory / "summary.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultError(str(path), f"cannot be read as sim's summary: {exc}") from None
    if not isinstance(data, dict):
        raise ResultError(str(path), "not a summary sim wrote (expected a JSON object)")
    for key in ("options", "provenance", "period", "traffic", "scenario"):
        if key not in data:
            raise ResultError(str(path), f"{key}: missing; this is not a summary sim wrote")
    return with_defaults(dict(data))


def _per_30(t: dict[str, Any]) -> float | None:
    value = (t.get("per_30_days_usd") or {}).get("total_usd")
    return float(value) if isinstance(value, int | float) else None


def with_defaults(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary as this version writes it, from one an older version wrote: what it lacks is
    filled with what it implies (a ranking by the cost it has; no requirements, months, findings
    or warnings), so its report shows what it holds and leaves the rest out."""
    options = summary["options"]
    for t in options.values():
        for key in ("front_door_usd", "backend_usd", "transfer_usd", "total_usd"):
            t.setdefault(key, None)
        t.setdefault("components_usd", {})
        t.setdefault("per_30_days_usd", {})
        t.setdefault("per_30_days_components_usd", {})
        t.setdefault("door", None)
    if "ranking" not in summary:
        qualifying = [o for o, t in options.items() if t.get("qualifies", True)]

        def cost(o: str) -> float:
            value = _per_30(options[o])
            if value is None:
                value = options[o].get("total_usd")
            return float(value) if isinstance(value, int | float) else float("inf")

        summary["ranking"] = [
            {"option": o, "total_usd_per_30_days": _per_30(options[o])}
            for o in sorted(qualifying, key=cost)
        ]
    for key, default in (("excluded", []), ("months", []), ("findings", []), ("warnings", []),
                         ("requirements", {}), ("gateway", {}), ("alb", None)):  # fmt: skip
        summary.setdefault(key, default)
    summary.setdefault("free_tier", summary["provenance"].get("free_tier"))
    ranking = [r["option"] for r in summary["ranking"]]
    summary.setdefault(
        "cheapest_per_30_days", {"front_door": None, "total": ranking[0] if ranking else None}
    )
    summary["provenance"].setdefault("price_book", {})
    return summary


def excluded_by_requirements(config: dict[str, Any] | None) -> dict[str, list[str]]:
    """Options of a stored scenario that its requirements rule out, with why (re-assessed from the
    stored configuration: a sweep's and a study's files do not record it); {} if it cannot be
    read."""
    if not config:
        return {}
    try:
        from sim.config import scenario_from_json
        from sim.doors import assessed

        scenario = scenario_from_json(config, "<stored configuration>", references=False)
        return {a.option.name: list(a.reasons) for a in assessed(scenario) if not a.qualifies}
    except Exception:  # a configuration of another version: no verdicts rather than a guess
        return {}


def ranked(summary: dict[str, Any]) -> list[str]:
    """Options that meet the requirements, cheapest per 30 days first."""
    return [r["option"] for r in summary.get("ranking", [])] or list(summary["options"])


def answer(summary: dict[str, Any]) -> dict[str, Any]:
    """The cheapest qualifying option and what it saves against each of the others, per 30 days
    and per calendar month of the period."""
    options = summary["options"]
    order = ranked(summary)
    best = order[0]
    best_30 = _per_30(options[best])
    against = []
    for other in order[1:]:
        other_30 = _per_30(options[other])
        months = []
        for month in summary.get("months", []):
            bill = month["options"]
            if best in bill and other in bill:
                a, b = bill[best]["total_usd"], bill[other]["total_usd"]
                months.append(
                    {
                        "month": month["month"],
                        "hours": month["hours"],
                        "usd": b - a,
                        "pct": 100 * (b - a) / b if b > 0 else None,
                    }
                )
        gap = None if other_30 is None or best_30 is None else other_30 - best_30
        against.append(
            {
                "option": other,
                "door": options[other].get("door") or other,
                "per_30_days_usd": gap,
                "per_30_days_pct": 100 * gap / other_30 if gap is not None and other_30 else None,
                "months": months,
            }
        )
    return {
        "option": best,
        "door": options[best].get("door") or best,
        "per_30_days_usd": best_30,
        "period_usd": options[best]["total_usd"],
        "against": against,
    }


def option_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per option: qualifying ones ranked, then the excluded with why."""
    options = summary["options"]
    because = {e["option"]: e["because"] for e in summary.get("excluded", [])}
    rows = []
    names = [*((str(i), o) for i, o in enumerate(ranked(summary), 1)),
             *(("–", o) for o in because)]  # fmt: skip
    for rank, name in names:
        t = options[name]
        per30 = t.get("per_30_days_usd", {})
        rows.append(
            {
                "rank": rank,
                "option": name,
                "door": t.get("door") or name,
                "categories": {c: t[f"{c}_usd"] for c in CATEGORIES},
                "total_usd": t["total_usd"],
                "per_30_days_usd": per30.get("total_usd"),
                "components": [
                    {
                        "name": c,
                        "usd": v,
                        "per_30_days_usd": t.get("per_30_days_components_usd", {}).get(c),
                    }
                    for c, v in t.get("components_usd", {}).items()
                ],
                "excluded_because": because.get(name, []),
                "offered_for": t.get("offered_for"),
            }
        )
    return rows


def feature_rows(summary: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The feature table of the doors this run compared (columns: their titles), and which row
    each requirement asks for."""
    from sim.doors import DOORS
    from sim.doors.table import ROWS, cell

    titles = {str(t.get("door")) for t in summary["options"].values()}
    doors = {n: d for n, d in DOORS.items() if d.title in titles}
    wanted = summary.get("requirements") or {}
    limits = {"max_response_bytes": "max_response_bytes", "max_duration_s": "timeout_s"}
    asked = {limits.get(k, k) for k in wanted}
    rows = [
        {
            "feature": label,
            "asked": key in asked,
            "cells": [cell(d.features, key) for d in doors.values()],
        }
        for key, label in ROWS.items()
    ]
    return [d.title for d in doors.values()], rows


def price_sources(costs: pa.Table, summary: dict[str, Any]) -> dict[str, Any]:
    """The price book's id and date, and every unit price the run was billed at, from
    ``costs.parquet`` (the stored bill, whatever the book holds now); each price's source is
    added from the packaged book of the same id and date, when there is one."""
    prov = summary["provenance"]
    book_info = dict(prov.get("price_book", {}))
    seen: dict[tuple[Any, ...], list[str]] = {}
    keys = ["component", "tier", "unit", "unit_price_usd", "option"]
    distinct = costs.select(keys).group_by(keys, use_threads=False).aggregate([])
    for r in distinct.to_pylist():  # one row per price and option, not per hour
        key = (r["component"], r["tier"], r["unit"], r["unit_price_usd"])
        users = seen.setdefault(key, [])
        if r["option"] not in users:
            users.append(r["option"])
    rows = [
        {"component": c, "tier": "" if t is None else str(t), "unit": u, "value": v,
         "options": users}
        for (c, t, u, v), users in sorted(seen.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))
    ]  # fmt: skip
    return {**book_info, "prices": rows, "sources": _book_sources(summary)}


def _book_sources(summary: dict[str, Any]) -> list[str]:
    """The sources a packaged book of the run's id and date cites for its region (its own
    files; a book given as a path is not re-read: it may have changed since)."""
    prov = summary["provenance"]
    book = prov.get("price_book") or {}
    try:
        from sim.pricing.book import (
            load_price_book,
            packaged_book_path,
            packaged_books,
            price_rows,
        )

        if book.get("id") not in packaged_books():
            return []
        loaded = load_price_book(packaged_book_path(str(book["id"])))
        if loaded.retrieved != book.get("retrieved"):
            return []
        region = prov.get("region")
        return sorted({str(r["source"]) for r in price_rows(loaded, region) if r.get("source")})
    except Exception:  # an unknown region or book of another version: no sources listed
        return []


def inputs(summary: dict[str, Any]) -> list[dict[str, str]]:
    """The inputs a reader checks first, one line each, from the stored configuration."""
    config = summary["provenance"].get("config", {})
    prov = summary["provenance"]

    def line(section: str) -> str:
        value = config.get(section)
        if not value:
            return "—"
        return ", ".join(f"{k} = {_plain(v)}" for k, v in value.items() if v not in (None, [], {}))

    rows = [
        {"name": "traffic model", "value": line("traffic")},
        {"name": "payloads", "value": line("payload")},
        {"name": "connection model", "value": line("connections")},
        {"name": "backend (Lambda)", "value": line("backend")},
        {"name": "free tier", "value": str(summary.get("free_tier", prov.get("free_tier")))},
        {"name": "region", "value": str(prov.get("region"))},
        {"name": "fidelity", "value": str(prov.get("fidelity"))},
        {"name": "seed", "value": str(prov.get("seed"))},
        {"name": "config hash (SHA-256)", "value": str(prov.get("config_hash"))},
        {
            "name": "versions",
            "value": ", ".join(f"{k} {v}" for k, v in prov.get("versions", {}).items()),
        },
    ]
    replay = summary.get("replay")
    if isinstance(replay, dict):
        outside = int(replay.get("before_period", 0)) + int(replay.get("after_period", 0))
        bad = replay.get("malformed") or 0
        text = (
            f"{fmt.count(replay.get('replayed', 0))} of {fmt.count(replay.get('logged_requests', 0))}"
            f" logged requests ({replay.get('format')}, {fmt.count(replay.get('files', 1))} "
            f"file(s)); {fmt.count(outside)} outside the period; {fmt.count(bad)} malformed "
            f"lines left out; connections close {_plain(replay.get('idle_timeout_s'))} s after "
            "their last response"
        )
        rows.insert(1, {"name": "replayed logs", "value": text})
    return rows


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, float):
        return fmt.number(value, 6)
    return str(value)


def figures(directory: Path, costs: pa.Table, summary: dict[str, Any]) -> list[dict[str, str]]:
    """The run's figures as inline SVG, drawn from the stored meters and costs."""
    from sim.plots import run_figures
    from sim.report.svg import figure_svg

    meters = pq.read_table(directory / "meters.parquet")
    return [
        {"name": name, "title": title, "svg": figure_svg(fig, title)}
        for name, title, fig in run_figures(meters, costs, summary["scenario"], summary)
    ]


def context(directory: Path, *, with_figures: bool = True) -> dict[str, Any]:
    """Everything the run template shows."""
    summary = load_summary(directory)
    costs = pq.read_table(directory / "costs.parquet")  # read once: prices and figures
    columns, features = feature_rows(summary)
    return {
        "kind": "run",
        "summary": summary,
        "answer": answer(summary),
        "rows": option_rows(summary),
        "categories": CATEGORY_LABELS,
        "feature_columns": columns,
        "features": features,
        "inputs": inputs(summary),
        "book": price_sources(costs, summary),
        "figures": figures(directory, costs, summary) if with_figures else [],
    }
