"""AWS WAF on the options that take a web ACL (ALBs, REST APIs, CloudFront pay-as-you-go): the web
ACL and its rules by the month, prorated hourly, the requests it inspects, and Bot Control.

Rules in :mod:`sim.pricing.waf` (https://aws.amazon.com/waf/pricing/). ``[waf]`` says what the web
ACL holds; it is priced on every option that can take it, and ``requirements.waf = true`` switches
it on (with ``[waf]``'s defaults when the section is absent) and rules out the options that cannot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from sim.pricing.calendar import month_share_per_hour
from sim.pricing.charge import Charge

if TYPE_CHECKING:
    from sim.config import Scenario, WafSection
    from sim.doors.base import BillingContext, Features, Option

#: The price-book entries WAF's charges need.
WAF_PRICES = (
    "waf_web_acl_month",
    "waf_rule_month",
    "waf_requests",
    "waf_bot_control_month",
    "waf_bot_control_requests",
)


def waf_of(scenario: Scenario) -> WafSection | None:
    """The web ACL the scenario prices (``[waf]``, or its defaults when only required)."""
    from sim.config import WafSection

    if scenario.waf is not None:
        return scenario.waf
    return WafSection() if scenario.requirements.waf else None


def waf_applies(features: Features, scenario: Scenario) -> bool:
    """Whether an option with ``features`` carries a web ACL in ``scenario``."""
    return features.waf and waf_of(scenario) is not None


def waf_charges(option: Option, ctx: BillingContext, requests: NDArray[np.float64]) -> list[Charge]:
    """The web ACL's charges on ``requests`` inspected each hour (none when no web ACL is priced)."""
    cfg = waf_of(ctx.scenario)
    if cfg is None:
        return []
    month = month_share_per_hour(ctx.facts.hours())
    out = [
        ctx.charge(
            option, "front_door", "waf_web_acl", "web-ACL-month (prorated hourly)", month,
            "waf_web_acl_month", hourly=True,
        ),
        ctx.charge(
            option, "front_door", "waf_rules", "rule-month (prorated hourly)", month * cfg.rules,
            "waf_rule_month", hourly=True,
        ),
        ctx.charge(
            option, "front_door", "waf_requests", "request inspected", requests, "waf_requests"
        ),
    ]  # fmt: skip
    if cfg.bot_control:
        out += [
            ctx.charge(
                option, "front_door", "waf_bot_control", "Bot Control-month (prorated hourly)",
                month, "waf_bot_control_month", hourly=True,
            ),
            ctx.charge(
                option, "front_door", "waf_bot_control", "request Bot Control inspects",
                requests * cfg.bot_control_share, "waf_bot_control_requests",
            ),
        ]  # fmt: skip
    return out
