"""Price book: AWS list prices as data, each with its source URL and retrieval date.

A price book is a TOML file (``sim/pricing/data/<id>.toml``); this module loads it into frozen
dataclasses. Prices are never constants in code: re-pricing a stored run for another region or next
year's prices means loading another book.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from sim.pricing.freetier import USAGE, FreeAllowance

__all__ = [
    "DEFAULT_BOOK_ID",
    "MissingPriceError",
    "PlanPrice",
    "Price",
    "PriceBook",
    "PriceBookError",
    "RegionPrices",
    "Tier",
    "TieredPrice",
    "UnknownRegionError",
    "diff_books",
    "load_price_book",
    "packaged_books",
    "price_rows",
    "region_prices",
    "unverified_entries",
]

#: Largest price-book file read (the packaged ones are under 100 kB).
MAX_BOOK_BYTES = 16 * 2**20

DEFAULT_BOOK_ID = "aws-2026-09"
"""Id (and file stem) of the default price book packaged with ``sim`` (built by ``sim prices
import`` from AWS's price files; ``aws-2025-11``, the book before it, is packaged too)."""

_UNVERIFIED = "unverified"


class PriceBookError(ValueError):
    """A price book file is unreadable or malformed; the message names the file and the key."""


class UnknownRegionError(ValueError):
    """A region was asked for that the price book does not price."""


class MissingPriceError(PriceBookError):
    """A price the book lacks for a region."""


@dataclass(frozen=True)
class Price:
    """One flat price.

    Attributes
    ----------
    value : float
        USD per unit of ``unit``.
    unit : str
        What one unit is, e.g. ``"USD per LCU-hour"``.
    source : str
        URL the value was read from.
    retrieved : str
        ISO date the value was read.
    note : str or None
        Caveats; starts with ``"unverified"`` when the value could not be sourced.
    file : str or None
        The AWS price file the value was read from, with its version (``file@version``), for
        books made by ``sim prices import``.
    """

    value: float
    unit: str
    source: str
    retrieved: str
    note: str | None = None
    file: str | None = None

    @property
    def verified(self) -> bool:
        """False when the note marks the value as unverified."""
        return not (self.note or "").startswith(_UNVERIFIED)


@dataclass(frozen=True)
class Tier:
    """One tier of a tiered price.

    Attributes
    ----------
    up_to : float or None
        Cumulative monthly quantity at which the tier ends; None for the last, unbounded tier.
    price : float
        USD per unit of quantity within the tier.
    """

    up_to: float | None
    price: float


@dataclass(frozen=True)
class TieredPrice:
    """A price that falls with the month-to-date quantity (AWS volume tiers).

    Attributes
    ----------
    tiers : tuple of Tier
        Tiers in order; ``up_to`` strictly increasing, the last one None.
    unit, source, retrieved, note
        As for :class:`Price`.
    """

    tiers: tuple[Tier, ...]
    unit: str
    source: str
    retrieved: str
    note: str | None = None
    file: str | None = None

    def __post_init__(self) -> None:
        _check_tiers(self.tiers)

    @property
    def verified(self) -> bool:
        """False when the note marks some value as unverified."""
        return not (self.note or "").startswith(_UNVERIFIED)

    @classmethod
    def flat(cls, price: Price) -> TieredPrice:
        """One unbounded tier at ``price.value`` (lets flat prices share the tier machinery)."""
        return cls(
            tiers=(Tier(None, price.value),),
            unit=price.unit,
            source=price.source,
            retrieved=price.retrieved,
            note=price.note,
            file=price.file,
        )

    def with_free(self, free_quantity: float, after: bool = False) -> TieredPrice:
        """Return these tiers with the first ``free_quantity`` units of the month at $0.

        AWS subtracts the free tier first. For most usages the published tier boundaries stay
        where they are (cumulative monthly counts): the free units are taken out of the lowest
        tier(s), and a tier that lies wholly inside the free allowance disappears. Example: Lambda
        x86 with 400,000 free GB-s gives ``[0 to 400,000 at $0, 400,000 to 6 B at tier-1 price,
        ...]``. With ``after`` the published tiers start after the free units instead (data
        transfer out: "first 10 TB / month data transfer out beyond the global free tier").

        Parameters
        ----------
        free_quantity : float
            Free units per month, >= 0.
        after : bool
            The published tiers begin after the free units (their boundaries shift by it).

        Returns
        -------
        TieredPrice
            New tiers; ``self`` when ``free_quantity`` is 0.
        """
        if not (free_quantity >= 0 and math.isfinite(free_quantity)):
            raise ValueError(f"free_quantity must be finite and >= 0, got {free_quantity!r}")
        if free_quantity == 0:
            return self
        if after:
            shifted = tuple(
                Tier(None if t.up_to is None else t.up_to + free_quantity, t.price)
                for t in self.tiers
            )
            return TieredPrice(
                tiers=(Tier(free_quantity, 0.0), *shifted),
                unit=self.unit,
                source=self.source,
                retrieved=self.retrieved,
                note=self.note,
                file=self.file,
            )
        paid = tuple(t for t in self.tiers if t.up_to is None or t.up_to > free_quantity)
        return TieredPrice(
            tiers=(Tier(free_quantity, 0.0), *paid),
            unit=self.unit,
            source=self.source,
            retrieved=self.retrieved,
            note=self.note,
            file=self.file,
        )


def _check_tiers(tiers: tuple[Tier, ...]) -> None:
    if not tiers:
        raise ValueError("a tiered price needs at least one tier")
    previous = 0.0
    for i, tier in enumerate(tiers):
        if not (tier.price >= 0 and math.isfinite(tier.price)):
            raise ValueError(f"tier {i}: price must be finite and >= 0, got {tier.price!r}")
        last = i == len(tiers) - 1
        if last != (tier.up_to is None):
            raise ValueError("only the last tier, and always the last tier, has up_to = None")
        if tier.up_to is not None:
            if not (tier.up_to > previous and math.isfinite(tier.up_to)):
                raise ValueError(f"tier {i}: up_to must increase strictly, got {tier.up_to!r}")
            previous = tier.up_to


@dataclass(frozen=True)
class PlanPrice:
    """A CloudFront flat-rate plan: its monthly fee and what it includes.

    Attributes
    ----------
    fee : Price
        USD per month (prorated by the day).
    requests : float
        Requests a month the plan allows.
    data_transfer_gb : float
        GB out a month the plan allows (1 TB = 1,024 GB).
    waf_rules : int
        Rules its included web ACL holds.
    """

    fee: Price
    requests: float
    data_transfer_gb: float
    waf_rules: int


@dataclass(frozen=True)
class RegionPrices:
    """Every price the simulator needs in one region, plus the account's monthly free tiers.

    Attributes
    ----------
    region : str
        AWS region code, e.g. ``"us-east-1"``.
    alb_hour, alb_lcu_hour, alb_trust_store_hour, public_ipv4_hour : Price
        ALB charges per hour (load balancer, LCU, mutual-TLS trust store, public IPv4 address).
    apigw_rest_requests, apigw_http_requests, apigw_websocket_messages : TieredPrice
        API Gateway per-request (per-metered-unit, per-message) tiers.
    apigw_websocket_connection_minutes : Price
        Per connection minute.
    cache_hour_by_gb : dict of float to Price
        REST API cache price per hour by cache size in GB.
    lambda_requests : Price
        Per invocation.
    lambda_gb_second_x86, lambda_gb_second_arm64 : TieredPrice
        Per GB-second, tiers on the month's aggregate per architecture.
    data_transfer_out : TieredPrice
        Per GB out to the internet.
    lambda_streaming_gb_x86, lambda_streaming_gb_arm64 : Price
        Per GB of streamed response beyond each response's first 6 MB (function URLs).
    lattice_service_hour, lattice_gb, lattice_requests : Price
        VPC Lattice per service-hour, GB processed and request (beyond 300,000 an hour).
    privatelink_endpoint_hour : Price
        Per interface VPC endpoint-hour in one AZ; ``privatelink_gb`` (tiered) per GB processed.
    cloudfront_requests_https, cloudfront_requests_http, cloudfront_origin_transfer : dict
        CloudFront per request (HTTPS, HTTP) and per GB sent to the origin, by edge region (the
        book's ``[global]`` table: the same in every region).
    cloudfront_data_transfer_out : dict of str to TieredPrice
        CloudFront per GB out, monthly tiers by edge region.
    cloudfront_plans : dict of str to PlanPrice
        CloudFront's flat-rate plans by name (``free``, ``pro``, ``business``, ``premium``).
    waf_web_acl_month, waf_rule_month, waf_requests, waf_bot_control_month : Price
        AWS WAF (global): per web ACL and rule a month (prorated hourly), per request inspected,
        Bot Control per month; ``waf_bot_control_requests`` (tiered, first 10 M free) per request.
    free_tier : dict of str to FreeAllowance
        The account's monthly allowances by usage (:mod:`sim.pricing.freetier`), each with its
        offer (Always Free or the legacy 12-month one).
    """

    region: str
    alb_hour: Price | None = None
    alb_lcu_hour: Price | None = None
    alb_trust_store_hour: Price | None = None
    public_ipv4_hour: Price | None = None
    apigw_rest_requests: TieredPrice | None = None
    apigw_http_requests: TieredPrice | None = None
    apigw_websocket_messages: TieredPrice | None = None
    apigw_websocket_connection_minutes: Price | None = None
    cache_hour_by_gb: dict[float, Price] = field(default_factory=dict)
    lambda_requests: Price | None = None
    lambda_gb_second_x86: TieredPrice | None = None
    lambda_gb_second_arm64: TieredPrice | None = None
    data_transfer_out: TieredPrice | None = None
    lambda_streaming_gb_x86: Price | None = None
    lambda_streaming_gb_arm64: Price | None = None
    lattice_service_hour: Price | None = None
    lattice_gb: Price | None = None
    lattice_requests: Price | None = None
    privatelink_endpoint_hour: Price | None = None
    privatelink_gb: TieredPrice | None = None
    cloudfront_requests_https: dict[str, Price] = field(default_factory=dict)
    cloudfront_requests_http: dict[str, Price] = field(default_factory=dict)
    cloudfront_origin_transfer: dict[str, Price] = field(default_factory=dict)
    cloudfront_data_transfer_out: dict[str, TieredPrice] = field(default_factory=dict)
    cloudfront_plans: dict[str, PlanPrice] = field(default_factory=dict)
    waf_web_acl_month: Price | None = None
    waf_rule_month: Price | None = None
    waf_requests: Price | None = None
    waf_bot_control_month: Price | None = None
    waf_bot_control_requests: TieredPrice | None = None
    free_tier: dict[str, FreeAllowance] = field(default_factory=dict)

    def need(self, name: str) -> Any:
        """The entry ``name`` (``cache_hour_by_gb`` as ``apigw_cache_hour``); a
        :class:`MissingPriceError` naming the region and the entry if the book lacks it."""
        value = self.cache_hour_by_gb if name == _CACHE else getattr(self, name, None)
        if value is None or (isinstance(value, dict) and not value):
            raise MissingPriceError(
                f"the price book has no {name} for {self.region}: the files it was built from "
                "lack it (a price is never taken from another region)"
            )
        return value

    def edge(self, name: str, edge_region: str) -> Any:
        """A CloudFront entry (``cloudfront_*``) for one edge region."""
        table = self.need(name)
        if edge_region not in table:
            raise MissingPriceError(
                f"the price book has no {name} for CloudFront's {edge_region!r} edge region"
            )
        return table[edge_region]

    def plan(self, name: str) -> PlanPrice:
        """A CloudFront flat-rate plan."""
        plans: dict[str, PlanPrice] = self.need("cloudfront_plans")
        if name not in plans:
            raise MissingPriceError(
                f"the price book has no CloudFront {name!r} plan (it has {', '.join(plans)})"
            )
        return plans[name]

    def missing(self, names: Iterable[str]) -> list[str]:
        """Which of ``names`` the book lacks for this region."""
        out = []
        for name in names:
            try:
                self.need(name)
            except MissingPriceError:
                out.append(name)
        return out


@dataclass(frozen=True)
class PriceBook:
    """A dated set of regional prices.

    Attributes
    ----------
    id : str
        Book id, e.g. ``"aws-2025-11"``; recorded in run provenance.
    retrieved : str
        ISO date of the book's snapshot.
    regions : dict of str to RegionPrices
        Prices per region code.
    currency : str
        Always ``"USD"`` for AWS list prices.
    free_tier : dict of str to FreeAllowance
        The monthly allowances by usage, with their offers and sources.
    """

    id: str
    retrieved: str
    regions: dict[str, RegionPrices]
    currency: str = "USD"
    free_tier: dict[str, FreeAllowance] = field(default_factory=dict)

    def region(self, name: str) -> RegionPrices:
        """Prices for one region.

        Raises
        ------
        UnknownRegionError
            If the book does not price ``name``; the message lists the regions it does price.
        """
        try:
            return self.regions[name]
        except KeyError:
            known = ", ".join(sorted(self.regions))
            raise UnknownRegionError(
                f"price book {self.id!r} has no region {name!r}; known regions: {known}"
            ) from None


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------

_FLAT = ("alb_hour", "alb_lcu_hour", "alb_trust_store_hour", "public_ipv4_hour",
         "apigw_websocket_connection_minutes", "lambda_requests", "lambda_streaming_gb_x86",
         "lambda_streaming_gb_arm64", "lattice_service_hour", "lattice_gb", "lattice_requests",
         "privatelink_endpoint_hour")  # fmt: skip
_TIERED = ("apigw_rest_requests", "apigw_http_requests", "apigw_websocket_messages",
           "lambda_gb_second_x86", "lambda_gb_second_arm64", "data_transfer_out",
           "privatelink_gb")  # fmt: skip
_CACHE = "apigw_cache_hour"
#: Entries of the book's ``[global]`` table (the same in every region): flat, tiered, per edge
#: region (flat or tiered), and CloudFront's plans.
_GLOBAL_FLAT = ("waf_web_acl_month", "waf_rule_month", "waf_requests", "waf_bot_control_month")
_GLOBAL_TIERED = ("waf_bot_control_requests",)
_EDGE = ("cloudfront_requests_https", "cloudfront_requests_http", "cloudfront_origin_transfer")
_EDGE_TIERED = ("cloudfront_data_transfer_out",)
_PLANS = "cloudfront_plans"
GLOBAL_ENTRIES = (*_GLOBAL_FLAT, *_GLOBAL_TIERED, *_EDGE, *_EDGE_TIERED, _PLANS)
_BARE_KEY = re.compile(r"[A-Za-z0-9_]+(\[\d+\])?")


def _key(*parts: str) -> str:
    """Dotted TOML key, quoting parts that need it (``regions."eu-west-1".alb_hour``)."""
    return ".".join(p if _BARE_KEY.fullmatch(p) else f'"{p}"' for p in parts)


class _Reader:
    """Typed access to the parsed TOML that raises PriceBookError naming the file and key."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, key: str, problem: str) -> PriceBookError:
        return PriceBookError(f"{self.file}: {problem}: {key}")

    def get(self, table: Mapping[str, Any], path: tuple[str, ...], name: str) -> Any:
        if name not in table:
            raise self.error(_key(*path, name), "missing key")
        return table[name]

    def table(self, table: Mapping[str, Any], path: tuple[str, ...], name: str) -> dict[str, Any]:
        value = self.get(table, path, name)
        if not isinstance(value, dict):
            raise self.error(_key(*path, name), "expected a table")
        return value

    def text(self, table: Mapping[str, Any], path: tuple[str, ...], name: str) -> str:
        value = self.get(table, path, name)
        if not isinstance(value, str) or not value:
            raise self.error(_key(*path, name), "expected a non-empty string")
        return value

    def number(self, table: Mapping[str, Any], path: tuple[str, ...], name: str) -> float:
        value = self.get(table, path, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(_key(*path, name), "expected a number")
        number = float(value)
        if not (number >= 0 and math.isfinite(number)):
            raise self.error(_key(*path, name), "expected a finite number >= 0")
        limit = 1e18 if name == "up_to" else 1e12
        if number > limit:
            raise self.error(_key(*path, name), f"{number:.3g} is implausible (at most {limit:g})")
        return number

    def note(self, table: Mapping[str, Any], path: tuple[str, ...]) -> str | None:
        return self.text(table, path, "note") if "note" in table else None

    def meta(self, table: Mapping[str, Any], path: tuple[str, ...]) -> tuple[str, str, str]:
        source = self.text(table, path, "source")
        if not source.startswith("https://"):
            raise self.error(_key(*path, "source"), "source must be an https:// URL")
        return self.text(table, path, "unit"), source, self.text(table, path, "retrieved")

    def file_of(self, table: Mapping[str, Any], path: tuple[str, ...]) -> str | None:
        if "file" not in table:
            return None
        name = self.text(table, path, "file")
        version = self.text(table, path, "version") if "version" in table else None
        return f"{name}@{version}" if version else name

    def price(self, table: Mapping[str, Any], path: tuple[str, ...]) -> Price:
        unit, source, retrieved = self.meta(table, path)
        value = self.number(table, path, "value")
        return Price(
            value, unit, source, retrieved, self.note(table, path), self.file_of(table, path)
        )

    def tiered(self, table: Mapping[str, Any], path: tuple[str, ...]) -> TieredPrice:
        unit, source, retrieved = self.meta(table, path)
        raw = self.get(table, path, "tiers")
        if not isinstance(raw, list) or not raw:
            raise self.error(_key(*path, "tiers"), "expected a non-empty array of tiers")
        tiers = []
        for i, item in enumerate(raw):
            tier_path = (*path, f"tiers[{i}]")
            if not isinstance(item, dict):
                raise self.error(_key(*tier_path), "expected a table")
            up_to = self.number(item, tier_path, "up_to") if "up_to" in item else None
            tiers.append(Tier(up_to, self.number(item, tier_path, "value")))
        try:
            return TieredPrice(
                tuple(tiers),
                unit,
                source,
                retrieved,
                self.note(table, path),
                self.file_of(table, path),
            )
        except ValueError as exc:
            raise self.error(_key(*path, "tiers"), str(exc)) from None

    def cache(self, table: Mapping[str, Any], path: tuple[str, ...]) -> dict[float, Price]:
        unit, source, retrieved = self.meta(table, path)
        note = self.note(table, path)
        raw = self.get(table, path, "sizes")
        if not isinstance(raw, list) or not raw:
            raise self.error(_key(*path, "sizes"), "expected a non-empty array of sizes")
        out: dict[float, Price] = {}
        for i, item in enumerate(raw):
            size_path = (*path, f"sizes[{i}]")
            if not isinstance(item, dict):
                raise self.error(_key(*size_path), "expected a table")
            size_gb = self.number(item, size_path, "size_gb")
            value = self.number(item, size_path, "value")
            out[size_gb] = Price(
                value,
                unit,
                source,
                retrieved,
                self.note(item, size_path) or note,
                self.file_of(table, path),
            )
        return out

    def edges(
        self, table: Mapping[str, Any], path: tuple[str, ...], tiered: bool
    ) -> dict[str, Any]:
        """``edges = [{ edge = "United States", value = ... }]`` (or ``tiers = [...]``)."""
        unit, source, retrieved = self.meta(table, path)
        note, file = self.note(table, path), self.file_of(table, path)
        raw = self.get(table, path, "edges")
        if not isinstance(raw, list) or not raw:
            raise self.error(_key(*path, "edges"), "expected a non-empty array of edge regions")
        out: dict[str, Any] = {}
        for i, item in enumerate(raw):
            epath = (*path, f"edges[{i}]")
            if not isinstance(item, dict):
                raise self.error(_key(*epath), "expected a table")
            edge = self.text(item, epath, "edge")
            if edge in out:
                raise self.error(_key(*epath, "edge"), f"edge region {edge!r} listed twice")
            if tiered:
                merged = {"unit": unit, "source": source, "retrieved": retrieved, **item}
                tp = self.tiered(merged, epath)
                out[edge] = TieredPrice(tp.tiers, unit, source, retrieved, note, file)
            else:
                out[edge] = Price(self.number(item, epath, "value"), unit, source, retrieved,
                                  note, file)  # fmt: skip
        return out

    def plans(self, table: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, PlanPrice]:
        out: dict[str, PlanPrice] = {}
        for name in table:
            ppath = (*path, name)
            entry = self.table(table, path, name)
            raw_rules = self.get(entry, ppath, "waf_rules")
            if isinstance(raw_rules, bool) or not isinstance(raw_rules, int) or raw_rules < 0:
                raise self.error(_key(*ppath, "waf_rules"), "expected an integer >= 0")
            out[name] = PlanPrice(
                self.price(entry, ppath),
                self.number(entry, ppath, "requests"),
                self.number(entry, ppath, "data_transfer_gb"),
                raw_rules,
            )
        return out


def _default_book_path() -> Traversable:
    return packaged_book_path(DEFAULT_BOOK_ID)


def packaged_book_path(book_id: str) -> Traversable:
    """The packaged book file of ``book_id``."""
    return resources.files("sim.pricing").joinpath("data", f"{book_id}.toml")


def packaged_books() -> list[str]:
    """Ids of the price books packaged with ``sim``."""
    data = resources.files("sim.pricing").joinpath("data")
    return sorted(
        p.name.removesuffix(".toml")
        for p in data.iterdir()
        if p.name.startswith("aws-") and p.name.endswith(".toml")
    )


def free_tier_template() -> str:
    """The free-tier table ``sim prices import`` writes into its books (TOML)."""
    return resources.files("sim.pricing").joinpath("data", "free-tier.toml").read_text("utf-8")


def cloudfront_plans_template() -> str:
    """CloudFront's flat-rate plans as ``sim prices import`` writes them into its books (TOML)."""
    return (
        resources.files("sim.pricing").joinpath("data", "cloudfront-plans.toml").read_text("utf-8")
    )


def load_price_book(path: str | Path | Traversable | None = None) -> PriceBook:
    """Load a price book from a TOML file.

    Parameters
    ----------
    path : str, Path or None
        The book file; None loads the book packaged with ``sim`` (:data:`DEFAULT_BOOK_ID`).

    Returns
    -------
    PriceBook

    Raises
    ------
    PriceBookError
        If the file cannot be read or parsed, or a key is missing or has the wrong type; the
        message names the file and the key.
    """
    if path is None:
        resource: Traversable | Path = _default_book_path()
    elif isinstance(path, str | Path):
        resource = Path(path)
    else:
        resource = path
    file = str(resource)
    if isinstance(resource, Path):
        if resource.exists() and not resource.is_file():
            raise PriceBookError(f"{file}: cannot read price book: not a regular file")
        if resource.is_file() and resource.stat().st_size > MAX_BOOK_BYTES:
            raise PriceBookError(
                f"{file}: cannot read price book: larger than {MAX_BOOK_BYTES // 2**20} MiB"
            )
    try:
        text = resource.read_text(encoding="utf-8")
        key = (file, hashlib.sha256(text.encode()).digest())
        if key in _LOADED:  # the same file with the same bytes: the same (immutable) book
            return _LOADED[key]
        data = tomllib.loads(text)
    except OSError as exc:
        raise PriceBookError(f"{file}: cannot read price book: {exc}") from None
    except UnicodeDecodeError:
        raise PriceBookError(f"{file}: cannot read price book: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise PriceBookError(f"{file}: invalid TOML: {exc}") from None
    except RecursionError:
        raise PriceBookError(f"{file}: invalid TOML: nested too deeply") from None

    r = _Reader(file)
    free_table = r.table(data, (), "free_tier")
    free_tier: dict[str, FreeAllowance] = {}
    for name in free_table:
        where = ("free_tier", name)
        if name not in USAGE:
            raise r.error(_key(*where), f"unknown usage (expected one of {', '.join(USAGE)})")
        entry = r.table(free_table, ("free_tier",), name)
        price = r.price(entry, where)
        offer = r.text(entry, where, "offer")
        if offer not in ("always_free", "legacy_12_month"):
            raise r.error(_key(*where, "offer"), "expected 'always_free' or 'legacy_12_month'")
        after = entry.get("tiers_after", False)
        if not isinstance(after, bool):
            raise r.error(_key(*where, "tiers_after"), "expected true or false")
        free_tier[name] = FreeAllowance(
            price.value, offer, price.unit, price.source, price.retrieved, price.note, after
        )
    global_values: dict[str, Any] = {}
    if "global" in data:
        gtable = r.table(data, (), "global")
        for name in gtable:
            if name not in GLOBAL_ENTRIES:
                raise r.error(
                    _key("global", name),
                    f"unknown entry (expected {', '.join(sorted(GLOBAL_ENTRIES))})",
                )
            gpath = ("global", name)
            entry = r.table(gtable, ("global",), name)
            if name in _GLOBAL_FLAT:
                global_values[name] = r.price(entry, gpath)
            elif name in _GLOBAL_TIERED:
                global_values[name] = r.tiered(entry, gpath)
            elif name in _EDGE or name in _EDGE_TIERED:
                global_values[name] = r.edges(entry, gpath, tiered=name in _EDGE_TIERED)
            else:
                global_values[name] = r.plans(entry, gpath)
    regions_table = r.table(data, (), "regions")
    if not regions_table:
        raise r.error("regions", "no regions in")
    regions: dict[str, RegionPrices] = {}
    for region, raw in regions_table.items():
        rpath = ("regions", region)
        if not isinstance(raw, dict):
            raise r.error(_key(*rpath), "expected a table")
        values: dict[str, Any] = {"region": region}
        known = {*_FLAT, *_TIERED, _CACHE}
        for name in raw:
            if name not in known:
                raise r.error(
                    _key(*rpath, name), f"unknown entry (expected {', '.join(sorted(known))})"
                )
        for name in _FLAT:
            if name in raw:
                values[name] = r.price(r.table(raw, rpath, name), (*rpath, name))
        for name in _TIERED:
            if name in raw:
                values[name] = r.tiered(r.table(raw, rpath, name), (*rpath, name))
        if _CACHE in raw:
            values["cache_hour_by_gb"] = r.cache(r.table(raw, rpath, _CACHE), (*rpath, _CACHE))
        values["free_tier"] = free_tier
        regions[region] = RegionPrices(**values, **global_values)
    book = PriceBook(
        id=r.text(data, (), "id"),
        retrieved=r.text(data, (), "retrieved"),
        regions=regions,
        currency=r.text(data, (), "currency"),
        free_tier=free_tier,
    )
    if len(_LOADED) >= 16:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[key] = book
    return book


#: Books already read, by file and the SHA-256 of its bytes: a sweep or study validates and prices
#: many scenarios on the same book, and parsing it takes about 0.1 s (a changed file is read anew).
_LOADED: dict[tuple[str, bytes], PriceBook] = {}


def unverified_entries(prices: RegionPrices) -> list[str]:
    """Names of the region's prices the book marks unverified (``note = "unverified: ..."``)."""
    out = []
    for f in fields(prices):
        value = getattr(prices, f.name)
        if isinstance(value, Price | TieredPrice) and not value.verified:
            out.append(f.name)
        elif f.name == "cache_hour_by_gb":
            out += [f"{_CACHE}[{gb:g}]" for gb, p in sorted(value.items()) if not p.verified]
        elif f.name == _PLANS:
            out += [f"{_PLANS}[{k}]" for k, p in value.items() if not p.fee.verified]
        elif isinstance(value, dict) and f.name in _EDGE + _EDGE_TIERED:
            out += [f"{f.name}[{k}]" for k, p in value.items() if not p.verified]
    return out


def scenario_price_needs(scenario: Any) -> set[str]:
    """The book entries the scenario's options need (their doors' ``prices``)."""
    from sim.doors import DOORS, options_for

    needs: set[str] = set()
    for option in options_for(scenario):
        needs.update(DOORS[option.door].prices_of(option, scenario))
    if scenario.backend.enabled and needs:
        arch = "arm64" if scenario.backend.architecture == "arm64" else "x86"
        needs.update({"lambda_requests", f"lambda_gb_second_{arch}"})
    return needs


def region_prices(book: PriceBook, scenario: Any) -> RegionPrices:
    """The prices of the scenario's region; refused if any is unverified and the scenario does not
    set ``pricing.allow_unverified = true``.

    Raises
    ------
    UnknownRegionError, PriceBookError
    """
    region = scenario.scenario.region
    prices = book.region(region)
    needs = scenario_price_needs(scenario)
    lacking = prices.missing(needs)
    if lacking:
        raise MissingPriceError(
            f"price book {book.id!r} has no {', '.join(lacking)} for {region}: the options "
            "that need them cannot be priced there (choose another region or book)"
        )
    missing = [n for n in unverified_entries(prices) if n.split("[")[0] in needs]
    if missing and not scenario.pricing.allow_unverified:
        raise PriceBookError(
            f"price book {book.id!r}: {len(missing)} price(s) for {region} are unverified "
            f"({', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}): refused; set "
            "pricing.allow_unverified = true to price with them (they are then listed as warnings)"
        )
    return prices


# --------------------------------------------------------------------------------------------------
# Flat rows for `sim prices`
# --------------------------------------------------------------------------------------------------


def _row(
    region: str, name: str, tier: str, up_to: float | str, price: Price
) -> dict[str, str | float]:
    return {
        "region": region,
        "name": name,
        "tier": tier,
        "up_to": up_to,
        "value": price.value,
        "unit": price.unit,
        "source": price.source,
        "retrieved": price.retrieved,
        "file": price.file or "",
        "note": price.note or "",
    }


def price_rows(book: PriceBook, region: str | None = None) -> list[dict[str, str | float]]:
    """Flatten a price book into printable rows, one per price, tier and cache size.

    Parameters
    ----------
    book : PriceBook
    region : str or None
        Only this region (raises :class:`UnknownRegionError` if unknown); None for all.

    Returns
    -------
    list of dict
        Keys ``region``, ``name``, ``tier`` (``""`` for a flat price, ``"1"``, ``"2"``, ... for
        tiers, ``"0.5 GB"`` ... for cache sizes), ``up_to`` (tier end, ``""`` if none), ``value``,
        ``unit``, ``source``, ``retrieved``, ``note``. Free-tier quantities come first with region
        ``"(all)"`` and name ``free_tier.<name>``.
    """
    names = [region] if region is not None else list(book.regions)
    selected = [book.region(name) for name in names]
    rows = [
        _row(
            "(all)",
            f"free_tier.{k}",
            a.offer,
            "",
            Price(a.quantity, a.unit, a.source, a.retrieved, a.note),
        )
        for k, a in book.free_tier.items()
    ]
    for prices in selected:
        for f in fields(prices):
            value = getattr(prices, f.name)
            if isinstance(value, Price):
                rows.append(_row(prices.region, f.name, "", "", value))
            elif isinstance(value, TieredPrice):
                for i, tier in enumerate(value.tiers, start=1):
                    price = Price(
                        tier.price,
                        value.unit,
                        value.source,
                        value.retrieved,
                        value.note,
                        value.file,
                    )
                    up_to: float | str = "" if tier.up_to is None else tier.up_to
                    rows.append(_row(prices.region, f.name, str(i), up_to, price))
            elif f.name == "cache_hour_by_gb":
                for size_gb, price in sorted(value.items()):
                    rows.append(_row(prices.region, f.name, f"{size_gb:g} GB", "", price))
            elif f.name == _PLANS:
                for plan, terms in value.items():
                    rows.append(_row(prices.region, f.name, plan, "", terms.fee))
            elif f.name in _EDGE + _EDGE_TIERED:
                for edge, price in value.items():
                    if isinstance(price, TieredPrice):
                        for i, tier in enumerate(price.tiers, start=1):
                            up: float | str = "" if tier.up_to is None else tier.up_to
                            flat = Price(tier.price, price.unit, price.source, price.retrieved,
                                         price.note, price.file)  # fmt: skip
                            rows.append(_row(prices.region, f.name, f"{edge} {i}", up, flat))
                    else:
                        rows.append(_row(prices.region, f.name, edge, "", price))
    return rows


def diff_books(a: PriceBook, b: PriceBook, region: str | None = None) -> list[dict[str, str]]:
    """Every price that differs between two books (or exists in one only), row by row."""

    def keyed(book: PriceBook) -> dict[tuple[str, str, str], float]:
        return {
            (str(r["region"]), str(r["name"]), str(r["tier"])): float(r["value"])
            for r in price_rows(book, region if region in book.regions else None)
            if region is None or r["region"] in (region, "(all)")
        }

    ka, kb = keyed(a), keyed(b)
    out = []
    for key in sorted(set(ka) | set(kb)):
        va, vb = ka.get(key), kb.get(key)
        if va is not None and vb is not None and math.isclose(va, vb, rel_tol=1e-12):
            continue
        if va is None or vb is None:
            change = "added" if va is None else "removed"
        else:
            change = f"{100 * (vb - va) / va:+.1f}%" if va else "from 0"
        out.append(
            {
                "region": key[0],
                "name": key[1],
                "tier": key[2],
                "a": "" if va is None else f"{va:.10g}",
                "b": "" if vb is None else f"{vb:.10g}",
                "change": change,
            }
        )
    return out
