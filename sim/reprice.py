"""Re-pricing a stored run: the same facts under other pricing settings, another region or book.

``sim reprice RUN_DIR --out DIR [--set k=v] [--region R] [--book B]`` reads ``meters.parquet`` (its
facts) and the scenario it was simulated with (its provenance), applies the changes, re-derives
every derived column (LCU dimensions, GB-seconds, WebSocket units) and writes meters, costs and
summary as a fresh run with those settings would (a test checks equality, option by option).

Only pricing settings may change (:data:`PRICING_ONLY`); a setting that changes what is metered
(traffic, payload, connections, the cache's sizes or keys, the throttle, the concurrency limit,
durations, the period) is refused, naming the field: the facts would be those of another scenario.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sim.config import Scenario, apply_overrides, scenario_from_json
from sim.errors import ConfigError, SimError

__all__ = ["PRICING_ONLY", "check_metering", "load_run", "metering_differences", "reprice"]

#: Fields that change only how the facts are priced, never the facts (dotted prefixes). The seed
#: and the engine's settings are not among them: they made the facts.
PRICING_ONLY = (
    "scenario.name",
    "scenario.region",
    "pricing",
    "account",
    "alb",
    "apigateway.apis",
    "apigateway.websocket",
    "apigateway.vpc_endpoint_azs",
    "lambda_url.enabled",
    "lambda_url.auth",
    "cloudfront.https_share",
    "cloudfront.edge_regions",
    "cloudfront.plan",
    "lattice",
    "waf",
    "requirements",
    "backend.enabled",
    "backend.memory_mb",
    "backend.architecture",
    "transfer",
)


class RepriceError(SimError):
    """A stored run that cannot be re-priced (missing files, not sim's, changed metering)."""


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): data}


def _pricing_only(field: str) -> bool:
    return any(field == p or field.startswith(p + ".") for p in PRICING_ONLY)


def _is_default(field: str, value: Any) -> bool:
    """Whether ``value`` is the default of the plain section field ``field`` (``engine.warmup_s``),
    as JSON holds it: a meter table stored before the field existed was metered as its default."""
    from pydantic import BaseModel

    model: type[BaseModel] = Scenario
    *sections, name = field.split(".")
    for part in sections:
        section = model.model_fields.get(part)
        annotation = section.annotation if section is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False  # a union or a table: not a plain field
        model = annotation
    info = model.model_fields.get(name)
    if info is None or info.is_required():
        return False
    default = info.get_default(call_default_factory=True)
    return not isinstance(default, BaseModel) and bool(default == value)


def metering_differences(
    metered: Mapping[str, Any], scenario: Scenario
) -> list[tuple[str, Any, Any]]:
    """``(field, metered value, new value)`` for every field that changes what is metered."""
    old = _flat(metered)
    new = _flat(scenario.model_dump(mode="json"))
    out = []
    for field in sorted(set(old) | set(new)):
        if _pricing_only(field):
            continue
        if field not in old and _is_default(field, new.get(field)):
            continue  # a setting added since the run was stored, at its default: what it did
        if old.get(field) != new.get(field):
            out.append((field, old.get(field), new.get(field)))
    return out


def metering_of(meters: pa.Table) -> dict[str, Any] | None:
    """What produced a meter table (see :func:`sim.engine.run.stamp_metering`), if it says."""
    from sim.engine.run import METERING_KEY

    raw = (meters.schema.metadata or {}).get(METERING_KEY)
    return json.loads(raw) if raw else None


def check_metering(meters: pa.Table, scenario: Scenario, source: str = "<scenario>") -> None:
    """Refuse to price ``meters`` under a scenario that would have metered something else.

    Raises
    ------
    ConfigError
        Naming each field that differs and its two values.
    """
    metering = metering_of(meters)
    if metering is None:
        return
    problems = [
        (
            field,
            f"changes what is metered (the meters were simulated with {old!r}, not {new!r}): "
            "re-pricing changes pricing settings only; simulate again for this change",
        )
        for field, old, new in metering_differences(metering["config"], scenario)
    ]
    if problems:
        raise ConfigError(source, problems)


def load_run(run_dir: str | Path) -> tuple[pa.Table, dict[str, Any]]:
    """The meter table and provenance of a run directory written by ``sim run``."""
    from sim.output import read_manifest, read_provenance

    d = Path(run_dir)
    meters_path = d / "meters.parquet"
    if not d.is_dir():
        raise RepriceError(f"{run_dir}: not a directory (expected a run written by sim run)")
    manifest = read_manifest(d)
    if manifest is None or "meters.parquet" not in manifest["files"] or not meters_path.is_file():
        raise RepriceError(
            f"{run_dir}: holds no run of sim's (no meters.parquet listed in its manifest.json)"
        )
    try:
        provenance = read_provenance(meters_path)
        meters = pq.read_table(meters_path)
    except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
        raise RepriceError(f"{meters_path}: cannot be read as sim's meters ({exc})") from None
    if "config" not in provenance:
        raise RepriceError(f"{meters_path}: its provenance holds no scenario")
    return meters, provenance


def reprice(
    run_dir: str | Path,
    out_dir: str | Path | None,
    overrides: Iterable[str] = (),
    *,
    region: str | None = None,
    book: str | None = None,
    plots: bool = True,
) -> Any:
    """Re-price the run in ``run_dir`` with ``overrides`` (``section.key=value``), ``region`` and
    ``book``; write it to ``out_dir`` (if given). Returns a :class:`sim.api.RunResult`."""
    from sim.api import write_run
    from sim.pricing.derive import facts_only

    meters, provenance = load_run(run_dir)
    changes = list(overrides)
    if region is not None:
        changes.append(f"scenario.region={json.dumps(region)}")
    if book is not None:
        changes.append(
            f"pricing.book={json.dumps(str(Path(book).resolve()) if Path(book).exists() else book)}"
        )
    source = f"{run_dir}/meters.parquet"
    data = apply_overrides(provenance["config"], changes)
    scenario = scenario_from_json(data, source)
    metered = scenario_from_json(provenance["config"], source, references=False)
    problems = [
        (
            field,
            f"changes what is metered ({old!r} -> {new!r}): only pricing settings can be "
            f"re-priced ({', '.join(PRICING_ONLY)}); run the scenario again for this change",
        )
        for field, old, new in metering_differences(metered.model_dump(mode="json"), scenario)
    ]
    if problems:
        raise ConfigError("<--set>", problems)
    seed = int(provenance.get("seed", scenario.scenario.seed))
    facts = facts_only(meters)
    # the facts a fresh run of the new scenario records: more cannot be made up, fewer are dropped
    from sim.engine.paths import engine_paths
    from sim.meters import fact_columns, meter_flags

    wanted = list(fact_columns(engine_paths(scenario), meter_flags(scenario)))
    lacking = [c for c in wanted if c not in facts.column_names]
    if lacking:
        from sim.doors import DOORS, options_for

        needy = [
            o.name
            for o in options_for(scenario)
            if any(c in lacking for c in (*DOORS[o.door].meters, f"{o.path}_invocations"))
        ]
        raise ConfigError(
            "<--set>",
            [
                (
                    "apigateway.apis" if any("ws" in c or "websocket" in c for c in lacking)
                    else "scenario",
                    f"{', '.join(needy) or 'the new settings'} cannot be priced on these meters: "
                    f"the run did not meter {', '.join(lacking[:6])}"
                    f"{' ...' if len(lacking) > 6 else ''}; run the scenario again with it",
                )
            ],
        )  # fmt: skip
    facts = facts.select(wanted).replace_schema_metadata(facts.schema.metadata)
    return write_run(scenario, facts, out_dir, seed=seed, plots=plots, source=source)
