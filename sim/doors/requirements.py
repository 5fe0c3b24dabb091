"""Requirements decide, then price ranks: which options meet ``[requirements]``, which meet them with
a priced add-on, and why the others cannot (PRICING.md, "What each front door can do").

Each option's :class:`~sim.doors.base.Features` are compared with the requirements; an option that
fails some is kept (it is still billed, for reference) but excluded from the ranking, with one reason
per requirement it fails. A door may *offer* another option for an excluded one (CloudFront carrying
AWS WAF in front of an HTTP API or a function URL): that option is added when it meets every
requirement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.doors.base import Features, Option

if TYPE_CHECKING:
    from sim.config import Scenario

#: Lambda's synchronous invocation payload limit: every buffered response stops here, whatever the
#: door allows (Lambda quotas: 6 MB request and response).
LAMBDA_SYNC_BYTES = 6_291_456


@dataclass(frozen=True)
class Assessed:
    """An option with the requirements it fails (none: it qualifies)."""

    option: Option
    features: Features
    unmet: tuple[tuple[str, str], ...] = ()  # (requirement, why)
    offered_for: str | None = None  # the option it was added for

    @property
    def qualifies(self) -> bool:
        return not self.unmet

    @property
    def reasons(self) -> list[str]:
        return [why for _, why in self.unmet]


def _size(n: float) -> str:
    for unit, size in (("MB", 2**20), ("KB", 2**10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n:g} bytes"


def response_limit(features: Features) -> int:
    """The largest response an option returns from a Lambda function: its own limit, and Lambda's
    6 MB unless the option streams (a function URL with streaming)."""
    if features.streams:
        return features.max_response_bytes
    return min(features.max_response_bytes, LAMBDA_SYNC_BYTES)


def unmet(features: Features, scenario: Scenario) -> list[tuple[str, str]]:
    """The requirements ``features`` fail, each with why."""
    req = scenario.requirements
    out: list[tuple[str, str]] = []
    notes = features.notes

    def why(key: str, default: str) -> str:
        extra = notes.get(key)
        return f"{default}: {extra}" if extra else default

    for key, have, text in (
        ("waf", features.waf, "cannot take an AWS WAF web ACL"),
        ("api_keys", features.api_keys, "no API keys, usage plans or per-client throttling"),
        ("cache", features.cache is not None, "no response cache"),
        ("private", features.private, "no private (VPC-only) endpoint"),
        ("mutual_tls", features.mutual_tls, "no mutual TLS"),
        ("custom_domain", features.custom_domain, "no custom domain"),
        ("jwt_auth", features.jwt_auth, "no JWT / OIDC authorisation"),
        ("websocket", features.websocket, "no WebSocket connections"),
    ):
        if getattr(req, key) and not have:
            out.append((key, why(key, text)))
    if req.max_response_bytes is not None:
        limit = response_limit(features)
        if limit < req.max_response_bytes:
            out.append(
                (
                    "max_response_bytes",
                    f"{why('max_response_bytes', f'returns at most {_size(limit)}')}; "
                    f"requirements.max_response_bytes is {_size(req.max_response_bytes)}",
                )
            )
    if req.max_duration_s is not None and features.timeout_s < req.max_duration_s:
        waits = f"waits at most {features.timeout_s:g} s for a response"
        out.append(
            (
                "max_duration_s",
                f"{why('timeout_s', waits)}; requirements.max_duration_s is "
                f"{req.max_duration_s:g} s",
            )
        )
    return out


def assess(scenario: Scenario) -> list[Assessed]:
    """Every option the scenario compares, with the requirements each fails, in registry order;
    options a door offers for an excluded one follow it."""
    from sim.doors import DOORS

    base = [o for door in DOORS.values() for o in door.options(scenario)]
    out: list[Assessed] = []
    names = {o.name for o in base}
    for option in base:
        features = DOORS[option.door].features_of(option, scenario)
        failed = tuple(unmet(features, scenario))
        out.append(Assessed(option, features, failed))
    added: list[Assessed] = []
    for a in out:
        if a.qualifies:
            continue
        keys = tuple(k for k, _ in a.unmet)
        for door in DOORS.values():
            if door.offer is None:
                continue
            offered = door.offer(a.option, keys, scenario)
            if offered is None or offered.name in names:
                continue
            features = door.features_of(offered, scenario)
            failed = tuple(unmet(features, scenario))
            if not failed:
                names.add(offered.name)
                added.append(Assessed(offered, features, (), a.option.name))
    return [*out, *added]


def impossible_message(assessed: list[Assessed]) -> str:
    """Why no option meets the requirements: one line per option."""
    lines = [f"{a.option.name}: {'; '.join(a.reasons)}" for a in assessed]
    return "no option meets the requirements: " + " | ".join(lines)
