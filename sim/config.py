"""Scenario files: TOML validated into frozen pydantic models, with ``--set`` overrides and clear errors.

A scenario file has one table per section (``[scenario]``, ``[traffic]``, ``[payload]``,
``[connections]``, ``[alb]``, ``[apigateway]``, ``[backend]``, ``[pricing]``, ``[engine]``); every
section but ``[scenario]`` and ``[traffic]`` has defaults. Model families (traffic profile, size
distribution, connection model) are tagged unions on their ``model`` key: adding a model means adding
one class to its union, never an if/elif chain. See ``configs/seed.toml`` for a commented example and
``sim schema`` for the JSON Schema.
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
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sim._model import StrictModel, error_message, tuples
from sim.errors import ConfigError

# The traffic families' models ([traffic], [payload], [connections]) live in sim/traffic/models.py.
from sim.traffic.models import ConnectionConfig as ConnectionConfig
from sim.traffic.models import ConstantTraffic as ConstantTraffic
from sim.traffic.models import DailyCycleTraffic as DailyCycleTraffic
from sim.traffic.models import FixedSize as FixedSize
from sim.traffic.models import LognormalSize as LognormalSize
from sim.traffic.models import PayloadSection as PayloadSection
from sim.traffic.models import PerConnectionModel as PerConnectionModel
from sim.traffic.models import SizeConfig as SizeConfig
from sim.traffic.models import TrafficConfig as TrafficConfig
from sim.units import SECONDS_PER_DAY, SECONDS_PER_HOUR


class _Model(StrictModel):
    """Strict, frozen, closed (see :mod:`sim._model`)."""


# --------------------------------------------------------------------------- scenario
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
    duration_days: float = Field(gt=0, le=3660, description="Length of the period in days.")
    region: str = Field(default="us-east-1", description="AWS region of the price book.")
    seed: int = Field(default=0, ge=0, description="Root seed: same seed, same numbers.")

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
    return out


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
            message = "missing required field"
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
    try:
        # the source lets relative trace paths resolve against the scenario file's directory
        scenario = Scenario.model_validate(tuples(data), context={"source": source})
    except ValidationError as exc:
        raise ConfigError(source, validation_problems(exc, Scenario)) from None
    check_scenario(scenario, source)
    return scenario


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
