"""What the report of a ``sim run`` shows, built from the stored results alone (``summary.json``,
``meters.parquet``, ``costs.parquet``): the answer, every option, the ALB's drivers, the findings,
what each door can do, the inputs and the figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    for key in ("options", "provenance", "period", "traffic"):
        if key not in data:
            raise ResultError(str(path), f"{key}: missing; this is not a summary sim wrote")
    return dict(data)


def ranked(summary: dict[str, Any]) -> list[str]:
    """Options that meet the requirements, cheapest per 30 days first."""
    return [r["option"] for r in summary.get("ranking", [])] or list(summary["options"])


def answer(summary: dict[str, Any]) -> dict[str, Any]:
    """The cheapest qualifying option and what it saves against each of the others, per 30 days
    and per calendar month of the period."""
    options = summary["options"]
    order = ranked(summary)
    best = order[0]
    best_30 = options[best]["per_30_days_usd"]["total_usd"]
    against = []
    for other in order[1:]:
        other_30 = options[other]["per_30_days_usd"]["total_usd"]
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
        against.append(
            {
                "option": other,
                "door": options[other].get("door", other),
                "per_30_days_usd": other_30 - best_30,
                "per_30_days_pct": 100 * (other_30 - best_30) / other_30 if other_30 > 0 else None,
                "months": months,
            }
        )
    return {
        "option": best,
        "door": options[best].get("door", best),
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
                "door": t.get("door", name),
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


def price_sources(summary: dict[str, Any]) -> dict[str, Any]:
    """The price book's id and date, and (when the book can still be loaded) every price of the
    run's region with its source."""
    prov = summary["provenance"]
    book_info = dict(prov.get("price_book", {}))
    rows: list[dict[str, Any]] = []
    try:
        from sim.config import price_book_for, scenario_from_json

        scenario = scenario_from_json(prov["config"], "summary.json", references=False)
        from sim.pricing.book import price_rows

        book = price_book_for(scenario)
        rows = [
            r
            for r in price_rows(book, scenario.scenario.region)
            if str(r.get("region")) in ("(all)", scenario.scenario.region)
        ]
    except Exception:  # a book that moved away: show the id and date alone
        rows = []
    return {**book_info, "prices": rows}


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
    return rows


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, float):
        return fmt.number(value, 6)
    return str(value)


def figures(directory: Path, summary: dict[str, Any]) -> list[dict[str, str]]:
    """The run's figures as inline SVG, drawn from the stored meters and costs."""
    from sim.plots import run_figures
    from sim.report.svg import figure_svg

    meters = pq.read_table(directory / "meters.parquet")
    costs = pq.read_table(directory / "costs.parquet")
    return [
        {"name": name, "title": title, "svg": figure_svg(fig, title)}
        for name, title, fig in run_figures(meters, costs, summary["scenario"], summary)
    ]


def context(directory: Path, *, with_figures: bool = True) -> dict[str, Any]:
    """Everything the run template shows."""
    summary = load_summary(directory)
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
        "book": price_sources(summary),
        "figures": figures(directory, summary) if with_figures else [],
    }
