"""What the report of a ``sim sweep`` shows, from ``breakeven.json`` and ``sweep.parquet``: the
break-even points, the cheapest option along the range, the curves and the table of costs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from sim.errors import ResultError


def load_breakeven(directory: Path) -> dict[str, Any]:
    path = directory / "breakeven.json"
    try:
        doc = dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultError(
            str(path), f"cannot be read as sim's break-even document: {exc}"
        ) from None
    for key in ("pairs", "cheapest", "path", "values"):
        if key not in doc:
            raise ResultError(str(path), f"{key}: missing; this is not a document sim wrote")
    return doc


def cheapest_qualifying(
    doc: dict[str, Any], table: Any, excluded: dict[str, list[str]]
) -> dict[str, list[dict[str, Any]]]:
    """Per basis, the segments of the range where each option that meets the requirements is the
    cheapest (``breakeven.json``'s ``cheapest`` when none is excluded)."""
    if not excluded:
        return dict(doc["cheapest"])
    from sim.sweep import BASES, _curve, _envelope

    x = np.asarray(doc["values"], dtype=float)
    options = [o for o in dict.fromkeys(table.column("option").to_pylist()) if o not in excluded]
    return {
        basis: _envelope(
            x,
            {o: _curve(table, o, f"{basis}_per_30_days_usd") for o in options},
            doc.get("scale") == "log",
        )
        for basis in BASES
    }


def cost_table(
    directory: Path, excluded: dict[str, list[str]] | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """Options, and one row per swept value: each option's front-door and total USD per 30 days."""
    table = pq.read_table(directory / "sweep.parquet")
    options = list(dict.fromkeys(table.column("option").to_pylist()))
    values = table.column("value").to_numpy()
    names = table.column("option").to_numpy(zero_copy_only=False)
    rows = []
    for value in dict.fromkeys(values.tolist()):
        here = values == value
        cells = {}
        for option in options:
            pick = here & (names == option)
            cells[option] = {
                "front_door": float(table.column("front_door_per_30_days_usd").to_numpy()[pick][0]),
                "total": float(table.column("total_per_30_days_usd").to_numpy()[pick][0]),
            }
        qualifying = [o for o in options if o not in (excluded or {})] or options
        cheapest = min(qualifying, key=lambda o: cells[o]["total"])
        rows.append({"value": float(value), "cells": cells, "cheapest": cheapest})
    return options, rows


def figure_title(doc: dict[str, Any]) -> str:
    """The sweep figure's caption (``sim sweep`` and ``sim report`` give it the same, so a rebuilt
    page equals the first)."""
    return f"{doc['scenario']}: USD per 30 days against {doc['path']}"


def figures(directory: Path, doc: dict[str, Any]) -> list[dict[str, str]]:
    from sim.report.svg import figure_svg
    from sim.sweep import sweep_figure

    table = pq.read_table(directory / "sweep.parquet")
    title = figure_title(doc)
    return [{"name": "sweep", "title": title, "svg": figure_svg(sweep_figure(table, doc), title)}]


def context(directory: Path, *, with_figures: bool = True) -> dict[str, Any]:
    """Everything the sweep template shows."""
    from sim.report.run import excluded_by_requirements

    doc = load_breakeven(directory)
    excluded = excluded_by_requirements((doc.get("provenance") or {}).get("config"))
    options, rows = cost_table(directory, excluded)
    table = pq.read_table(directory / "sweep.parquet")
    crossings = [
        {**c, "basis": p["basis"], "options": p["options"]}
        for p in doc["pairs"]
        for c in p["crossings"]
    ]
    crossings.sort(key=lambda c: (c["basis"] != "total", c["value"]))
    never = [p for p in doc["pairs"] if not p["crossings"]]
    return {
        "kind": "sweep",
        "doc": doc,
        "cheapest": cheapest_qualifying(doc, table, excluded),
        "excluded": excluded,
        "options": options,
        "rows": rows,
        "crossings": crossings,
        "never": never,
        "span": [float(np.min(doc["values"])), float(np.max(doc["values"]))],
        "figures": figures(directory, doc) if with_figures else [],
    }
