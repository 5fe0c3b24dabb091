"""A Lambda function URL: no front-door charge at all, Lambda and data transfer out as behind any
door, and, when responses are streamed, the streamed bytes beyond each response's first 6 MB.

Source: Lambda FAQ ("There is no additional charge for using function URLs. You pay the standard
price for AWS Lambda"); limits (Lambda Developer Guide, function URLs and response streaming):
buffered responses up to 6 MB, streamed ones up to 200 MB, the function's timeout (up to 900 s), auth
``AWS_IAM`` or ``NONE``; no WAF, custom domain, usage plans or throttling but Lambda's concurrency.
Streamed bytes: ``Lambda-Streaming-Response-Processed-Bytes`` (the pricing-page data's "Lambda
Processed-Bytes", $0.008 per GB, marked unverified in the book until its usage type is confirmed),
Always Free up to 100 GiB a month (PRICING.md, "Lambda function URLs").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.doors.base import BillingContext, Door, Features, Option, behind
from sim.engine.paths import DIRECT
from sim.pricing.charge import Charge
from sim.units import BINARY_GB_BYTES

if TYPE_CHECKING:
    from sim.config import Scenario

#: Streamed responses: the first 6 MB of each is not billed; at most 200 MB each.
STREAM_FREE_BYTES = 6_291_456
STREAM_MAX_BYTES = 209_715_200


def options(scenario: Scenario) -> list[Option]:
    return [Option("lambda_url", "lambda_url", DIRECT)] if scenario.lambda_url.enabled else []


def _arch(scenario: Scenario) -> str:
    return "arm64" if scenario.backend.architecture == "arm64" else "x86"


def charges(option: Option, ctx: BillingContext) -> list[Charge]:
    out = behind(option, ctx)
    if ctx.scenario.lambda_url.streaming:
        out.append(
            ctx.charge(
                option, "backend", "lambda_streaming", "GB (2^30 bytes) streamed beyond 6 MB",
                ctx.facts("direct_stream_excess_bytes") / BINARY_GB_BYTES,
                f"lambda_streaming_gb_{_arch(ctx.scenario)}", usage="lambda_streaming_gb",
            )
        )  # fmt: skip
    return out


def features(option: Option, scenario: Scenario) -> Features:
    if not scenario.lambda_url.streaming:
        return FEATURES
    from dataclasses import replace

    return replace(FEATURES, max_response_bytes=STREAM_MAX_BYTES, streams=True)


FEATURES = Features(
    waf=False,
    api_keys=False,
    cache=None,
    private=False,
    mutual_tls=False,
    custom_domain=False,
    jwt_auth=False,
    websocket=False,
    max_request_bytes=6_291_456,
    max_response_bytes=6_291_456,
    timeout_s=900,
    notes={
        "waf": "offered behind CloudFront as cloudfront_lambda_url",
        "jwt_auth": "IAM (AWS_IAM) or none",
        "custom_domain": "offered behind CloudFront as cloudfront_lambda_url",
        "api_keys": "no throttling but Lambda's concurrency",
        "max_response_bytes": "6 MB buffered, 200 MB streamed",
        "timeout_s": "the function's, up to 900 s",
    },
)

DOOR = Door(
    name="lambda_url",
    title="Lambda function URL",
    features=FEATURES,
    options=options,
    charges=charges,
    meters=("direct_invocations", "direct_gb_seconds", "direct_response_bytes"),
    prices=("data_transfer_out",),
    option_features=features,
    option_prices=lambda option, scenario: (
        (f"lambda_streaming_gb_{_arch(scenario)}",) if scenario.lambda_url.streaming else ()
    ),
)
