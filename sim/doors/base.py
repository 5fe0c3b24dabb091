"""What a front door is: the options it offers, the path its Lambda is on, what it bills, and
what it supports.

A door is one :class:`Door` in the registry (:data:`sim.doors.DOORS`), declared in its own module:

* ``options(scenario)``: the options it adds to a scenario (none when it is not compared);
* ``path(option)``: the engine path (:mod:`sim.engine.paths`) whose Lambda facts it bills;
* ``meters``: the fact columns its front-door charges read (checked against the engine's schema);
* ``charges(option, ctx)``: its charges, pure functions of the meters and the prices, each citing
  its source; behind every door the same :func:`lambda_charges` and :func:`transfer_charges`;
* ``features``: what it supports (PRICING.md's feature table).

Adding a door is one new module, price-book entries and tests; nothing else lists the doors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from sim.pricing.book import Price, RegionPrices, TieredPrice
from sim.pricing.charge import Charge
from sim.pricing.freetier import allowance, tiers_after
from sim.units import BINARY_GB_BYTES

if TYPE_CHECKING:
    import pyarrow as pa

    from sim.config import Scenario


@dataclass(frozen=True)
class Features:
    """What a front door supports (PRICING.md, "What each front door can do").

    Attributes
    ----------
    waf : bool
        Takes an AWS WAF web ACL itself.
    api_keys : bool
        API keys, usage plans and per-client throttling.
    cache : str or None
        Its own response cache (``"hourly"`` for the REST cache), or None.
    private : bool
        Can be reached from inside a VPC only.
    mutual_tls, custom_domain, jwt_auth, websocket : bool
    max_request_bytes, max_response_bytes : int
        Payload limits to and from the Lambda function behind it.
    timeout_s : float
        Longest invocation it waits for.
    notes : dict of str to str
        How it does what the booleans summarise (e.g. ``jwt_auth``: "JWT authorizers").
    streams : bool
        Its responses are streamed (not bound by Lambda's 6 MB synchronous limit).
    """

    waf: bool
    api_keys: bool
    cache: str | None
    private: bool
    mutual_tls: bool
    custom_domain: bool
    jwt_auth: bool
    websocket: bool
    max_request_bytes: int
    max_response_bytes: int
    timeout_s: float
    notes: Mapping[str, str] = field(default_factory=dict)
    streams: bool = False


@dataclass(frozen=True)
class Option:
    """One option a scenario compares: a door with its parameters (e.g. a cache size)."""

    name: str
    door: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)


class Facts:
    """Typed access to a meter table's columns (facts and derived)."""

    def __init__(self, meters: pa.Table) -> None:
        self.table = meters
        self.n = meters.num_rows
        self._names = frozenset(meters.column_names)
        self._cache: dict[str, NDArray[np.float64]] = {}

    def __call__(self, name: str) -> NDArray[np.float64]:
        if name not in self._cache:
            if name not in self._names:
                raise KeyError(
                    f"the meters have no column {name!r}: they were recorded for other options "
                    "(re-run the simulation with this option enabled)"
                )
            self._cache[name] = np.asarray(self.table.column(name).to_numpy(), dtype=np.float64)
        return self._cache[name]

    def constant(self, value: float) -> NDArray[np.float64]:
        return np.full(self.n, float(value))

    def has(self, name: str) -> bool:
        return name in self._names

    def hours(self) -> NDArray[np.datetime64]:
        """The start of each metered hour (UTC)."""
        return np.asarray(self.table.column("hour").to_numpy()).astype("datetime64[h]")


@dataclass(frozen=True)
class BillingContext:
    """What a door's charges are computed from."""

    facts: Facts
    scenario: Scenario
    prices: RegionPrices

    def free(self, usage: str) -> float:
        """The free allowance of ``usage`` per month under the scenario's free-tier choice."""
        return allowance(self.prices.free_tier, usage, self.scenario.pricing.free_tier)

    def charge(
        self,
        option: Option,
        category: str,
        component: str,
        unit: str,
        quantity: NDArray[np.float64],
        price: str | Price | TieredPrice,
        *,
        usage: str | None = None,
        hourly: bool = False,
        daily: bool = False,
        share: float = 1.0,
    ) -> Charge:
        """A charge of ``option`` at ``price`` (a price-book entry's name, or a price), with its
        usage's free allowance (``share`` of it: see :class:`~sim.pricing.charge.Charge`)."""
        if isinstance(price, str):
            price = self.prices.need(price)
        assert isinstance(price, Price | TieredPrice)
        return Charge(
            option.name,
            category,
            component,
            unit,
            np.asarray(quantity, dtype=np.float64),
            price,
            usage=usage,
            hourly=hourly,
            free=self.free(usage) * share if usage else 0.0,
            daily=daily,
            share=share,
            free_after=bool(usage) and tiers_after(self.prices.free_tier, usage or ""),
        )

    @property
    def private(self) -> bool:
        """The API is called from inside VPCs only (``requirements.private``)."""
        return self.scenario.requirements.private


@dataclass(frozen=True)
class Door:
    """A front door (see the module docstring)."""

    name: str
    title: str
    features: Features
    options: Callable[[Scenario], list[Option]]
    charges: Callable[[Option, BillingContext], list[Charge]]
    meters: tuple[str, ...]
    #: The price-book entries its front-door charges need (Lambda's are added when billed).
    prices: tuple[str, ...] = ()
    #: What one of its options supports, when that depends on the option (CloudFront: its origin).
    option_features: Callable[[Option, Scenario], Features] | None = None
    #: An option it offers to meet requirements another option cannot (CloudFront carrying WAF in
    #: front of an HTTP API): ``offer(option, unmet requirement keys, scenario)``.
    offer: Callable[[Option, tuple[str, ...], Scenario], Option | None] | None = None
    #: The price-book entries an option needs, when they depend on the scenario.
    option_prices: Callable[[Option, Scenario], tuple[str, ...]] | None = None

    def features_of(self, option: Option, scenario: Scenario) -> Features:
        """What ``option`` supports."""
        return self.option_features(option, scenario) if self.option_features else self.features

    def prices_of(self, option: Option, scenario: Scenario) -> tuple[str, ...]:
        """The price-book entries ``option``'s front-door charges need."""
        extra = self.option_prices(option, scenario) if self.option_prices else ()
        return (*self.prices, *extra)


def lambda_charges(option: Option, ctx: BillingContext) -> list[Charge]:
    """Lambda requests and GB-seconds of the option's own function (its path's invocations).

    Source: https://aws.amazon.com/lambda/pricing/ ($0.20 per million requests; GB-s tiers on the
    month's aggregate per architecture; 1 M requests and 400,000 GB-s Always Free).
    """
    backend = ctx.scenario.backend
    if not backend.enabled:
        return []
    arch = "arm64" if backend.architecture == "arm64" else "x86"
    return [
        ctx.charge(
            option,
            "backend",
            "lambda_requests",
            "request",
            ctx.facts(f"{option.path}_invocations"),
            "lambda_requests",
            usage="lambda_requests",
        ),
        ctx.charge(
            option,
            "backend",
            "lambda_gb_seconds",
            "GB-second",
            ctx.facts(f"{option.path}_gb_seconds"),
            f"lambda_gb_second_{arch}",
            usage="lambda_gb_seconds",
        ),
    ]


def transfer_charges(
    option: Option, ctx: BillingContext, out_bytes: NDArray[np.float64] | None = None
) -> list[Charge]:
    """Data transfer out to the internet of the responses the option sends (its path's response
    bytes, or ``out_bytes``), in binary GB as AWS's API Gateway examples count them.

    Source: https://aws.amazon.com/ec2/pricing/on-demand/ (data transfer; 100 GB a month Always Free).
    """
    sent = ctx.facts(f"{option.path}_response_bytes") if out_bytes is None else out_bytes
    return [
        ctx.charge(
            option,
            "transfer",
            "data_transfer",
            "GB (2^30 bytes)",
            sent / BINARY_GB_BYTES,
            "data_transfer_out",
            usage="data_transfer_gb",
        )
    ]


def behind(option: Option, ctx: BillingContext) -> list[Charge]:
    """What sits behind every door alike: its Lambda function and its data transfer out."""
    return [*lambda_charges(option, ctx), *transfer_charges(option, ctx)]
