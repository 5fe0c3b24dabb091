"""Summaries as Markdown (for a pull-request comment): a run, a sweep, a study, and what changed
between two runs."""

from __future__ import annotations

from typing import Any

from sim.report import fmt
from sim.report.run import CATEGORY_LABELS, answer, ranked


def _table(head: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    """A Markdown table; ``align``: ``l`` or ``r`` per column (default: the first left, the
    others right)."""
    align = align or "l" + "r" * (len(head) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    return [
        "| " + " | ".join(head) + " |",
        "| " + " | ".join(rule) + " |",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def run_markdown(summary: dict[str, Any]) -> str:
    """The answer and the table of every option, as in the report."""
    a = answer(summary)
    days = summary["period"]["days"]
    lines = [
        f"### {summary['scenario']}: {fmt.days(days)} from {summary['period']['start'][:10]}",
        "",
        f"**Cheapest that meets the requirements: {a['option']}** ({a['door']}), "
        f"{fmt.usd(a['per_30_days_usd'])} per 30 days.",
        "",
    ]
    for other in a["against"]:
        lines.append(
            f"- saves {fmt.usd(other['per_30_days_usd'])} per 30 days "
            f"({fmt.pct(other['per_30_days_pct'])}) against {other['option']}"
        )
    if a["against"]:
        lines.append("")
    options = summary["options"]
    because = {e["option"]: e["because"] for e in summary.get("excluded", [])}
    head = ["#", "option", *CATEGORY_LABELS.values(), "total", "per 30 days"]
    rows = []
    for i, name in [*enumerate(ranked(summary), 1), *(("–", o) for o in because)]:
        t = options[name]
        rows.append(
            [
                str(i),
                name,
                *(fmt.usd(t.get(f"{c}_usd")) for c in CATEGORY_LABELS),
                fmt.usd(t["total_usd"]),
                fmt.usd(t["per_30_days_usd"].get("total_usd")),
            ]
        )
    lines += _table(head, rows, "ll" + "r" * (len(head) - 2))
    for name, why in because.items():
        lines.append(f"\n- excluded: {name}: {'; '.join(why)}")
    alb = summary.get("alb")
    if alb and "alb" in options and "mean_lcu" in alb:
        lines.append(
            f"\nALB: dominant LCU dimension {alb['dominant_lcu_dimension']}; mean "
            f"{alb['mean_lcu']:.3f} LCU, peak {alb['peak_lcu']:.3f}."
        )
    for f in summary.get("findings", []):
        lines.append(f"- finding: {f['what']} ({', '.join(f['options'])})")
    prov = summary["provenance"]
    book = prov.get("price_book", {})
    lines.append(
        f"\n<sub>sim {prov.get('versions', {}).get('sim', '')}, {prov.get('fidelity')} fidelity, "
        f"seed {prov.get('seed')}, {prov.get('region')}, price book {book.get('id')} "
        f"({book.get('retrieved')}), free tier {summary.get('free_tier')}</sub>"
    )
    return "\n".join(lines) + "\n"


def diff(
    current: dict[str, Any],
    baseline: dict[str, Any],
    names: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """What changed from ``baseline`` to ``current``, per option and component, USD per 30 days
    (periods of different lengths compare on the same footing). ``names``: how to call the two
    (default: their scenarios' names)."""
    now, before = current["options"], baseline["options"]
    rows = []
    for option in [*now, *(o for o in before if o not in now)]:
        a = before.get(option, {}).get("per_30_days_usd", {}).get("total_usd")
        b = now.get(option, {}).get("per_30_days_usd", {}).get("total_usd")
        comps_a = before.get(option, {}).get("per_30_days_components_usd", {})
        comps_b = now.get(option, {}).get("per_30_days_components_usd", {})
        components = []
        for name in [*comps_b, *(c for c in comps_a if c not in comps_b)]:
            ca, cb = comps_a.get(name), comps_b.get(name)
            components.append(_change(name, ca, cb))
        row = _change(option, a, b)
        row["components"] = components
        rows.append(row)
    return {
        "current": names[0] if names else current["scenario"],
        "baseline": names[1] if names else baseline["scenario"],
        "basis": "USD per 30 days",
        "cheapest": {
            "current": (current.get("cheapest_per_30_days") or {}).get("total"),
            "baseline": (baseline.get("cheapest_per_30_days") or {}).get("total"),
        },
        "options": rows,
    }


def _change(name: str, before: float | None, now: float | None) -> dict[str, Any]:
    delta = None if before is None or now is None else now - before
    pct = None if delta is None or not before else 100 * delta / before
    status = "added" if before is None else "removed" if now is None else "changed"
    return {"name": name, "baseline_usd": before, "current_usd": now, "delta_usd": delta,
            "delta_pct": pct, "status": status}  # fmt: skip


def diff_markdown(change: dict[str, Any]) -> str:
    """The change as a Markdown table (options, then their components that moved)."""
    lines = [
        f"### {change['current']} against {change['baseline']} ({change['basis']})",
        "",
    ]
    c = change["cheapest"]
    if c["current"] != c["baseline"]:
        lines += [f"**The cheapest option changed: {c['baseline']} → {c['current']}.**", ""]
    else:
        lines += [f"The cheapest option is still {c['current']}.", ""]
    rows = []
    for r in change["options"]:
        rows.append(_diff_cells(f"**{r['name']}**", r))
        for comp in r["components"]:
            if comp["delta_usd"] is None or abs(comp["delta_usd"]) >= 0.005:
                rows.append(_diff_cells(f"&nbsp;&nbsp;{comp['name']}", comp))
    lines += _table(["option / component", "baseline", "current", "change", "change %"], rows)
    return "\n".join(lines) + "\n"


def _diff_cells(label: str, r: dict[str, Any]) -> list[str]:
    if r["status"] != "changed":
        return [label, fmt.usd(r["baseline_usd"]), fmt.usd(r["current_usd"]), r["status"], ""]
    return [
        label,
        fmt.usd(r["baseline_usd"]),
        fmt.usd(r["current_usd"]),
        fmt.usd(r["delta_usd"], sign=True),
        fmt.pct(r["delta_pct"], sign=True),
    ]


def sweep_markdown(doc: dict[str, Any]) -> str:
    """The break-even points and the cheapest option along the range."""
    lines = [
        f"### {doc['scenario']}: cost against {doc['path']} "
        f"({fmt.number(doc['start'])} to {fmt.number(doc['stop'])}, {doc['steps']} points, "
        f"{doc['scale']})",
        "",
    ]
    for basis in ("front_door", "total"):
        label = basis.replace("_", " ")
        segments = doc["cheapest"].get(basis, [])
        cheapest = ", then ".join(
            f"{s['option']} ({fmt.number(s['from'])} to {fmt.number(s['to'])})" for s in segments
        )
        lines.append(f"- cheapest on {label}: {cheapest}")
    rows = []
    for pair in doc["pairs"]:
        for c in pair["crossings"]:
            rows.append(
                [
                    pair["basis"].replace("_", " "),
                    f"{pair['options'][0]} = {pair['options'][1]}",
                    fmt.number(c["value"], 6),
                    fmt.usd(c["cost_per_30_days_usd"]),
                    c["cheaper_below"],
                    c["cheaper_above"],
                ]
            )
    lines.append("")
    if rows:
        head = ["basis", "pair", doc["path"], "$/30 days there", "cheaper below", "cheaper above"]
        lines += _table(head, rows, "llrrll")
    else:
        lines.append("No two options cross in this range.")
    return "\n".join(lines) + "\n"


def study_markdown(doc: dict[str, Any]) -> str:
    """P(cheapest) with intervals, savings quantiles, the indices that decide, and the reading."""
    from sim.report.study import reading

    lines = [f"### {doc['study']}: {doc['runs']} runs, {doc['design']} design", ""]
    lines += [f"- {sentence}" for sentence in reading(doc)]
    lines.append("")
    if "probability_cheapest" in doc:
        rows = [
            [o, fmt.prob(p["probability"]), f"{fmt.prob(p['ci'][0])} – {fmt.prob(p['ci'][1])}"]
            for o, p in doc["probability_cheapest"].items()
        ]
        lines += _table(["option", "P(cheapest)", f"{doc['confidence']:.0%} interval"], rows)
        lines.append("")
    rows = [
        [
            name.removeprefix("savings_usd_").replace("_vs_", " vs "),
            fmt.usd(s["p05"]),
            fmt.usd(s["p50"]),
            fmt.usd(s["p95"]),
            fmt.prob(s["probability_positive"]),
        ]
        for name, s in doc.get("savings", {}).items()
    ]
    if rows:
        lines += _table(["savings", "5%", "median", "95%", "P(> 0)"], rows)
    return "\n".join(lines) + "\n"
