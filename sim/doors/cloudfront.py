"""Amazon CloudFront in front of a function URL, an ALB or an API Gateway (HTTP or uncached REST):
one option ``cloudfront_<origin>`` per origin.

What it bills (rules in :mod:`sim.pricing.cloudfront`):

* pay-as-you-go: viewer requests by protocol (``cloudfront.https_share``) and edge region
  (``cloudfront.edge_regions``), data transfer out by edge region on its monthly tiers, data sent to
  the origin, AWS WAF when a web ACL is priced; the Always Free 10 M requests and 1 TB are the
  month's first, split across edge regions and protocols in their shares;
* a flat-rate plan (``cloudfront.plan``): its fee, prorated by the day, and nothing else (no
  overage; its web ACL included); :mod:`sim.summary` reports the months and the 30-day projection
  that exceed its allowances;
* the origin's own bill on what reaches it (ALB hours, LCU-hours on CloudFront's pooled
  connections, public IPv4; API Gateway's requests), with no data transfer out (origin fetches are
  free), and the Lambda function on the option's path.

The origin sees CloudFront's misses (all requests when ``cloudfront.cache`` is off), over the
connections CloudFront pools at each of ``cloudfront.edge_locations`` (:mod:`sim.engine.edge`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from sim.doors import alb, apigw_http, apigw_rest, lambda_url
from sim.doors.base import BillingContext, Door, Features, Option, lambda_charges
from sim.doors.waf import WAF_PRICES, waf_charges, waf_of
from sim.engine.paths import edge_path
from sim.pricing.calendar import month_share_per_day
from sim.pricing.charge import Charge
from sim.units import BINARY_GB_BYTES

if TYPE_CHECKING:
    from sim.config import Scenario

#: Origin -> the door it is, and what it bills behind CloudFront.
ORIGINS: dict[str, Door] = {
    "lambda_url": lambda_url.DOOR,
    "alb": alb.DOOR,
    "apigw_http": apigw_http.DOOR,
    "apigw_rest": apigw_rest.DOOR,
}


def option_for(origin: str, scenario: Scenario) -> Option:
    """CloudFront in front of ``origin``."""
    return Option(
        f"cloudfront_{origin}", "cloudfront", edge_path(origin, scenario), {"origin": origin}
    )


def options(scenario: Scenario) -> list[Option]:
    return [option_for(o, scenario) for o in scenario.cloudfront.origins]


def _lambda_url_origin(option: Option, ctx: BillingContext) -> list[Charge]:
    return []


def _alb_origin(option: Option, ctx: BillingContext) -> list[Charge]:
    return alb.alb_charges(
        option, ctx, lcu="edge_lcu", internet_facing=ctx.scenario.alb.internet_facing
    )


def _rest_origin(option: Option, ctx: BillingContext) -> list[Charge]:
    edge = option.path.startswith("edge_")
    return [
        apigw_rest.rest_requests(
            option, ctx, "edge_gateway_accepted" if edge else "gateway_requests"
        )
    ]


def _http_origin(option: Option, ctx: BillingContext) -> list[Charge]:
    edge = option.path.startswith("edge_")
    units = "edge_gateway_http_units" if edge else "gateway_http_units"
    return [apigw_http.http_requests(option, ctx, units)]


#: What each origin bills behind CloudFront (no data transfer out: origin fetches are free).
ORIGIN_CHARGES: dict[str, Callable[[Option, BillingContext], list[Charge]]] = {
    "lambda_url": _lambda_url_origin,
    "alb": _alb_origin,
    "apigw_http": _http_origin,
    "apigw_rest": _rest_origin,
}


def edge_charges(option: Option, ctx: BillingContext) -> list[Charge]:
    """CloudFront's own charges (pay-as-you-go, or the flat-rate plan's fee)."""
    cf, f = ctx.scenario.cloudfront, ctx.facts
    if cf.plan != "pay_as_you_go":
        plan = ctx.prices.plan(cf.plan)
        return [
            ctx.charge(
                option, "front_door", "cloudfront_plan",
                f"{cf.plan}-plan-month (prorated by the day)", month_share_per_day(f.hours()),
                plan.fee, daily=True,
            )
        ]  # fmt: skip
    requests = f("requests")
    out_gb = f(f"{option.path}_response_bytes") / BINARY_GB_BYTES
    to_origin_gb = f("edge_request_bytes") / BINARY_GB_BYTES
    out: list[Charge] = []
    for edge, w in cf.edge_regions.items():
        if w == 0:
            continue
        for proto, p in (("https", cf.https_share), ("http", 1 - cf.https_share)):
            if p > 0:
                out.append(
                    ctx.charge(
                        option, "front_door", "cloudfront_requests",
                        f"request ({proto.upper()}, {edge})", requests * (w * p),
                        ctx.prices.edge(f"cloudfront_requests_{proto}", edge),
                        usage="cloudfront_requests", share=w * p,
                    )
                )  # fmt: skip
        out += [
            ctx.charge(
                option, "transfer", "cloudfront_data_transfer", f"GB (2^30 bytes) out ({edge})",
                out_gb * w, ctx.prices.edge("cloudfront_data_transfer_out", edge),
                usage="cloudfront_data_transfer_gb", share=w,
            ),
            ctx.charge(
                option, "transfer", "cloudfront_to_origin", f"GB (2^30 bytes) to origin ({edge})",
                to_origin_gb * w, ctx.prices.edge("cloudfront_origin_transfer", edge),
            ),
        ]  # fmt: skip
    return [*out, *waf_charges(option, ctx, requests)]


def charges(option: Option, ctx: BillingContext) -> list[Charge]:
    origin = str(option.params["origin"])
    return [
        *edge_charges(option, ctx),
        *ORIGIN_CHARGES[origin](option, ctx),
        *lambda_charges(option, ctx),
    ]


FEATURES = Features(
    waf=True,
    api_keys=False,
    cache="edge",
    private=False,
    mutual_tls=False,
    custom_domain=True,
    jwt_auth=False,
    websocket=False,
    max_request_bytes=6_291_456,
    max_response_bytes=6_291_456,
    timeout_s=60,
    notes={
        "api_keys": "the origin's (cloudfront_apigw_rest keeps the REST API's)",
        "cache": "one cache per edge location (cloudfront.cache)",
        "private": "a public edge",
        "mutual_tls": "not verified for viewers in PRICING.md's sources",
        "jwt_auth": "the origin's",
        "websocket": "CloudFront in front of a WebSocket API is not modelled",
        "max_response_bytes": "the origin's",
        "timeout_s": "origin response timeout: 30 s by default, 60 s at most (180 s by quota)",
    },
)


def features(option: Option, scenario: Scenario) -> Features:
    """CloudFront's features over its origin's: WAF, a custom domain and an edge cache added; API
    keys, authorisation and payload limits the origin's; the shorter timeout of the two."""
    origin = ORIGINS[str(option.params["origin"])]
    of = origin.features_of(Option(origin.name, origin.name, option.path), scenario)
    cf = scenario.cloudfront
    notes = {
        "api_keys": of.notes.get("api_keys", "") or f"the origin's ({origin.title})",
        "jwt_auth": of.notes.get("jwt_auth", "") or f"the origin's ({origin.title})",
        "private": "a public edge",
        "mutual_tls": FEATURES.notes["mutual_tls"],
        "cache": "cloudfront.cache" if cf.cache.enabled else "cloudfront.cache.enabled is false",
        "websocket": FEATURES.notes["websocket"],
        "timeout_s": f"cloudfront.origin_response_timeout_s and the origin's ({of.timeout_s:g} s)",
    }
    return replace(
        of,
        waf=True,
        cache="edge" if cf.cache.enabled else None,
        private=False,
        mutual_tls=False,
        custom_domain=True,
        websocket=False,
        timeout_s=min(of.timeout_s, cf.origin_response_timeout_s),
        notes={k: v for k, v in notes.items() if v},
    )


def offer(option: Option, unmet: tuple[str, ...], scenario: Scenario) -> Option | None:
    """CloudFront in front of an option that lacks WAF, a custom domain or a cache."""
    if option.door in ORIGINS and {"waf", "custom_domain", "cache"} & set(unmet):
        return option_for(option.door, scenario)
    return None


def prices(option: Option, scenario: Scenario) -> tuple[str, ...]:
    origin = ORIGINS[str(option.params["origin"])]
    out = tuple(p for p in origin.prices if p != "data_transfer_out")
    if scenario.cloudfront.plan == "pay_as_you_go":
        out += (
            "cloudfront_requests_https",
            "cloudfront_requests_http",
            "cloudfront_data_transfer_out",
            "cloudfront_origin_transfer",
        )
        if waf_of(scenario) is not None:
            out += WAF_PRICES
    else:
        out += ("cloudfront_plans",)
    return out


DOOR = Door(
    name="cloudfront",
    title="CloudFront in front",
    features=FEATURES,
    options=options,
    charges=charges,
    meters=("requests", "edge_requests", "edge_request_bytes"),
    option_features=features,
    offer=offer,
    option_prices=prices,
)
