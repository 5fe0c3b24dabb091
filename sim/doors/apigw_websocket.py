"""API Gateway WebSocket API: messages in 32 KB units (both directions) on tiers, and connection
minutes. Source: https://aws.amazon.com/api-gateway/pricing/ (AWS's example 8 in PRICING.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.doors.base import BillingContext, Door, Features, Option, lambda_charges, transfer_charges
from sim.engine.paths import WEBSOCKET
from sim.pricing.charge import Charge

if TYPE_CHECKING:
    from sim.config import Scenario


def options(scenario: Scenario) -> list[Option]:
    apis = scenario.apigateway.apis
    return [Option("apigw_websocket", "apigw_websocket", WEBSOCKET)] if "websocket" in apis else []


def charges(option: Option, ctx: BillingContext) -> list[Charge]:
    f = ctx.facts
    server = ctx.scenario.apigateway.websocket.server_messages_per_request
    return [
        ctx.charge(
            option, "front_door", "messages", "message-unit (32 KB)",
            f("websocket_message_units"), "apigw_websocket_messages", usage="websocket_messages",
        ),
        ctx.charge(
            option, "front_door", "connection_minutes", "connection-minute",
            f("connection_minutes"), "apigw_websocket_connection_minutes",
            usage="websocket_connection_minutes",
        ),
        *lambda_charges(option, ctx),
        # each response stands for the messages the server sends per client message
        *transfer_charges(option, ctx, f("websocket_response_bytes") * server),
    ]  # fmt: skip


DOOR = Door(
    name="apigw_websocket",
    title="API Gateway WebSocket API",
    features=Features(
        waf=False,
        api_keys=False,
        cache=None,
        private=False,
        mutual_tls=False,
        custom_domain=True,
        jwt_auth=True,
        websocket=True,
        max_request_bytes=131_072,
        max_response_bytes=131_072,
        timeout_s=29,
        notes={
            "jwt_auth": "Lambda authorizers",
            "timeout_s": "29 s per integration; a connection lasts 2 h at most, 10 min idle",
            "max_response_bytes": "128 KB per message",
        },
    ),
    options=options,
    charges=charges,
    meters=("websocket_message_units", "connection_minutes", "websocket_response_bytes"),
    prices=("apigw_websocket_messages", "apigw_websocket_connection_minutes", "data_transfer_out"),
)
