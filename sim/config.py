"""Scenario files: TOML validated into frozen pydantic models, with ``--set`` overrides and clear errors.

A scenario file has one table per section (``[scenario]``, ``[traffic]``, ``[payload]``,
``[connections]``, ``[alb]``, ``[apigateway]``, ``[backend]``, ``[transfer]``, ``[pricing]``,
``[engine]``); every section but ``[scenario]`` and ``[traffic]`` has defaults. Model families
(traffic profile, size distribution, connection model) are tagged unions on their ``model`` key:
adding a model means adding one class to its union, never an if/elif chain. See
``configs/seed.toml`` for a commented example and ``sim schema`` for the JSON Schema.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sim._model import StrictModel, error_message, toml_repr, tuples
from sim.errors import ConfigError

# The traffic families' models ([traffic], [payload], [connections]) live in sim/traffic/models.py.
from sim.traffic.models import ConnectionConfig as ConnectionConfig
from sim.traffic.models import ConstantTraffic as ConstantTraffic
from sim.traffic.models import DailyCycleTraffic as DailyCycleTraffic
from sim.traffic.models import FixedSize as FixedSize
from sim.traffic.models import LognormalSize as LognormalSize
from sim.traffic.models import PayloadSection as PayloadSection
from sim.traffic.models import PerConnectionModel as PerConnectionModel
from sim.traffic.models import ReplayTraffic as ReplayTraffic
from sim.traffic.models import SizeConfig as SizeConfig
from sim.traffic.models import TrafficConfig as TrafficConfig
from sim.units import (
    DURATION_EXAMPLES,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    iso_utc,
    parse_duration_s,
)


class _Model(StrictModel):
    """Strict, frozen, closed (see :mod:`sim._model`)."""


# --------------------------------------------------------------------------- scenario
#: Longest simulated period, days (ten years).
MAX_DURATION_DAYS = 3660


def _duration_schema(schema: dict[str, Any]) -> None:
    """The JSON Schema of ``[scenario]``: one of ``duration`` and ``duration_days`` is required."""
    properties = schema.get("properties", {})
    properties.get("duration_days", {}).pop("default", None)
    duration = properties.get("duration", {})
    duration.pop("default", None)
    duration.pop("anyOf", None)
    duration["type"] = "string"
    schema["oneOf"] = [{"required": ["duration"]}, {"required": ["duration_days"]}]


class ScenarioSection(_Model):
    """Identity, period and place of the simulation."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=100,
        description="Scenario name; results go to results/<name>/ by default.",
    )
    start: datetime = Field(
        description="Start of the simulated period, UTC (TOML datetime; no offset means UTC)."
    )
    duration: str | None = Field(
        default=None,
        exclude=True,
        description=f"Length of the period, e.g. {DURATION_EXAMPLES} (years and months are "
        "refused: their length varies); or give duration_days. Read into duration_days, the one "
        "length the model keeps and dumps (this field holds the text as written, not dumped).",
    )
    # None: not given (duration gives it, else it is missing: see _one_length)
    duration_days: float = Field(
        default=None,
        validate_default=True,
        gt=0,
        le=MAX_DURATION_DAYS,
        description="Length of the period in days (or give duration: one of the two).",
    )
    region: str = Field(default="us-east-1", description="AWS region of the price book.")
    seed: int = Field(default=0, ge=0, description="Root seed: same seed, same numbers.")

    model_config = ConfigDict(json_schema_extra=_duration_schema)

    @field_validator("duration", mode="before")
    @classmethod
    def _duration_text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError(
                f"expected a duration string such as {DURATION_EXAMPLES} (got {toml_repr(value)}); "
                "a number of days goes in duration_days"
            )
        return value

    @field_validator("duration")
    @classmethod
    def _duration_parses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        seconds = parse_duration_s(value)
        if seconds > MAX_DURATION_DAYS * SECONDS_PER_DAY:
            raise ValueError(
                f"{value.strip()!r} is {seconds / SECONDS_PER_DAY:g} days: expected at most "
                f"{MAX_DURATION_DAYS} days"
            )
        return value.strip()

    @field_validator("duration_days", mode="before")
    @classmethod
    def _one_length(cls, value: Any, info: ValidationInfo) -> Any:
        """Exactly one of ``duration`` and ``duration_days``; a duration becomes ``duration_days``
        (so a dump holds one length, and validates again)."""
        if "duration" not in info.data:
            # duration itself was refused (its error says why): nothing to add about the length
            return value if value is not None else 1.0
        text = info.data["duration"]
        if text is not None and value is not None:
            raise ValueError(
                f"both scenario.duration ({toml_repr(text)}) and scenario.duration_days "
                f"({toml_repr(value)}) give the length of the period: give one of them"
            )
        if text is not None:
            return parse_duration_s(text) / SECONDS_PER_DAY
        if value is None:
            raise PydanticCustomError("missing", "Field required")  # see MISSING_HINTS
        return value

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if value.microsecond:
            raise ValueError("must be a whole second")
        return value

    @model_validator(mode="after")
    def _ends_in_the_calendar(self) -> ScenarioSection:
        end = self.start.timestamp() + self.duration_days * SECONDS_PER_DAY
        if end > datetime(9999, 1, 1, tzinfo=UTC).timestamp():
            raise ValueError(
                "scenario.start: the period would end after the year 9998; start earlier"
            )
        return self

    @field_validator("duration_days")
    @classmethod
    def _whole_seconds(cls, value: float) -> float:
        seconds = value * SECONDS_PER_DAY
        if abs(seconds - round(seconds)) > 1e-6:
            raise ValueError("must be a whole number of seconds (days × 86400)")
        return value

    @property
    def duration_s(self) -> int:
        """Length of the period in seconds."""
        return round(self.duration_days * SECONDS_PER_DAY)


# --------------------------------------------------------------------------- front doors
class AlbSection(_Model):
    """The Application Load Balancer option."""

    enabled: bool = True
    rules_processed: int = Field(
        default=10, ge=0, le=1000, description="Listener rules evaluated per request."
    )
    target_type: Literal["lambda", "instance", "ip"] = Field(
        default="lambda", description="Lambda targets: 1 LCU = 0.4 GB/h processed, else 1 GB/h."
    )
    internet_facing: bool = Field(
        default=True, description="Internet-facing ALBs pay public IPv4 hours, one address per AZ."
    )
    availability_zones: int = Field(default=2, ge=2, le=6, description="Enabled AZs (≥ 2).")
    mutual_tls: bool = Field(
        default=False, description="Mutual TLS halves the active-connection capacity of an LCU."
    )
    trust_stores: int = Field(
        default=0, ge=0, le=100, description="mTLS trust stores attached (needs mutual_tls)."
    )

    @model_validator(mode="after")
    def _trust_stores_need_mtls(self) -> AlbSection:
        if self.trust_stores and not self.mutual_tls:
            raise ValueError(
                "alb.trust_stores: a trust store serves mutual TLS; set alb.mutual_tls = true or "
                "trust_stores = 0"
            )
        return self


class ZipfKeys(_Model):
    """Request keys drawn from a Zipf law over ``count`` keys: P(key k) ∝ k^(−exponent)."""

    model: Literal["zipf"]
    count: int = Field(ge=1, le=50_000_000, description="Number of distinct cache keys.")
    exponent: float = Field(gt=0, le=5, description="Zipf exponent (> 0; 0.6–1.2 is typical).")


class CacheSection(_Model):
    """The REST API cache: one option ``apigw_rest_cached`` per size (suffixed when several)."""

    enabled: bool = Field(default=False, description="Compare a cached REST API.")
    sizes_gb: tuple[float, ...] = Field(
        default=(0.5,), min_length=1, description="Cache sizes to compare (sizes AWS sells)."
    )
    ttl_s: int = Field(default=300, ge=0, le=3600, description="Time to live, s (0 disables).")
    cacheable_share: float = Field(
        default=1.0, ge=0, le=1, description="Share of requests that are cacheable (GET)."
    )
    keys: ZipfKeys = Field(
        default_factory=lambda: ZipfKeys(model="zipf", count=10_000, exponent=0.8),
        description="Popularity of request keys.",
    )

    @field_validator("sizes_gb")
    @classmethod
    def _unique_sizes(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(set(value)) != len(value):
            raise ValueError("lists a size twice")
        return value


class ThrottleSection(_Model):
    """API Gateway's account-level token bucket (requests over it get 429, not billed)."""

    enabled: bool = True
    rate_per_s: float = Field(default=10_000, gt=0, description="Steady-state rate, requests/s.")
    burst: float = Field(default=5_000, gt=0, description="Bucket size, requests.")


class WebSocketSection(_Model):
    """How a request maps onto WebSocket messages for the ``apigw_websocket`` option."""

    server_messages_per_request: float = Field(
        default=1.0, ge=0, description="Messages the server sends per client message."
    )


class ApiGatewaySection(_Model):
    """Which API Gateway flavours to compare with the ALB, and their cache and throttle."""

    apis: tuple[Literal["rest", "http", "websocket"], ...] = Field(
        default=("rest", "http"), description="API Gateway APIs to price: rest, http, websocket."
    )
    cache: CacheSection = Field(default_factory=CacheSection)
    throttle: ThrottleSection = Field(default_factory=ThrottleSection)
    websocket: WebSocketSection = Field(default_factory=WebSocketSection)
    vpc_endpoint_azs: int = Field(
        default=2,
        ge=1,
        le=6,
        description="AZs of the interface VPC endpoint a private REST API is called through "
        "(PrivateLink bills each endpoint-hour per AZ).",
    )

    @field_validator("apis")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("lists an API twice")
        return value


class LambdaUrlSection(_Model):
    """A Lambda function URL: no front-door charge; Lambda and data transfer as behind any door."""

    enabled: bool = Field(default=True, description="Compare a Lambda function URL.")
    streaming: bool = Field(
        default=False,
        description="Stream responses (invoke mode RESPONSE_STREAM): up to 200 MB each, the bytes "
        "beyond each response's first 6 MB billed; buffered responses stop at 6 MB.",
    )
    auth: Literal["AWS_IAM", "NONE"] = Field(
        default="AWS_IAM", description="Auth type: AWS_IAM (signed requests) or NONE (public)."
    )


class CloudFrontCacheSection(_Model):
    """CloudFront's own cache: one per edge location, keys as for the REST cache."""

    enabled: bool = Field(default=False, description="Cache responses at the edge.")
    ttl_s: int = Field(default=300, ge=0, le=31_536_000, description="Time to live, s.")
    cacheable_share: float = Field(
        default=1.0, ge=0, le=1, description="Share of requests that are cacheable (GET)."
    )
    keys: ZipfKeys = Field(
        default_factory=lambda: ZipfKeys(model="zipf", count=10_000, exponent=0.8),
        description="Popularity of request keys.",
    )


class CloudFrontSection(_Model):
    """CloudFront in front of other options: one option ``cloudfront_<origin>`` per origin."""

    origins: tuple[Literal["lambda_url", "alb", "apigw_http", "apigw_rest"], ...] = Field(
        default=(),
        description="Origins to compare behind CloudFront: lambda_url, alb, apigw_http, "
        "apigw_rest (uncached). CloudFront in front of a cached REST API or a WebSocket API is "
        "not modelled.",
    )
    https_share: float = Field(
        default=1.0, ge=0, le=1, description="Share of viewer requests over HTTPS (the rest HTTP)."
    )
    edge_regions: dict[str, float] = Field(
        default_factory=lambda: {"United States": 1.0},
        description="Share of traffic per CloudFront price region (United States, Canada, EU, "
        "Japan, Asia Pacific, Australia, India, Middle East, South Africa, South America); the "
        "shares sum to 1.",
    )
    plan: Literal["pay_as_you_go", "free", "pro", "business", "premium"] = Field(
        default="pay_as_you_go",
        description="pay_as_you_go, or a flat-rate plan (free, pro, business, premium: a monthly "
        "fee prorated by the day, allowances, a web ACL included).",
    )
    origin_keepalive_s: float = Field(
        default=5.0, ge=1, le=60, description="Origin keep-alive timeout, s (CloudFront: 5 to 60)."
    )
    origin_response_timeout_s: float = Field(
        default=30.0,
        ge=1,
        le=180,
        description="Origin response timeout, s (30 by default, 60 at most, 180 by quota).",
    )
    edge_locations: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Edge locations the traffic arrives at, equally: each keeps its own pooled "
        "connections to the origin and its own cache.",
    )
    cache: CloudFrontCacheSection = Field(default_factory=CloudFrontCacheSection)

    @field_validator("origins")
    @classmethod
    def _unique_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("lists an origin twice")
        return value

    @field_validator("edge_regions")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        from sim.pricing.cloudfront import EDGE_REGIONS

        if not value:
            raise ValueError("needs at least one edge region")
        for name, share in value.items():
            if name not in EDGE_REGIONS:
                close = difflib.get_close_matches(name, EDGE_REGIONS, n=1)
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else "expected " + ", ".join(EDGE_REGIONS)
                )
                raise ValueError(f"unknown edge region {name!r}; {hint}")
            if not 0 <= share <= 1:
                raise ValueError(f"the share of {name!r} must be in [0, 1] (got {share:g})")
        total = sum(value.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"the shares must sum to 1 (they sum to {total:g})")
        return value


class WafSection(_Model):
    """What the AWS WAF web ACL holds (one web ACL per option that takes it)."""

    rules: int = Field(
        default=1,
        ge=0,
        le=1000,
        description="Rules and rule groups in the web ACL, Bot Control's rule group included "
        "($1 a month each, prorated hourly).",
    )
    bot_control: bool = Field(default=False, description="Bot Control (common): $10 a month.")
    bot_control_share: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Share of requests Bot Control inspects (a scope-down statement).",
    )

    @model_validator(mode="after")
    def _bot_control_is_a_rule_group(self) -> WafSection:
        if self.bot_control and self.rules < 1:
            raise ValueError(
                "waf.rules: Bot Control is a rule group of the web ACL: rules must count it (≥ 1)"
            )
        return self


class LatticeSection(_Model):
    """Amazon VPC Lattice, for internal APIs: services called from inside VPCs."""

    enabled: bool = Field(default=False, description="Compare VPC Lattice.")
    services: int = Field(
        default=1, ge=1, le=10_000, description="Lattice services the API is (billed per hour)."
    )


class RequirementsSection(_Model):
    """What the API needs: options that cannot meet it are excluded, with the reason; options that
    meet it with a priced add-on (CloudFront carrying WAF) are offered so."""

    waf: bool = Field(default=False, description="AWS WAF in front of the API.")
    api_keys: bool = Field(
        default=False, description="API keys, usage plans and per-client throttling."
    )
    cache: bool = Field(default=False, description="A response cache.")
    private: bool = Field(
        default=False,
        description="Reachable from inside VPCs only (billed as private: internal ALB, private "
        "REST API through PrivateLink, VPC Lattice; no internet data transfer).",
    )
    mutual_tls: bool = Field(default=False, description="Mutual TLS with clients.")
    custom_domain: bool = Field(default=False, description="A custom domain name.")
    jwt_auth: bool = Field(default=False, description="JWT / OIDC authorisation at the door.")
    websocket: bool = Field(default=False, description="WebSocket connections to clients.")
    max_response_bytes: int | None = Field(
        default=None, ge=1, description="Largest response the API must return, bytes."
    )
    max_duration_s: float | None = Field(
        default=None, gt=0, description="Longest request the API must serve, s."
    )


# --------------------------------------------------------------------------- backend
class FixedDuration(_Model):
    """Every invocation runs for the same time."""

    model: Literal["fixed"]
    ms: float = Field(gt=0, le=900_000, description="Duration, milliseconds.")


class LognormalDuration(_Model):
    """Lognormal durations with the given mean (ms) and log-space standard deviation."""

    model: Literal["lognormal"]
    mean_ms: float = Field(gt=0, le=900_000, description="Mean duration, milliseconds.")
    sigma: float = Field(gt=0, le=5, description="Standard deviation of ln(duration).")


DurationConfig = Annotated[FixedDuration | LognormalDuration, Field(discriminator="model")]


class BackendSection(_Model):
    """The Lambda function behind every front door (billed the same behind each)."""

    enabled: bool = Field(default=True, description="Include Lambda costs in the totals.")
    memory_mb: int = Field(default=512, ge=128, le=10_240, description="Memory, MB.")
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    duration: DurationConfig = Field(
        default_factory=lambda: FixedDuration(model="fixed", ms=50.0),
        description="Invocation duration (billed rounded up to 1 ms).",
    )
    concurrency_limit: int | None = Field(
        default=None, ge=1, description="Account or reserved concurrency (None: unlimited)."
    )


class TransferSection(_Model):
    """Data transfer: in every option's bill, or left out of all of them."""

    enabled: bool = Field(
        default=True,
        description="Bill data transfer: every charge of the transfer category (data transfer "
        "out to the internet, CloudFront's data out and to the origin, PrivateLink's GB "
        "processed). false leaves it out of every option's bill (a front-door-only comparison; "
        "the summary says so); a pricing setting, so sim reprice can change it.",
    )


# --------------------------------------------------------------------------- pricing, engine
class PricingSection(_Model):
    """Which prices apply, and which free allowances."""

    book: str = Field(
        default="aws-2026-09",
        description="Packaged price book id (sim prices lists them), or a path to a book file.",
    )
    free_tier: Literal["always_free", "legacy_12_month", "none"] = Field(
        default="always_free",
        description="always_free: every account's Always Free allowances (Lambda 1 M requests and "
        "400,000 GB-s, 100 GB out); legacy_12_month: also the 12-month offers of accounts opened "
        "before 2025-07-15 (ALB 750 h + 15 LCU-hours, API Gateway 1 M calls ...); none.",
    )
    allow_unverified: bool = Field(
        default=False,
        description="Price with book entries marked unverified (listed as warnings) instead of "
        "refusing them.",
    )

    @field_validator("free_tier", mode="before")
    @classmethod
    def _not_a_switch(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(
                "is no longer true/false: give 'always_free' (Lambda, data transfer out: every "
                "account), 'legacy_12_month' (also ALB and API Gateway, accounts opened before "
                "2025-07-15, first year) or 'none'"
            )
        return value


class AccountSection(_Model):
    """The account around the API: what the rest of it uses each month (tiers and free allowances
    start where it leaves them)."""

    other_monthly_usage: dict[str, float] = Field(
        default_factory=dict,
        description="Usage per month elsewhere in the account and region, by usage: alb_hours, "
        "alb_lcu_hours, rest_requests, http_requests, websocket_messages, "
        "websocket_connection_minutes, lambda_requests, lambda_gb_seconds, data_transfer_gb.",
    )

    @field_validator("other_monthly_usage")
    @classmethod
    def _known_usage(cls, value: dict[str, float]) -> dict[str, float]:
        from sim.pricing.freetier import USAGE

        for key, amount in value.items():
            if key not in USAGE:
                close = difflib.get_close_matches(key, list(USAGE), n=1)
                hint = (
                    f"; did you mean {close[0]!r}?" if close else f"; expected {', '.join(USAGE)}"
                )
                raise ValueError(f"unknown usage {key!r}{hint}")
            if amount < 0:
                raise ValueError(f"{key} must be ≥ 0 (got {amount:g})")
        return value


#: Longest warm-up before the period (``engine.warmup_s``): a week.
MAX_WARMUP_S = 7 * 86_400


class EngineSection(_Model):
    """How the simulation runs."""

    fidelity: Literal["request", "aggregate", "reference"] = Field(
        default="request",
        description="request: every request as array entries, exact meters; aggregate: per-second "
        "counts and sums, for studies; reference: one SimPy process per request, for validation.",
    )
    batch_s: int = Field(
        default=3600, ge=1, le=3600, description="Seconds of traffic per batch (divides 3600)."
    )
    warmup_s: int = Field(
        default=0,
        ge=0,
        le=MAX_WARMUP_S,
        description="Seconds simulated before the period and not billed: the period starts with "
        "what that traffic left (connections open, caches, the token bucket, Lambda executions "
        "in flight, CloudFront's pooled connections), as AWS's steady-state examples assume. "
        "A replay plays its trace or logs from that earlier time. request fidelity simulates "
        "it; aggregate takes per_connection's connections opened in it, in expectation (its "
        "caches and concurrency are stationary already); reference refuses it. 0: none "
        "(per_connection's start = 'steady_state' then stands in for the connections).",
    )

    @field_validator("batch_s")
    @classmethod
    def _divides_hour(cls, value: int) -> int:
        if SECONDS_PER_HOUR % value:
            raise ValueError("must divide 3600 so batches never straddle an hour")
        return value


class Scenario(_Model):
    """A whole scenario file."""

    scenario: ScenarioSection
    traffic: TrafficConfig
    payload: PayloadSection = Field(default_factory=PayloadSection)
    connections: ConnectionConfig = Field(
        default_factory=lambda: PerConnectionModel(model="per_connection")
    )
    alb: AlbSection = Field(default_factory=AlbSection)
    apigateway: ApiGatewaySection = Field(default_factory=ApiGatewaySection)
    lambda_url: LambdaUrlSection = Field(default_factory=LambdaUrlSection)
    cloudfront: CloudFrontSection = Field(default_factory=CloudFrontSection)
    lattice: LatticeSection = Field(default_factory=LatticeSection)
    waf: WafSection | None = Field(
        default=None,
        description="An AWS WAF web ACL on every option that can take one (requirements.waf "
        "switches it on with its defaults).",
    )
    requirements: RequirementsSection = Field(default_factory=RequirementsSection)
    backend: BackendSection = Field(default_factory=BackendSection)
    transfer: TransferSection = Field(default_factory=TransferSection)
    pricing: PricingSection = Field(default_factory=PricingSection)
    account: AccountSection = Field(default_factory=AccountSection)
    engine: EngineSection = Field(default_factory=EngineSection)

    @property
    def options(self) -> tuple[str, ...]:
        """Names of the options compared, e.g. ``("alb", "apigw_rest", "apigw_http")`` (the door
        registry's, :mod:`sim.doors`)."""
        from sim.doors import options_for

        return tuple(o.name for o in options_for(self))

    def config_hash(self) -> str:
        """SHA-256 of the validated scenario (canonical JSON): the provenance of a result."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


# --------------------------------------------------------------------------- loading
def parse_overrides(overrides: Iterable[str]) -> list[tuple[list[str], Any]]:
    """Parse ``section.key=value`` strings; values are TOML values, or bare strings."""
    parsed: list[tuple[list[str], Any]] = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        path = key.strip().split(".")
        shown = item if len(item) < 80 else item[:77] + "..."
        if not sep or not all(part.strip() for part in path):
            raise ConfigError("<--set>", [(shown, "expected section.key=value")])
        if len(path) > MAX_DEPTH:
            raise ConfigError("<--set>", [(shown, f"nested more than {MAX_DEPTH} levels deep")])
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        except RecursionError:
            raise ConfigError("<--set>", [(shown, "the value is nested too deeply")]) from None
        parsed.append(([p.strip() for p in path], value))
    return parsed


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``--set`` overrides applied (tables created as needed)."""
    out = _deep_copy(data)
    overridden: set[tuple[str, ...]] = set()
    for path, value in parse_overrides(overrides):
        if nesting_depth(value) + len(path) > MAX_DEPTH:
            raise ConfigError("<--set>", [(".".join(path)[:80], "the value is nested too deeply")])
        node = out
        for depth, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(
                    "<--set>", [(".".join(path[: depth + 1]), "is a value, not a table")]
                )
            node = child
        node[path[-1]] = value
        overridden.add(tuple(path))
        other = SPELLINGS.get(tuple(path))
        if other is not None and (*path[:-1], other) not in overridden:
            node.pop(other, None)  # the file's other spelling of the same setting gives way
    return out


#: Settings with two spellings (exactly one may be given): an override of one replaces the file's
#: other one, so ``--set scenario.duration_days=2`` shortens a file that says ``duration = "30d"``.
SPELLINGS: dict[tuple[str, ...], str] = {
    ("scenario", "duration"): "duration_days",
    ("scenario", "duration_days"): "duration",
}


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


#: Largest scenario or study file read (a scenario is a few kB; this stops a wrong file early).
MAX_FILE_BYTES = 4 * 2**20
#: Deepest nesting of tables and arrays in a scenario or study (the deepest real one is 5).
MAX_DEPTH = 12


def nesting_depth(data: Any, limit: int = MAX_DEPTH + 1) -> int:
    """How deeply ``data`` nests tables and arrays (counted up to ``limit``, iteratively)."""
    deepest = 0
    stack = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth >= limit:
            return depth
        children = (
            node.values()
            if isinstance(node, dict)
            else node
            if isinstance(node, list | tuple)
            else ()
        )
        stack.extend((c, depth + 1) for c in children)
    return deepest


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning every failure into a :class:`ConfigError` naming the file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(str(path), [("", "file not found")])
    if not p.is_file():
        raise ConfigError(str(path), [("", "is not a file")])
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(
                str(path),
                [
                    (
                        "",
                        f"is {size:,} bytes: too large for a scenario or study file (at most "
                        f"{MAX_FILE_BYTES:,}); traces and logs go in their own files",
                    )
                ],
            )
        with p.open("rb") as fh:
            data = tomllib.load(fh)
        if nesting_depth(data) > MAX_DEPTH:
            raise ConfigError(
                str(path), [("", f"tables or arrays nested more than {MAX_DEPTH} levels deep")]
            )
        return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [("", f"malformed TOML: {exc}")]) from None
    except RecursionError:
        raise ConfigError(str(path), [("", "malformed TOML: nested too deeply")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [("", f"cannot be read: {exc}")]) from None


#: A required value that can be given in more than one way: ``field: (field named, message)``.
MISSING_HINTS = {
    "scenario.duration_days": (
        "scenario.duration",
        "missing: give the length of the period as duration (a duration string such as "
        f"{DURATION_EXAMPLES}) or as duration_days (a number of days)",
    ),
}


def validation_problems(
    exc: ValidationError, model: type[BaseModel], prefix: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """Turn pydantic's errors into ``(dotted field, message)`` pairs a person can act on."""
    problems = []
    for err in exc.errors(include_url=False):
        loc, parent = _resolve([str(p) for p in err["loc"]], model)
        field = ".".join([*prefix, *loc])
        kind = err["type"]
        ctx = err.get("ctx", {})
        if kind == "missing":
            field, message = MISSING_HINTS.get(field, (field, "missing required field"))
        elif kind == "extra_forbidden":
            message = "unknown field" + _suggest(loc[-1], parent)
        elif kind == "union_tag_invalid":
            message = (
                f"unknown model {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
            )
        elif kind == "union_tag_not_found":
            message = "missing required field 'model'"
        else:
            message = error_message(kind, err["msg"], err.get("input"))
            head, sep, rest = message.partition(": ")
            if sep and head.startswith(f"{field}.") and " " not in head:
                field, message = head, rest  # a check across a section names its field first
        problems.append((field, message))
    # an array refused because one of its items was: the item's own error says it
    return [
        (f, m)
        for f, m in problems
        if not (
            m.startswith(("Tuple should have at least", "List should have at least"))
            and any(g.startswith(f + ".") for g, _ in problems)
        )
    ]


def _resolve(loc: list[str], model: type[BaseModel]) -> tuple[list[str], Any]:
    """Drop the union tags pydantic puts in locations (``traffic.daily_cycle.x`` -> ``traffic.x``).

    Returns the cleaned location and the model that holds its last part (for suggestions).
    """
    out: list[str] = []
    node: Any = model
    parent: Any = None
    for part in loc:
        if part.isdigit() and node is not None:  # an index into a list: same element type
            out.append(part)
            continue
        members = node if isinstance(node, tuple) else (node,)
        tagged = [m for m in members if part in _tags(m)]
        if tagged and (isinstance(node, tuple) or part not in _fields(node)):
            node = tagged[0]  # a union tag: not a field of the file
            continue
        out.append(part)
        parent = node
        fields = _fields(node)
        node = _annotation_model(fields[part].annotation) if part in fields else None
    return out, parent


def _fields(node: Any) -> dict[str, Any]:
    fields = getattr(node, "model_fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


def _tags(node: Any) -> tuple[str, ...]:
    field = _fields(node).get("model")
    return tuple(getattr(field.annotation, "__args__", ())) if field is not None else ()


def _annotation_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = getattr(annotation, "__args__", ())
    members = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
    if not members:
        for a in args:
            inner = _annotation_model(a)
            if inner is not None:
                return inner
        return None
    return tuple(members) if len(members) > 1 else members[0]


def _suggest(name: str, parent: Any) -> str:
    fields = list(_fields(parent))
    if not fields:
        return ""
    close = difflib.get_close_matches(name, fields, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; expected one of {', '.join(sorted(fields))}"


def scenario_from_dict(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a mapping of TOML values (arrays as lists or tuples); errors
    name ``source`` and each field."""
    data = period_from_traffic(data, source)
    try:
        # the source lets relative trace paths resolve against the scenario file's directory
        scenario = Scenario.model_validate(tuples(data), context={"source": source})
    except ValidationError as exc:
        raise ConfigError(source, validation_problems(exc, Scenario)) from None
    check_scenario(scenario, source)
    return scenario


def period_from_traffic(data: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    """``data`` with the period a replay or an access-log replay implies where the scenario omits
    it: ``scenario.start`` the instant the trace (its ``begin``) or the logs (the hour of the first
    request, or ``begin``) start playing, and the length up to the trace's end (without ``loop``;
    with it, one pass) or the end of the clock hour of the last logged request."""
    from pydantic import TypeAdapter

    sc, tr = data.get("scenario"), data.get("traffic")
    if not isinstance(sc, Mapping) or not isinstance(tr, Mapping):
        return data
    if tr.get("model") not in ("replay", "access_log"):
        return data
    need_start = "start" not in sc
    need_length = "duration" not in sc and "duration_days" not in sc
    if not (need_start or need_length):
        return data
    try:
        traffic = TypeAdapter(TrafficConfig).validate_python(
            tuples(dict(tr)), context={"source": source}
        )
    except ValidationError:
        return data  # the whole scenario's validation says what is wrong
    if traffic.model == "access_log":
        begin = traffic.begin_epoch_s()
        log = traffic.index()
        start = begin if need_start else _epoch_of(sc["start"])
        if start is None:
            return data
        played_last = log.last_s + (start - begin)
        hour_end = (math.floor(played_last / SECONDS_PER_HOUR) + 1) * SECONDS_PER_HOUR
        length = max(1, math.ceil(hour_end - start))
    elif isinstance(traffic, ReplayTraffic):
        from sim.traffic.traces import replayed_trace

        trace = replayed_trace(traffic)
        begin = float(traffic.begin.timestamp()) if traffic.begin else float(trace.start_epoch_s)
        start = begin if need_start else _epoch_of(sc["start"])
        if start is None:
            return data
        length = max(1, round(trace.start_epoch_s + trace.span_s - begin))
    else:
        return data
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    if need_start:
        out["scenario"]["start"] = datetime.fromtimestamp(start, UTC)
    if need_length:
        out["scenario"]["duration"] = f"{int(length)}s"
    return out


def _epoch_of(value: Any) -> float | None:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, str):
        try:
            return _epoch_of(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def scenario_from_json(
    data: str | Mapping[str, Any], source: str = "<scenario>", *, references: bool = True
) -> Scenario:
    """Validate a scenario given as JSON (text, or a mapping of JSON values such as
    ``Scenario.model_dump(mode="json")``: dates as ISO 8601 strings, arrays as lists).

    ``references=False`` skips the price-book checks (for runs whose base passed them already).
    """
    text = data if isinstance(data, str) else json.dumps(data, default=_json_value)
    try:
        scenario = Scenario.model_validate_json(text, context={"source": source})
    except ValidationError as exc:
        raise ConfigError(source, validation_problems(exc, Scenario)) from None
    if references:
        check_scenario(scenario, source)
    elif not scenario.options:
        _nothing_compared(source)
    return scenario


def _json_value(value: Any) -> Any:
    """TOML values JSON has no type for (an unquoted date in ``--set``): ISO 8601 text."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not a scenario value: {value!r}")


def check_scenario(scenario: Scenario, source: str) -> None:
    """Checks across sections and against the price book (after field validation)."""
    if not scenario.options:
        _nothing_compared(source)
    _check_requirements(scenario, source)
    _check_access_log(scenario, source)
    _check_references(scenario, source)


def _check_requirements(scenario: Scenario, source: str) -> None:
    """Some option meets the requirements, and a ``[waf]`` web ACL has an option to attach to."""
    from sim.doors import assessed
    from sim.doors.requirements import impossible_message

    verdicts = assessed(scenario)
    if not any(a.qualifies for a in verdicts):
        raise ConfigError(source, [("requirements", impossible_message(verdicts))])
    lone_waf = scenario.waf is not None and not scenario.requirements.waf
    if lone_waf and not any(a.features.waf for a in verdicts):
        names = ", ".join(a.option.name for a in verdicts)
        raise ConfigError(
            source,
            [
                (
                    "waf",
                    f"no option compared takes a web ACL ({names} cannot): AWS WAF attaches "
                    "to ALBs, REST APIs and CloudFront; set requirements.waf = true to compare "
                    "these behind CloudFront, list cloudfront.origins, or remove [waf]",
                )
            ],
        )


def access_log_problems(scenario: Scenario, fidelity: str | None = None) -> list[tuple[str, str]]:
    """What keeps ``scenario``'s access-log replay from running at ``fidelity`` (default: its
    engine's): only ``request`` fidelity replays a log, sessions would generate other requests,
    and the period must hold logged requests."""
    traffic = scenario.traffic
    if traffic.model != "access_log":
        return []
    problems = []
    used = fidelity or scenario.engine.fidelity
    if used != "request":
        problems.append(
            (
                "engine.fidelity",
                f"an access-log replay runs at 'request' fidelity (exact, every logged request), "
                f"not {used!r}, which would draw what the log records; for studies, replay "
                "the logs' counts (traffic.model = 'replay') or model the traffic",
            )
        )
    if scenario.connections.model == "sessions":
        problems.append(
            (
                "connections.model",
                "an access-log replay carries its own requests: use 'per_connection' (it "
                "connects only the requests whose log names no client connection)",
            )
        )
    log = traffic.index()
    start = scenario.scenario.start.timestamp()
    shift = start - traffic.begin_epoch_s()
    first, last = log.first_s + shift, log.last_s + shift
    if last < start or first >= start + scenario.scenario.duration_s:
        problems.append(
            (
                "traffic.begin",
                f"no logged request falls in the period: the logs ({traffic.path}) span "
                f"{iso_utc(log.first_s)} to {iso_utc(log.last_s)}, which play from {iso_utc(first)} to "
                f"{iso_utc(last)}; the period starts {iso_utc(start)}",
            )
        )
    return problems


def engine_problems(scenario: Scenario, fidelity: str | None = None) -> list[tuple[str, str]]:
    """What keeps ``scenario`` from running at ``fidelity`` (default: its engine's): an
    access-log replay's needs (:func:`access_log_problems`) and the warm-up's."""
    problems = access_log_problems(scenario, fidelity)
    used = fidelity or scenario.engine.fidelity
    if scenario.engine.warmup_s and used == "reference":
        problems.append(
            (
                "engine.warmup_s",
                "reference fidelity starts its processes with the period: set warmup_s = 0 or "
                "use 'request' fidelity, which simulates the warm-up",
            )
        )
    if (
        scenario.engine.warmup_s
        and used == "aggregate"
        and scenario.connections.model == "sessions"
    ):
        problems.append(
            (
                "engine.warmup_s",
                "aggregate fidelity's warm-up gives per_connection's connections open at the "
                "start; sessions start with the period there: use 'request' fidelity, which "
                "simulates the warm-up's sessions, or warmup_s = 0",
            )
        )
    return problems


def _check_access_log(scenario: Scenario, source: str) -> None:
    problems = engine_problems(scenario)
    if problems:
        raise ConfigError(source, problems)


def _nothing_compared(source: str) -> None:
    raise ConfigError(
        source,
        [
            (
                "apigateway.apis",
                "the scenario compares no option: alb.enabled, lambda_url.enabled and "
                "lattice.enabled are false, and apigateway.apis and cloudfront.origins are empty; "
                "enable one or list an API (rest, http, websocket) or an origin",
            )
        ],
    )


def _check_references(scenario: Scenario, source: str) -> None:
    """Checks that need the price book: the region exists in it."""
    from sim.pricing.book import PriceBookError, load_price_book

    try:
        book = load_price_book(_book_path(scenario.pricing.book, source))
    except PriceBookError as exc:
        raise ConfigError(source, [("pricing.book", str(exc))]) from None
    if scenario.scenario.region not in book.regions:
        known = ", ".join(sorted(book.regions))
        raise ConfigError(
            source,
            [("scenario.region", f"unknown region {scenario.scenario.region!r}; expected {known}")],
        )
    cache = scenario.apigateway.cache
    if cache.enabled:
        sold = book.regions[scenario.scenario.region].cache_hour_by_gb
        for i, size in enumerate(cache.sizes_gb):
            if size not in sold:
                raise ConfigError(
                    source,
                    [
                        (
                            f"apigateway.cache.sizes_gb.{i}",
                            f"AWS sells no {size:g} GB cache; expected one of "
                            + ", ".join(f"{s:g}" for s in sorted(sold)),
                        )
                    ],
                )


def _book_path(book: str, source: str) -> Any:
    """The book a scenario names: a packaged book id, else a path (relative to the scenario file)."""
    from sim.pricing.book import DEFAULT_BOOK_ID, packaged_book_path, packaged_books

    if book in packaged_books():
        return packaged_book_path(book)
    candidate = Path(book)
    if not candidate.is_absolute() and not source.startswith("<"):
        candidate = Path(source).parent / candidate
    if not candidate.exists():
        known = ", ".join(repr(b) for b in packaged_books())
        raise ConfigError(
            source,
            [
                (
                    "pricing.book",
                    f"expected a packaged book ({known}; default {DEFAULT_BOOK_ID!r}) or an "
                    f"existing file, got {book!r}",
                )
            ],
        )
    return candidate


def load_scenario(path: str | Path, overrides: Iterable[str] = ()) -> Scenario:
    """Load, override and validate a scenario file.

    Raises
    ------
    ConfigError
        Naming the file, each bad field and what was expected.
    """
    data = apply_overrides(read_toml(path), overrides)
    return scenario_from_dict(data, str(path))


def price_book_for(scenario: Scenario, source: str = "<scenario>") -> Any:
    """The price book a validated scenario refers to."""
    from sim.pricing.book import load_price_book

    return load_price_book(_book_path(scenario.pricing.book, source))


def horizon_hours(scenario: Scenario) -> int:
    """Number of clock hours the period touches (a partial hour counts)."""
    start = scenario.scenario.start.timestamp()
    first = math.floor(start / SECONDS_PER_HOUR)
    last = math.ceil((start + scenario.scenario.duration_s) / SECONDS_PER_HOUR)
    return last - first


def json_schema() -> dict[str, Any]:
    """JSON Schema of scenario files (for editors)."""
    return Scenario.model_json_schema()
