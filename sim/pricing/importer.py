"""Price books from AWS's own price files: ``sim prices import FILE... [--out BOOK]``.

Reads, as AWS writes them:

* **Price List Bulk API offer files**, JSON (``products.{sku}.attributes`` with ``usagetype``,
  ``regionCode``, ``location``; ``terms.OnDemand.{sku}.{term}.priceDimensions`` with ``beginRange``,
  ``endRange``, ``unit`` and ``pricePerUnit.USD``) and CSV (five metadata lines, then one row per
  price dimension), regional or whole-service, for Elastic Load Balancing, API Gateway, Lambda and
  data transfer;
* **the pricing pages' data** (``regions.{"US East (N. Virginia)": {name: {price}}}``, tiers as
  separately named entries), and a third party's reshaping of it (``{metric: {region: price}}``)
  for data transfer and public IPv4.

Every price is matched by its documented usage type or name (:data:`MATCHERS` for the pricing-page
names; the usage types in :func:`_bulk_item`); look-alikes that are not the price are kept apart
(``Outposts-*``, ``ReservedLCUUsage``; the trust store ``TS-LoadBalancerUsage`` is its own entry).
For every entry of the book and every region, the newest file that has it wins (tiers always come
from one file). The written book cites for each number the file, its version and publication date,
and the AWS page it is published on; prices the book needs and the files lack are listed, never
guessed or taken from another region.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.errors import SimError

__all__ = [
    "BOOK_ITEMS",
    "REGION_CODES",
    "BookDraft",
    "PriceFileError",
    "Quote",
    "build_book",
    "read_price_file",
]


class PriceFileError(SimError):
    """A price file that cannot be read or is of no known format."""


#: AWS region names (as the pricing pages and offer files write them) -> region codes.
REGION_CODES: dict[str, str] = {
    "US East (N. Virginia)": "us-east-1",
    "US East (Ohio)": "us-east-2",
    "US West (N. California)": "us-west-1",
    "US West (Oregon)": "us-west-2",
    "Canada (Central)": "ca-central-1",
    "Canada West (Calgary)": "ca-west-1",
    "South America (Sao Paulo)": "sa-east-1",
    "EU (Ireland)": "eu-west-1",
    "EU (London)": "eu-west-2",
    "EU (Paris)": "eu-west-3",
    "EU (Frankfurt)": "eu-central-1",
    "EU (Zurich)": "eu-central-2",
    "EU (Stockholm)": "eu-north-1",
    "EU (Milan)": "eu-south-1",
    "EU (Spain)": "eu-south-2",
    "Asia Pacific (Tokyo)": "ap-northeast-1",
    "Asia Pacific (Seoul)": "ap-northeast-2",
    "Asia Pacific (Osaka)": "ap-northeast-3",
    "Asia Pacific (Singapore)": "ap-southeast-1",
    "Asia Pacific (Sydney)": "ap-southeast-2",
    "Asia Pacific (Jakarta)": "ap-southeast-3",
    "Asia Pacific (Melbourne)": "ap-southeast-4",
    "Asia Pacific (Mumbai)": "ap-south-1",
    "Asia Pacific (Hyderabad)": "ap-south-2",
    "Asia Pacific (Hong Kong)": "ap-east-1",
    "Middle East (Bahrain)": "me-south-1",
    "Middle East (UAE)": "me-central-1",
    "Africa (Cape Town)": "af-south-1",
    "Israel (Tel Aviv)": "il-central-1",
}
for _name, _code in list(REGION_CODES.items()):
    if _name.startswith("EU ("):
        REGION_CODES["Europe" + _name[2:]] = _code

#: The AWS pages the prices are published on (cited next to each number).
PAGES = {
    "elb": "https://aws.amazon.com/elasticloadbalancing/pricing/",
    "apigateway": "https://aws.amazon.com/api-gateway/pricing/",
    "lambda": "https://aws.amazon.com/lambda/pricing/",
    "transfer": "https://aws.amazon.com/ec2/pricing/on-demand/",
    "vpc": "https://aws.amazon.com/vpc/pricing/",
    "lattice": "https://aws.amazon.com/vpc/lattice/pricing/",
    "privatelink": "https://aws.amazon.com/privatelink/pricing/",
    "cloudfront": "https://aws.amazon.com/cloudfront/pricing/",
    "waf": "https://aws.amazon.com/waf/pricing/",
}

#: Where the book's ``[global]`` entries are read: AWS WAF from the region CloudFront's web ACLs
#: live in (its prices are the same in every region), CloudFront from its edge-region table.
GLOBAL = "global"
WAF_REGION = "US East (N. Virginia)"


_STREAMING_NOTE = (
    "unverified: the pricing-page data names it 'Lambda Processed-Bytes' without the usage type "
    "(Lambda-Streaming-Response-Processed-Bytes); PRICING.md asks to confirm it before relying on it"
)

#: CloudFront's edge regions as its price data names them.
EDGE_REGIONS = (
    "United States", "Canada", "EU", "Japan", "Asia Pacific", "Australia", "India",
    "Middle East", "South Africa", "South America",
)  # fmt: skip


@dataclass(frozen=True)
class ItemSpec:
    """An entry of the book: flat, tiered (monthly tiers) or one price per cache size."""

    kind: str  # "flat", "tiered", "cache", "edge" (flat per edge region) or "edge_tiered"
    unit: str
    page: str
    tiers: tuple[float, ...] = ()  # the published tier boundaries (cumulative monthly quantity)
    scope: str = "region"  # or "global": the book's [global] table
    note: str = ""  # written next to the entry (e.g. "unverified: ...")


#: Every per-region entry a book holds (the names of :class:`sim.pricing.book.RegionPrices`).
BOOK_ITEMS: dict[str, ItemSpec] = {
    "alb_hour": ItemSpec(
        "flat", "USD per ALB-hour (a partial hour bills as a full hour)", PAGES["elb"]
    ),
    "alb_lcu_hour": ItemSpec("flat", "USD per LCU-hour", PAGES["elb"]),
    "alb_trust_store_hour": ItemSpec("flat", "USD per trust-store-hour", PAGES["elb"]),
    "public_ipv4_hour": ItemSpec("flat", "USD per in-use public IPv4 address-hour", PAGES["vpc"]),
    "apigw_rest_requests": ItemSpec(
        "tiered", "USD per REST API request", PAGES["apigateway"], (333e6, 1e9, 20e9)
    ),
    "apigw_http_requests": ItemSpec(
        "tiered", "USD per HTTP API request unit (512 KB)", PAGES["apigateway"], (300e6,)
    ),
    "apigw_websocket_messages": ItemSpec(
        "tiered", "USD per WebSocket message unit (32 KB)", PAGES["apigateway"], (1e9,)
    ),
    "apigw_websocket_connection_minutes": ItemSpec(
        "flat", "USD per WebSocket connection minute", PAGES["apigateway"]
    ),
    "apigw_cache_hour": ItemSpec("cache", "USD per cache-hour", PAGES["apigateway"]),
    "lambda_requests": ItemSpec("flat", "USD per Lambda request", PAGES["lambda"]),
    "lambda_gb_second_x86": ItemSpec(
        "tiered", "USD per GB-second (x86)", PAGES["lambda"], (6e9, 15e9)
    ),
    "lambda_gb_second_arm64": ItemSpec(
        "tiered", "USD per GB-second (Arm)", PAGES["lambda"], (7.5e9, 18.75e9)
    ),
    "data_transfer_out": ItemSpec(
        "tiered",
        "USD per GB out to the internet (1 TB = 1,024 GB)",
        PAGES["transfer"],
        (10240, 51200, 153600),
    ),
    "lambda_streaming_gb_x86": ItemSpec(
        "flat",
        "USD per GB of streamed response beyond each response's first 6 MB (x86)",
        PAGES["lambda"],
        note=_STREAMING_NOTE,
    ),
    "lambda_streaming_gb_arm64": ItemSpec(
        "flat",
        "USD per GB of streamed response beyond each response's first 6 MB (Arm)",
        PAGES["lambda"],
        note=_STREAMING_NOTE,
    ),
    "lattice_service_hour": ItemSpec(
        "flat", "USD per VPC Lattice service-hour (a partial hour bills whole)", PAGES["lattice"]
    ),
    "lattice_gb": ItemSpec(
        "flat", "USD per GB processed by a VPC Lattice service", PAGES["lattice"]
    ),
    "lattice_requests": ItemSpec(
        "flat",
        "USD per HTTP/HTTPS request beyond the first 300,000 each hour (VPC Lattice)",
        PAGES["lattice"],
    ),
    "privatelink_endpoint_hour": ItemSpec(
        "flat", "USD per interface VPC endpoint-hour in one AZ", PAGES["privatelink"]
    ),
    "privatelink_gb": ItemSpec(
        "tiered",
        "USD per GB processed by interface VPC endpoints (1 PB = 1,048,576 GB)",
        PAGES["privatelink"],
        (1_048_576, 5_242_880),
    ),
    "waf_web_acl_month": ItemSpec(
        "flat", "USD per web ACL per month (prorated hourly)", PAGES["waf"], scope=GLOBAL
    ),
    "waf_rule_month": ItemSpec(
        "flat",
        "USD per rule or rule group per web ACL per month (prorated hourly)",
        PAGES["waf"],
        scope=GLOBAL,
    ),
    "waf_requests": ItemSpec(
        "flat",
        "USD per request inspected (web ACLs up to 1,500 WCUs, default body inspection)",
        PAGES["waf"],
        scope=GLOBAL,
    ),
    "waf_bot_control_month": ItemSpec(
        "flat",
        "USD per month for Bot Control (common), prorated hourly",
        PAGES["waf"],
        scope=GLOBAL,
    ),
    "waf_bot_control_requests": ItemSpec(
        "tiered",
        "USD per request Bot Control (common) inspects, monthly tiers",
        PAGES["waf"],
        (10_000_000,),
        scope=GLOBAL,
    ),
    "cloudfront_requests_https": ItemSpec(
        "edge", "USD per HTTPS request, by edge region", PAGES["cloudfront"], scope=GLOBAL
    ),
    "cloudfront_requests_http": ItemSpec(
        "edge", "USD per HTTP request, by edge region", PAGES["cloudfront"], scope=GLOBAL
    ),
    "cloudfront_origin_transfer": ItemSpec(
        "edge",
        "USD per GB sent from the edge to the origin (request bodies), by edge region",
        PAGES["cloudfront"],
        scope=GLOBAL,
    ),
    "cloudfront_data_transfer_out": ItemSpec(
        "edge_tiered",
        "USD per GB out to the internet by edge region, monthly tiers (1 TB = 1,024 GB)",
        PAGES["cloudfront"],
        (10_240, 51_200, 153_600, 512_000, 1_048_576, 5_242_880),
        scope=GLOBAL,
    ),
}


@dataclass(frozen=True)
class Quote:
    """One price read from a file: an item's tier (or cache size) in a region."""

    region: str
    item: str
    price: float
    tier: int = 0  # index among the item's published tiers
    size_gb: float | None = None  # cache size
    edge: str | None = None  # CloudFront edge region
    file: str = ""
    version: str = ""
    published: str = ""  # ISO date, or "" when the file does not say


# --------------------------------------------------------------------------- reading
def _open_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def read_price_file(path: str | Path, name: str | None = None) -> list[Quote]:
    """Every price of the book's entries that ``path`` holds (any of the supported formats).

    ``name`` is how the file is cited (default: its name).

    Raises
    ------
    PriceFileError
        The file cannot be read or is of no known format (the message names it).
    """
    p = Path(path)
    cited = name or p.name.removesuffix(".gz")
    try:
        text = _open_text(p)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise PriceFileError(f"{path}: cannot be read: {exc}") from None
    if text.startswith('"FormatVersion"'):
        return _bulk_csv(text, cited, str(path))
    try:
        data = json.loads(text)
    except ValueError:
        raise PriceFileError(
            f"{path}: neither a Price List offer file (JSON or CSV) nor pricing-page data"
        ) from None
    if isinstance(data, dict) and "products" in data and "terms" in data:
        return _bulk_json(data, cited)
    if isinstance(data, dict) and "offers" in data:
        raise PriceFileError(
            f"{path}: an offer index (it lists the offer files and holds no prices): download "
            "the offers it names and import those"
        )
    if isinstance(data, dict) and "regions" in data and "manifest" in data:
        return _page(data, cited)
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        return _processed(data, cited)
    raise PriceFileError(
        f"{path}: neither a Price List offer file (JSON or CSV) nor pricing-page data"
    )


def _date(value: str) -> str:
    return value[:10] if value else ""


_CACHE_SIZES = {"1.55": 1.6, "6.05": 6.1}


def _bulk_item(
    family: str, usage: str, region: str, unit: str, size: str | None
) -> tuple[str, float | None] | None:
    """The book entry a Bulk API price dimension is, or None (a decoy or another price)."""
    if region != "us-east-1" and "-" in usage and not usage.startswith("Global-"):
        usage = usage.split("-", 1)[1]  # the region prefix (EUW2-, APN1-, ...)
    if family == "Load Balancer-Application":
        return {
            "LoadBalancerUsage": ("alb_hour", None),
            "LCUUsage": ("alb_lcu_hour", None),
            "TS-LoadBalancerUsage": ("alb_trust_store_hour", None),
        }.get(usage)  # Outposts-*, ReservedLCUUsage: not the ALB's price
    if usage == "ApiGatewayRequest":
        return "apigw_rest_requests", None
    if usage == "ApiGatewayHttpRequest":
        return "apigw_http_requests", None
    if usage == "ApiGatewayMessage":
        return "apigw_websocket_messages", None
    if usage == "ApiGatewayMinute":
        return "apigw_websocket_connection_minutes", None
    if usage.startswith("ApiGatewayCacheUsage:"):
        label = usage.split(":", 1)[1].removesuffix("GB")
        gb = float(size) if size else _CACHE_SIZES.get(label, float(label))
        return "apigw_cache_hour", gb
    if usage == "Request":
        return "lambda_requests", None
    if usage == "Lambda-GB-Second":
        return "lambda_gb_second_x86", None
    if usage == "Lambda-GB-Second-ARM":
        return "lambda_gb_second_arm64", None
    if usage == "DataTransfer-Out-Bytes":
        return "data_transfer_out", None
    if usage in ("PublicIPv4:InUseAddress",):
        return "public_ipv4_hour", None
    return None


def _tier_of(item: str, begin: float) -> int:
    bounds = BOOK_ITEMS[item].tiers
    for k, b in enumerate(bounds):
        if begin < b * (1 - 1e-12):
            return k
    return len(bounds)


def _bulk_dimension(
    quotes: list[Quote],
    family: str,
    usage: str,
    region: str,
    unit: str,
    size: str | None,
    begin: str,
    price: str,
    meta: tuple[str, str, str],
) -> None:
    found = _bulk_item(family, usage, region, unit, size)
    if found is None or not region:
        return
    item, gb = found
    tier = _tier_of(item, float(begin)) if BOOK_ITEMS[item].kind == "tiered" else 0
    cited, version, published = meta
    quotes.append(
        Quote(
            region, item, float(price), tier, gb, file=cited, version=version, published=published
        )
    )


def _bulk_json(data: Mapping[str, Any], cited: str) -> list[Quote]:
    meta = (cited, str(data.get("version", "")), _date(str(data.get("publicationDate", ""))))
    quotes: list[Quote] = []
    on_demand = data.get("terms", {}).get("OnDemand", {})
    for sku, product in data.get("products", {}).items():
        attrs = product.get("attributes", {})
        region = attrs.get("regionCode") or REGION_CODES.get(attrs.get("location", ""), "")
        for term in on_demand.get(sku, {}).values():
            for dim in term.get("priceDimensions", {}).values():
                _bulk_dimension(
                    quotes,
                    product.get("productFamily", ""),
                    attrs.get("usagetype", ""),
                    region,
                    dim.get("unit", ""),
                    attrs.get("cacheMemorySizeGb"),
                    dim.get("beginRange", "0"),
                    dim.get("pricePerUnit", {}).get("USD", "nan"),
                    meta,
                )
    return quotes


def _bulk_csv(text: str, cited: str, path: str) -> list[Quote]:
    lines = text.splitlines()
    head = dict(row[:2] for row in csv.reader(lines[:5]) if len(row) >= 2)
    meta = (cited, head.get("Version", ""), _date(head.get("Publication Date", "")))
    reader = csv.DictReader(io.StringIO("\n".join(lines[5:])))
    quotes: list[Quote] = []
    for row in reader:
        if row.get("TermType") != "OnDemand":
            continue
        region = row.get("Region Code") or REGION_CODES.get(row.get("Location", ""), "")
        _bulk_dimension(
            quotes,
            row.get("Product Family", ""),
            row.get("usageType", ""),
            region or _region_from_usage(row.get("usageType", "")),
            row.get("Unit", ""),
            row.get("Cache Memory Size (GB)") or None,
            row.get("StartingRange", "0") or "0",
            row.get("PricePerUnit", "nan"),
            meta,
        )
    return quotes


#: Usage-type region prefixes of offer files whose rows carry no region (data transfer slices).
_PREFIXES = {
    "USE2": "us-east-2", "USW1": "us-west-1", "USW2": "us-west-2", "EU": "eu-west-1",
    "EUW2": "eu-west-2", "EUW3": "eu-west-3", "EUC1": "eu-central-1", "EUN1": "eu-north-1",
    "APN1": "ap-northeast-1", "APN2": "ap-northeast-2", "APN3": "ap-northeast-3",
    "APS1": "ap-southeast-1", "APS2": "ap-southeast-2", "APS3": "ap-south-1", "SAE1": "sa-east-1",
    "CAN1": "ca-central-1", "USE1": "us-east-1",
}  # fmt: skip


def _region_from_usage(usage: str) -> str:
    prefix = usage.split("-", 1)[0]
    return _PREFIXES.get(prefix, "")


#: Pricing-page entry names -> (item, tier or cache size).
MATCHERS: dict[str, dict[str, tuple[str, float]]] = {
    "elb": {
        "Application Load Balancer Hours": ("alb_hour", 0),
        "Application Load Balancer LCU Hours": ("alb_lcu_hour", 0),
        "TS Application Load Balancer Hours": ("alb_trust_store_hour", 0),
    },
    "apigateway": {
        "API Calls Number of up to 333 million": ("apigw_rest_requests", 0),
        "API Calls Number of Request Next 667 million": ("apigw_rest_requests", 1),
        "API Calls Number of Request Next 19 billion": ("apigw_rest_requests", 2),
        "API Calls Number of Request Over 20 billion": ("apigw_rest_requests", 3),
        "ApiGatewayHttpApi First 300 million": ("apigw_http_requests", 0),
        "ApiGatewayHttpApi more than 300 million": ("apigw_http_requests", 1),
        "WebSocket Messages Messages first 1 billion": ("apigw_websocket_messages", 0),
        "WebSocket Messages Messages over 1 billion": ("apigw_websocket_messages", 1),
        "WebSocket Connection Minutes": ("apigw_websocket_connection_minutes", 0),
        **{
            f"Caching Memory Size {label}": ("apigw_cache_hour", gb)
            for label, gb in (
                ("0 5", 0.5),
                ("1 6", 1.6),
                ("6 1", 6.1),
                ("13 5", 13.5),
                ("28 4", 28.4),
                ("58 2", 58.2),
                ("118", 118),
                ("237", 237),
            )
        },
    },
    "lambda": {
        "Lambda Requests": ("lambda_requests", 0),
        "Lambda Duration": ("lambda_gb_second_x86", 0),
        "Lambda Duration Tier2": ("lambda_gb_second_x86", 1),
        "Lambda Duration Tier3": ("lambda_gb_second_x86", 2),
        "Lambda Duration-ARM": ("lambda_gb_second_arm64", 0),
        "Lambda Duration-ARM Tier2": ("lambda_gb_second_arm64", 1),
        "Lambda Duration-ARM Tier3": ("lambda_gb_second_arm64", 2),
        "Lambda Processed-Bytes": ("lambda_streaming_gb_x86", 0),
        "Lambda Processed-Bytes-ARM": ("lambda_streaming_gb_arm64", 0),
    },
    "vpc": {
        "Hourly charge for In use Public IPv4 Addresses per Hrs": ("public_ipv4_hour", 0),
        "Charge per Hour per VPC Lattice Service per Hrs": ("lattice_service_hour", 0),
        "Charge per GB Data Processed by VPC Lattice Service per GB": ("lattice_gb", 0),
        "Charge per Request per hour processed by VPC Lattice Service per Requests": (
            "lattice_requests",
            0,
        ),
        "Hourly charge for VPC Endpoints per Hrs": ("privatelink_endpoint_hour", 0),
        "Charge for per GB data processed by VPC Endpoints per GB from 0 to 1048576": (
            "privatelink_gb",
            0,
        ),
        "Charge for per GB data processed by VPC Endpoints per GB from 1048576 to 5242880": (
            "privatelink_gb",
            1,
        ),
        "Charge for per GB data processed by VPC Endpoints per GB from 5242880 to Inf": (
            "privatelink_gb",
            2,
        ),
    },
    "waf": {
        "WebACL per month": ("waf_web_acl_month", 0),
        "Rules added per WebACL per month": ("waf_rule_month", 0),
        "Request Processed Tier1 per Request": ("waf_requests", 0),
        "AMR Bot Control Activated per Month": ("waf_bot_control_month", 0),
        "AMR Bot Control Request Processed per Request from 0 to 10000000": (
            "waf_bot_control_requests",
            0,
        ),
        "AMR Bot Control Request Processed per Request from 10000000 to Inf": (
            "waf_bot_control_requests",
            1,
        ),
    },
}

#: CloudFront's edge-region entries (the pricing page's region-less table).
_CF_REQUESTS = re.compile(r"^Request (?P<proto>HTTPS|HTTP) Methods from (?P<edge>.+)$")
_CF_OUT = re.compile(r"^Regional DT from (?P<edge>.+) to Internet (?P<tier>.+)$")
_CF_ORIGIN = re.compile(r"^Regional DT to Origin from (?P<edge>.+)$")
_CF_TIERS = {
    "first 10 tb": 0, "next 40 tb": 1, "next 100 tb": 2, "next 350 tb": 3, "next 524 tb": 4,
    "next 4 pb": 5, "over 5 pb": 6,
}  # fmt: skip


def _cloudfront_entry(name: str) -> tuple[str, int, str] | None:
    """``(item, tier, edge region)`` of a CloudFront entry name, or None."""
    m = _CF_REQUESTS.match(name)
    if m and m["edge"] in EDGE_REGIONS:
        return f"cloudfront_requests_{m['proto'].lower()}", 0, m["edge"]
    m = _CF_OUT.match(name)
    if m and m["edge"] in EDGE_REGIONS and m["tier"].lower() in _CF_TIERS:
        return "cloudfront_data_transfer_out", _CF_TIERS[m["tier"].lower()], m["edge"]
    m = _CF_ORIGIN.match(name)
    if m and m["edge"] in EDGE_REGIONS:
        return "cloudfront_origin_transfer", 0, m["edge"]
    return None


def _page(data: Mapping[str, Any], cited: str) -> list[Quote]:
    manifest = data.get("manifest", {})
    service = str(manifest.get("serviceId", ""))
    names = MATCHERS.get(service, {})
    meta_date = _date(str(manifest.get("hawkFilePublicationDate", "")))
    version = str(manifest.get("esIndex", ""))
    quotes: list[Quote] = []
    meta: dict[str, Any] = {"file": cited, "version": version, "published": meta_date}
    regions = data.get("regions", {})
    if service == "cloudfront":
        entries = regions.get("", {})
        for entry_name, entry in entries.items() if isinstance(entries, dict) else ():
            found = _cloudfront_entry(entry_name)
            if found is not None and isinstance(entry, dict):
                item, tier, edge = found
                quotes.append(Quote(GLOBAL, item, float(entry["price"]), tier, edge=edge, **meta))
        return quotes
    for region_name, entries in regions.items():
        region = REGION_CODES.get(region_name)
        if service == "waf":  # global prices, read where CloudFront's web ACLs live
            region = GLOBAL if region_name == WAF_REGION else None
        if region is None or not isinstance(entries, dict):
            continue
        for entry_name, entry in entries.items():
            match = names.get(entry_name)
            if match is None or not isinstance(entry, dict):
                continue
            item, key = match
            cache = BOOK_ITEMS[item].kind == "cache"
            quotes.append(
                Quote(
                    region,
                    item,
                    float(entry["price"]),
                    0 if cache else int(key),
                    float(key) if cache else None,
                    **meta,
                )
            )
    return quotes


_RANGE = re.compile(
    r"^(?P<region>.*) \(StartingRange: (?P<lo>[\d.]+), EndingRange: (?P<hi>[\w.]+)\)$"
)


def _processed(data: Mapping[str, Any], cited: str) -> list[Quote]:
    """The reshaped pricing-page data ``{metric: {region: price}}`` (data transfer, public IPv4)."""
    quotes: list[Quote] = []
    dto = re.compile(r"^DataTransfer External Outbound (Next \d+ TB|Greater than 150 TB)$")
    for metric, per_region in data.items():
        if dto.match(metric):
            for key, price in per_region.items():
                m = _RANGE.match(key)
                if m is None or m["region"] not in REGION_CODES:
                    continue
                tier = _tier_of("data_transfer_out", float(m["lo"]))
                quotes.append(
                    Quote(REGION_CODES[m["region"]], "data_transfer_out", float(price), tier,
                          file=cited)
                )  # fmt: skip
        elif metric == "Hourly charge for In use Public IPv4 Addresses per Hrs":
            for region_name, price in per_region.items():
                if region_name in REGION_CODES:
                    quotes.append(
                        Quote(REGION_CODES[region_name], "public_ipv4_hour", float(price), 0,
                              file=cited)
                    )  # fmt: skip
    return quotes


# --------------------------------------------------------------------------- the book
@dataclass
class BookDraft:
    """A book assembled from quotes: per region and item, the chosen file's prices."""

    id: str
    retrieved: str
    regions: dict[str, dict[str, list[Quote]]] = field(default_factory=dict)
    global_items: dict[str, list[Quote]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    sources: list[tuple[str, str, str]] = field(default_factory=list)


def _complete(item: str, quotes: Sequence[Quote]) -> bool:
    spec = BOOK_ITEMS[item]
    if spec.kind == "cache":
        return bool(quotes)
    if spec.kind in ("edge", "edge_tiered"):
        want = set(range(len(spec.tiers) + 1)) if spec.kind == "edge_tiered" else {0}
        return all({q.tier for q in quotes if q.edge == e} == want for e in EDGE_REGIONS)
    tiers = {q.tier for q in quotes}
    return tiers == set(range(len(spec.tiers) + 1))


def build_book(
    quotes: Iterable[Quote], regions: Sequence[str] | None = None, book_id: str | None = None
) -> BookDraft:
    """Choose, per region and item, the newest file that holds it whole.

    ``regions`` (default: every region some file prices) limits the book; ``book_id`` defaults to
    ``aws-YYYY-MM`` of the newest source.
    """
    by_file: dict[tuple[str, str, str], list[Quote]] = {}
    sources: dict[str, tuple[str, str, str]] = {}
    for q in quotes:
        by_file.setdefault((q.region, q.item, q.file), []).append(q)
        sources[q.file] = (q.file, q.version, q.published)
    wanted = list(regions) if regions is not None else sorted({k[0] for k in by_file})
    dated = sorted((s[2] for s in sources.values() if s[2]), reverse=True)
    newest = dated[0] if dated else ""
    draft = BookDraft(
        book_id or (f"aws-{newest[:7]}" if newest else "aws-imported"),
        newest,
        sources=sorted(sources.values()),
    )
    wanted = [r for r in wanted if r != GLOBAL]

    def choose(region: str, item: str) -> list[Quote] | None:
        candidates = [qs for (r, i, _), qs in by_file.items() if r == region and i == item]
        candidates = [qs for qs in candidates if _complete(item, qs)]
        if not candidates:
            draft.missing.setdefault(region, []).append(item)
            return None
        best = max(candidates, key=lambda qs: (qs[0].published or "0000", qs[0].file))
        return _dedupe(best)

    for region in wanted:
        chosen: dict[str, list[Quote]] = {}
        for item, spec in BOOK_ITEMS.items():
            if spec.scope == "region" and (qs := choose(region, item)) is not None:
                chosen[item] = qs
        draft.regions[region] = chosen
    for item, spec in BOOK_ITEMS.items():
        if spec.scope == GLOBAL and (qs := choose(GLOBAL, item)) is not None:
            draft.global_items[item] = qs
    return draft


def _dedupe(quotes: Sequence[Quote]) -> list[Quote]:
    out: dict[tuple[int, float | None, str | None], Quote] = {}
    for q in quotes:
        out.setdefault((q.tier, q.size_gb, q.edge), q)
    order = {e: k for k, e in enumerate(EDGE_REGIONS)}
    return sorted(
        out.values(), key=lambda q: (order.get(q.edge or "", -1), q.tier, q.size_gb or 0.0)
    )


def _source_text(q: Quote) -> dict[str, str]:
    out = {"file": q.file}
    if q.version:
        out["version"] = q.version
    out["retrieved"] = q.published or "undated"
    if not q.published:
        out["note"] = (
            "the file states no publication date (a third party's reshaping of the pricing-page data)"
        )
    return out


def _fmt(value: float) -> str:
    if value == 0:
        return "0.0"
    text = repr(float(value))
    return text


def book_toml(draft: BookDraft, free_tier: str, header: str, plans: str = "") -> str:
    """The draft as a price-book TOML file (``header``: the comment lines that open it)."""
    lines = [header.rstrip("\n"), "", f'id = "{draft.id}"', f'retrieved = "{draft.retrieved}"',
             'currency = "USD"', ""]  # fmt: skip
    lines.append("# Files this book was built from (file, version, published):")
    for f, v, p in draft.sources:
        lines.append(f"#   {f}  {v or '-'}  {p or 'undated'}")
    lines += ["", free_tier.strip(), ""]
    if plans:
        lines += [plans.strip(), ""]
    if draft.global_items:
        lines.append(f"# {'=' * 97}")
        lines.append("# global: the same in every region (CloudFront by edge region, AWS WAF)")
        lines.append(f"# {'=' * 97}")
        for item, quotes in draft.global_items.items():
            lines += _entry_lines(f"[global.{item}]", item, quotes)
    for region, items in draft.regions.items():
        lines.append(f"# {'=' * 97}")
        lines.append(f"# {region}")
        lines.append(f"# {'=' * 97}")
        for item, quotes in items.items():
            lines += _entry_lines(f'[regions."{region}".{item}]', item, quotes)
    return "\n".join(lines) + "\n"


def _tier_lines(spec: ItemSpec, quotes: Sequence[Quote]) -> list[str]:
    out = []
    for q in quotes:
        bound = spec.tiers[q.tier] if q.tier < len(spec.tiers) else None
        up = f"up_to = {_fmt(bound)}, " if bound is not None else ""
        out.append(f"{{ {up}value = {_fmt(q.price)} }}")
    return out


def _entry_lines(header: str, item: str, quotes: Sequence[Quote]) -> list[str]:
    spec = BOOK_ITEMS[item]
    q0 = quotes[0]
    lines = [header, f'unit = "{spec.unit}"', f'source = "{spec.page}"']
    lines += [f'{k} = "{v}"' for k, v in _source_text(q0).items() if k != "note"]
    notes = [n for n in (spec.note, _source_text(q0).get("note", "")) if n]
    if notes:
        lines.append(f'note = "{"; ".join(notes)}"')
    if spec.kind == "flat":
        lines.append(f"value = {_fmt(q0.price)}")
    elif spec.kind == "tiered":
        lines.append("tiers = [")
        lines += [f"  {t}," for t in _tier_lines(spec, quotes)]
        lines.append("]")
    elif spec.kind == "cache":
        lines.append("sizes = [")
        for q in quotes:
            lines.append(f"  {{ size_gb = {q.size_gb:g}, value = {_fmt(q.price)} }},")
        lines.append("]")
    else:
        lines.append("edges = [")
        for edge in EDGE_REGIONS:
            mine = [q for q in quotes if q.edge == edge]
            if spec.kind == "edge":
                lines.append(f'  {{ edge = "{edge}", value = {_fmt(mine[0].price)} }},')
            else:
                lines.append(f'  {{ edge = "{edge}", tiers = [')
                lines += [f"    {t}," for t in _tier_lines(spec, mine)]
                lines.append("  ] },")
        lines.append("]")
    lines.append("")
    return lines


def describe_missing(draft: BookDraft) -> list[str]:
    """``region: item, item`` lines for the prices the files lack."""
    return [f"{r}: {', '.join(items)}" for r, items in draft.missing.items()]


def read_files(paths: Iterable[str | Path], root: str | Path | None = None) -> list[Quote]:
    """Quotes from every file (cited relative to ``root`` when given)."""
    out: list[Quote] = []
    for p in paths:
        path = Path(p)
        name = str(p).removesuffix(".gz")
        if root is not None:
            with contextlib.suppress(ValueError):  # outside ``root``: as given
                name = str(path.resolve().relative_to(Path(root).resolve())).removesuffix(".gz")
        out += read_price_file(path, name)
    return out


def isclose(a: float, b: float) -> bool:
    """Prices compared to 1e-12 relative (the files print ten decimals)."""
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


def make_book(
    paths: Sequence[str | Path],
    *,
    regions: Sequence[str] | None = None,
    book_id: str | None = None,
    root: str | Path | None = None,
) -> tuple[str, BookDraft]:
    """The price-book TOML built from ``paths`` (see the module docstring), and its draft."""
    from sim.output import PROVENANCE_MARK
    from sim.pricing.book import cloudfront_plans_template, free_tier_template

    draft = build_book(read_files(paths, root), regions, book_id)
    header = "\n".join(
        [
            f"# {PROVENANCE_MARK}: sim prices import",
            "# AWS list prices read from AWS's own price files (Price List Bulk API offer files and the",
            "# pricing pages' data): every entry cites its file, version and publication date, and the",
            "# AWS page it is published on. For each entry and region the newest file that has it wins.",
        ]
    )
    plans = cloudfront_plans_template() if draft.global_items else ""
    return book_toml(draft, free_tier_template(), header, plans), draft
