"""AWS WAF billing rules.

Source: https://aws.amazon.com/waf/pricing/ and its data (``pricelist/pricing-page/2025-10/waf.json``):
"WebACL per month" $5.00 and "Rules added per WebACL per month" $1.00 (each rule or rule group,
prorated hourly), "Request Processed Tier1 per Request" $0.60 per million requests inspected (blocked
ones included; default body inspection), Bot Control (common) "AMR Bot Control Activated per Month"
$10.00 and "AMR Bot Control Request Processed per Request" free up to 10,000,000 a month and $1.00 per
million after. Same prices in every region; a web ACL attaches to CloudFront, REST APIs and ALBs (not
to HTTP or WebSocket APIs, function URLs or VPC Lattice). A CloudFront flat-rate plan includes its web
ACL: no WAF fees there. Worked examples: aws-security-services-best-practices, "WAF cost".
"""

from __future__ import annotations

from sim.pricing.book import RegionPrices
from sim.pricing.tiers import priced_cost_usd

__all__ = ["waf_month_usd"]


def waf_month_usd(
    prices: RegionPrices,
    *,
    web_acls: int,
    rules: int,
    requests: float,
    bot_control: bool = False,
    bot_control_requests: float = 0.0,
) -> float:
    """WAF's bill for one whole calendar month: web ACLs and rules at their monthly fees, requests
    inspected, and Bot Control's fee and requests (the first 10 M a month free, by its price's
    tiers). ``rules`` counts every rule and rule group, Bot Control's included."""
    if web_acls < 0 or rules < 0 or requests < 0 or bot_control_requests < 0:
        raise ValueError("web ACLs, rules and requests must be ≥ 0")
    total = web_acls * prices.need("waf_web_acl_month").value
    total += rules * prices.need("waf_rule_month").value
    total += requests * prices.need("waf_requests").value
    if bot_control:
        total += prices.need("waf_bot_control_month").value
        total += priced_cost_usd(bot_control_requests, prices.need("waf_bot_control_requests"))
    return float(total)
