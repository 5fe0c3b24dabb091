"""A run's bill: from the engine's facts and a price book to the cost timeline, the calendar-month
invoices and the 30-day projection, option by option through the door registry.

This module reads the meter table and the scenario's pricing settings only, never the engine, so a
stored run can be re-priced (another region, a newer book, other pricing-only settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from sim.config import Scenario
from sim.doors import DOORS, BillingContext, Facts, Option, options_for
from sim.errors import ConfigError
from sim.pricing.book import RegionPrices
from sim.pricing.charge import Charge
from sim.pricing.costs import Period, cost_timeline, projected_costs
from sim.pricing.derive import derive_columns

__all__ = ["Bill", "bill", "charges_for", "period_of"]


@dataclass(frozen=True)
class Bill:
    """Everything a run is billed, with the meter table it was billed from."""

    meters: pa.Table  # facts and derived columns
    options: tuple[Option, ...]
    charges: tuple[Charge, ...]
    costs: pa.Table
    projection: dict[str, dict[str, Any]]


def period_of(scenario: Scenario, meters: pa.Table) -> Period:
    """The simulated period, as the projection needs it."""
    start = int(scenario.scenario.start.timestamp())
    end = start + scenario.scenario.duration_s
    days = -(-end // 86_400) - start // 86_400
    return Period(
        scenario.scenario.duration_s, meters.num_rows, start % 3600 == 0, days, start % 86_400 == 0
    )


def charges_for(
    meters: pa.Table, scenario: Scenario, prices: RegionPrices
) -> tuple[pa.Table, tuple[Option, ...], list[Charge]]:
    """The derived meter table, the options and every charge of every option of ``scenario`` on
    ``meters`` (facts; derived columns are recomputed): what :func:`bill` prices.

    Transfer charges are left out when ``transfer.enabled`` is false (the summary says so).
    """
    derived = derive_columns(meters, scenario)
    ctx = BillingContext(Facts(derived), scenario, prices)
    options = tuple(options_for(scenario))
    names = set(derived.column_names)
    for option in options:
        needed = [*DOORS[option.door].meters, f"{option.path}_invocations"]
        lacking = [c for c in needed if c not in names]
        if lacking:
            raise ConfigError(
                "<scenario>",
                [
                    (
                        "apigateway.apis",
                        f"{option.name} cannot be priced on these meters: they hold no "
                        f"{', '.join(lacking)} (the run did not meter it; run the scenario again "
                        "with this option)",
                    )
                ],
            )
    charges: list[Charge] = []
    for option in options:
        try:
            charges += DOORS[option.door].charges(option, ctx)
        except KeyError as exc:  # a fact the run did not meter (Facts names it)
            raise ConfigError(
                "<scenario>", [("scenario", f"{option.name} cannot be priced: {exc.args[0]}")]
            ) from None
    if not scenario.transfer.enabled:  # left out of every option's bill (the summary says so)
        charges = [c for c in charges if c.category != "transfer"]
    return derived, options, charges


def bill(meters: pa.Table, scenario: Scenario, prices: RegionPrices) -> Bill:
    """Bill every option of ``scenario`` on ``meters`` (facts; derived columns are recomputed)."""
    derived, options, charges = charges_for(meters, scenario, prices)
    usage = dict(scenario.account.other_monthly_usage)
    costs = cost_timeline(charges, derived.column("hour"), usage)
    projection = projected_costs(charges, period_of(scenario, derived), usage)
    return Bill(derived, options, tuple(charges), costs, projection)
