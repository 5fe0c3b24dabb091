"""What the report of a ``sim study`` shows, from its stored results (``study.json``,
``design.parquet``, ``results.parquet``, ``analysis/``): P(cheapest) with intervals, savings
quantiles, the indices with their intervals and convergence, and a reading in plain words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from sim.errors import ResultError
from sim.report import fmt

#: What each index measures, for the reading and the table.
INDEX_MEANING = {
    "ST": "total-order Sobol' index: the share of the variance this input explains with its "
    "interactions",
    "S1": "first-order Sobol' index: the share it explains alone",
    "mu_star": "Morris μ*: mean absolute elementary effect",
    "sigma": "Morris σ: spread of its elementary effects (interactions, non-linearity)",
    "spearman": "Spearman rank correlation with the outcome",
}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultError(str(path), f"cannot be read: {exc}") from None


def _other(name: str) -> str:
    return "the cheapest other option" if name == "best" else name


def _outcome_words(name: str | None) -> str:
    """An outcome column in words (see :mod:`sim.study.outcomes` for the names)."""
    if not name:
        return "the outcome"
    if name.startswith("savings_usd_"):
        a, _, b = name.removeprefix("savings_usd_").partition("_vs_")
        return f"how many dollars {a} saves against {_other(b)}"
    if name.startswith("log_cost_ratio_"):
        a, _, b = name.removeprefix("log_cost_ratio_").partition("_over_")
        return f"which is cheaper, {b} or {_other(a)} (the log of their cost ratio)"
    return name


#: An index below this is not named as deciding (it explains less than 5% of the variance).
MATTERS = 0.05


def _matters(r: dict[str, Any]) -> bool:
    """An input whose index is at least :data:`MATTERS` and whose interval excludes zero."""
    value, ci = r.get("value"), r.get("ci") or [None, None]
    if value is None or "×" in r["input"]:
        return False
    low = ci[0] if value >= 0 else (-ci[1] if ci[1] is not None else None)
    return abs(value) >= MATTERS and low is not None and low > 0


def _inputs_words(ranked: list[dict[str, Any]], limit: int = 2) -> str:
    """The (up to ``limit``) inputs that clearly matter, with their index."""
    picked = [r for r in ranked if _matters(r)][:limit]
    return " and ".join(f"{r['input']} ({r['index']} {fmt.index(r['value'])})" for r in picked)


def _savings_sentence(name: str, s: dict[str, Any], doc: dict[str, Any]) -> str:
    a, _, b = name.removeprefix("savings_usd_").partition("_vs_")
    median = s["p50"]
    verb = (
        f"saves a median {fmt.usd(median)} against {_other(b)}"
        if median >= 0
        else f"costs a median {fmt.usd(-median)} more than {_other(b)}"
    )
    return (
        f"{a} {verb} ({doc.get('cost_basis')} cost over the period); the middle 90% of runs lie "
        f"between {fmt.usd(s['p05'])} and {fmt.usd(s['p95'])} saved, and it saves money in "
        f"{s['probability_positive']:.1%} of them."
    )


def reading(doc: dict[str, Any], excluded: dict[str, list[str]] | None = None) -> list[str]:
    """Plain sentences generated from the numbers of ``analysis.json`` (``excluded``: the study's
    options that the base scenario's requirements rule out, with why)."""
    out = []
    excluded = excluded or {}
    p = doc.get("probability_cheapest") or {}
    if p:
        best = max(p, key=lambda o: p[o]["probability"])
        q = p[best]
        out.append(
            f"{best} is the cheapest option in {q['probability']:.1%} of the {doc['runs']:,} runs "
            f"({doc['confidence']:.0%} interval {q['ci'][0]:.1%} to {q['ci'][1]:.1%})."
        )
    stopping = doc.get("stopping")
    if stopping:
        asked = ", ".join(
            f"{name.replace('_', ' ')} {width:g}"
            for name, width in stopping["asked"].items()
            if name in ("p_cheapest", "indices") and width is not None
        )
        rounds = len(stopping["rounds"])
        out.append(
            f"The study ran in rounds until its intervals were at most {asked} wide: "
            + (
                f"they were after {stopping['runs']:,} runs ({rounds} round"
                f"{'s' if rounds != 1 else ''}; at most {stopping['most_runs']:,})."
                if stopping["reached"]
                else f"they were still wider after all {stopping['runs']:,} runs."
            )
        )
    for o, why in excluded.items():
        out.append(
            f"But {o} does not meet the base scenario's requirements ({'; '.join(why)}): the "
            "study compares it because its options list it."
        )
    for name, s in (doc.get("savings") or {}).items():
        out.append(_savings_sentence(name, s, doc))
    for outcome, ranked in (
        (doc.get("key_outcome"), doc.get("most_influential") or []),
        (doc.get("relative_outcome"), doc.get("most_influential_relative") or []),
    ):
        if not outcome or not ranked:
            continue
        words = _inputs_words(ranked)
        if words:
            out.append(f"What decides {_outcome_words(outcome)}: {words}.")
        else:
            out.append(
                f"No input's index of {outcome} is clearly above zero with {doc['runs']:,} runs "
                "(every interval reaches 0 or the index is below 0.05): more runs would tell."
            )
    dims = doc.get("dominant_lcu_dimension") or {}
    if dims:
        top = max(dims, key=lambda d: dims[d])
        out.append(f"The ALB's LCUs are set by {top.replace('_', ' ')} in {dims[top]:.0%} of runs.")
    return out


def index_rows(sensitivity: list[dict[str, Any]], outcome: str | None) -> list[dict[str, Any]]:
    """The indices of ``outcome``, largest first within each kind."""
    rows = [r for r in sensitivity if r["outcome"] == outcome]
    rows.sort(key=lambda r: (r["index"], -abs(r["value"] if r["value"] is not None else 0)))
    return rows


def figures(directory: Path, study: dict[str, Any], doc: dict[str, Any]) -> list[dict[str, str]]:
    """The study's figures as inline SVG, drawn from the stored tables."""
    from sim.report.svg import figure_svg
    from sim.study.plots import study_figures

    analysis = directory / "analysis"
    tables = {
        name: pq.read_table(analysis / name)
        for name in ("sensitivity.parquet", "convergence.parquet", "quantiles.parquet")
    }
    design = pq.read_table(directory / "design.parquet")
    results = pq.read_table(directory / "results.parquet")
    return [
        {"name": name, "title": title, "svg": figure_svg(fig, title)}
        for name, title, fig in study_figures(study, design, results, doc, tables)
    ]


def context(directory: Path, *, with_figures: bool = True) -> dict[str, Any]:
    """Everything the study template shows."""
    from sim.report.run import excluded_by_requirements

    study = _read_json(directory / "study.json")
    doc = _read_json(directory / "analysis" / "analysis.json")
    excluded = {
        o: why
        for o, why in excluded_by_requirements(study.get("base_scenario")).items()
        if o in (doc.get("options") or [])
    }
    sens = pq.read_table(directory / "analysis" / "sensitivity.parquet").to_pylist()
    outcomes = [o for o in (doc.get("key_outcome"), doc.get("relative_outcome")) if o]
    return {
        "kind": "study",
        "study": study,
        "doc": doc,
        "reading": reading(doc, excluded),
        "indices": [
            {
                "outcome": o,
                "words": _outcome_words(o),
                "rows": index_rows(sens, o),
            }
            for o in outcomes
        ],
        "index_meaning": INDEX_MEANING,
        "figures": figures(directory, study, doc) if with_figures else [],
    }
