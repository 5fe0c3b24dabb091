"""Scenario-file models of the traffic families: ``[traffic]``, ``[payload]`` and ``[connections]``.

Each family is a tagged union on its ``model`` key; each name is a registry entry in :mod:`sim.traffic`
(adding a model means one class here and one registry entry there, never an if/elif chain). These
classes are re-exported by :mod:`sim.config`. Nothing here imports :mod:`sim.config` (which imports
this module), nor numpy: the checks are plain arithmetic.

Trace files named by a relative path resolve against the directory of the scenario file: the loader
passes its path as the validation context ``{"source": path}``.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim._model import StrictModel

if TYPE_CHECKING:
    from sim.logs.requests import RequestLog
    from sim.logs.source import LogIndex, SourceOptions

SECONDS_PER_DAY = 86_400
SECONDS_PER_WEEK = 7 * SECONDS_PER_DAY
#: A month for growth rates: a twelfth of the mean Gregorian year, 30.436875 days.
SECONDS_PER_MONTH = 365.2425 * SECONDS_PER_DAY / 12
#: Largest peak-to-mean factor of a daily cycle (beyond it the shape is a spike, not a cycle).
MAX_PEAK_FACTOR = 1e4


class _Model(StrictModel):
    """Strict, frozen, closed (see :mod:`sim._model`)."""


def _beside_scenario(value: str, info: ValidationInfo, *, follow_links: bool) -> Path:
    """A file a scenario names: a relative path is relative to the scenario file's directory
    (its symbolic links followed with ``follow_links``, else the path is only normalised)."""
    path = Path(value).expanduser()
    source = (info.context or {}).get("source")
    if path.is_absolute() or not isinstance(source, str) or source.startswith("<"):
        return path
    joined = Path(source).parent.resolve() / path
    return joined.resolve() if follow_links else Path(os.path.normpath(joined))


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# =========================================================================== rate profile factors
class DailyCycleFactor(_Model):
    """A daily cycle with mean 1 over each day (UTC), multiplying the base rate.

    Either the parametric von Mises bump ``exp(κ (cos θ − 1))``, θ = 2π (t − peak hour) / 1 day,
    with κ solved from ``peak_to_mean`` (or from the profile's ``peak_requests_per_s``), or a
    user-given shape: ``hourly`` holds 24 relative levels for the hours 00–23 UTC, joined linearly
    between hour midpoints (periodic), then divided by their mean.
    """

    model: Literal["daily_cycle"]
    peak_hour_utc: float = Field(
        default=14.0, ge=0, lt=24, description="Hour of day (UTC, fractional) of the peak."
    )
    peak_to_mean: float | None = Field(
        default=None,
        ge=1,
        le=MAX_PEAK_FACTOR,
        description="Peak rate over the daily mean (≥ 1); omit to solve it from the profile's "
        "peak_requests_per_s.",
    )
    hourly: tuple[float, ...] | None = Field(
        default=None,
        description="24 relative levels, hours 00–23 UTC (a user-given shape instead of the bump).",
    )

    @field_validator("hourly")
    @classmethod
    def _hourly(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is None:
            return value
        if len(value) != 24:
            raise ValueError(f"needs 24 values, one per hour (got {len(value)})")
        if any(v < 0 or not math.isfinite(v) for v in value):
            raise ValueError("levels must be finite and ≥ 0")
        if sum(value) <= 0:
            raise ValueError("levels must not all be 0")
        return value

    @model_validator(mode="after")
    def _one_shape(self) -> DailyCycleFactor:
        if self.hourly is not None and self.peak_to_mean is not None:
            raise ValueError("give peak_to_mean (parametric shape) or hourly (own shape), not both")
        if self.hourly is not None and "peak_hour_utc" in self.model_fields_set:
            raise ValueError("peak_hour_utc applies to the parametric shape, not to hourly")
        return self

    @property
    def hourly_peak_to_mean(self) -> float | None:
        """Peak over mean of the user-given shape (linear interpolation peaks at a node)."""
        if self.hourly is None:
            return None
        return max(self.hourly) / (sum(self.hourly) / 24)


class WeeklyCycleFactor(_Model):
    """Weekday and weekend levels (or one level per day, Monday first), normalised to mean 1 over a
    week; days start at midnight local time, ``utc_offset_hours`` from UTC."""

    model: Literal["weekly_cycle"]
    weekday: float = Field(default=1.0, ge=0, description="Relative level Monday–Friday.")
    weekend: float = Field(default=1.0, ge=0, description="Relative level Saturday and Sunday.")
    days: tuple[float, ...] | None = Field(
        default=None, description="7 relative levels, Monday to Sunday (instead of the two above)."
    )
    utc_offset_hours: float = Field(
        default=0.0, ge=-14, le=14, description="Local time minus UTC, hours (where days begin)."
    )

    @model_validator(mode="after")
    def _levels_ok(self) -> WeeklyCycleFactor:
        if self.days is not None:
            if {"weekday", "weekend"} & self.model_fields_set:
                raise ValueError("give days, or weekday and weekend, not both")
            if len(self.days) != 7:
                raise ValueError(f"days needs 7 values, Monday to Sunday (got {len(self.days)})")
            if any(v < 0 or not math.isfinite(v) for v in self.days):
                raise ValueError("days: levels must be finite and ≥ 0")
        if sum(self.levels) <= 0:
            raise ValueError("levels must not all be 0")
        return self

    @property
    def levels(self) -> tuple[float, ...]:
        """Relative level of each day, Monday first (not normalised)."""
        if self.days is not None:
            return self.days
        return (self.weekday,) * 5 + (self.weekend,) * 2

    @property
    def peak_to_mean(self) -> float:
        levels = self.levels
        return max(levels) / (sum(levels) / 7)


class TrendFactor(_Model):
    """Compound growth: ``(1 + growth_per_month) ** (months since start)``; 1 at ``start``."""

    model: Literal["trend"]
    growth_per_month: float = Field(
        gt=-1, le=100, description="Relative growth per month (0.05 = +5 %/month), compounding."
    )
    start: datetime | None = Field(
        default=None, description="When the factor is 1 (UTC); default: the scenario's start."
    )

    @field_validator("start")
    @classmethod
    def _start_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class ScheduledPeakFactor(_Model):
    """A planned peak (a launch, a match, a marketing mail): the rate is multiplied by a factor that
    ramps linearly from 1 to ``multiplier`` over ``ramp_up_s`` from ``start``, holds for
    ``plateau_s``, and returns linearly to 1 over ``decay_s``; optionally repeats every
    ``every_days``. A ``multiplier`` below 1 is a planned dip."""

    model: Literal["scheduled_peak"]
    start: datetime = Field(description="When the ramp-up begins (UTC).")
    ramp_up_s: float = Field(default=0.0, ge=0, description="Ramp from 1 to the multiplier, s.")
    plateau_s: float = Field(ge=0, description="Time at the full multiplier, s.")
    decay_s: float = Field(default=0.0, ge=0, description="Ramp back to 1, s.")
    multiplier: float = Field(gt=0, le=1e6, description="Rate multiplier on the plateau.")
    every_days: float | None = Field(
        default=None, gt=0, description="Repeat period in days (e.g. 7 for a weekly match)."
    )

    @field_validator("start")
    @classmethod
    def _start_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @model_validator(mode="after")
    def _fits(self) -> ScheduledPeakFactor:
        span = self.ramp_up_s + self.plateau_s + self.decay_s
        if span <= 0:
            raise ValueError("ramp_up_s + plateau_s + decay_s must be > 0")
        if self.every_days is not None and span > self.every_days * SECONDS_PER_DAY:
            raise ValueError("the peak lasts longer than its repeat period every_days")
        return self


class FlashCrowdsFactor(_Model):
    """Random flash crowds: onsets form a Poisson process (``per_day``); each crowd multiplies the
    rate by a heavy-tailed amplitude ``A`` (Pareto, minimum ``amplitude_min``, tail index
    ``amplitude_shape``, optionally capped at ``amplitude_max``) with the same ramp / plateau / decay
    shape as a scheduled peak. Overlapping crowds add their excess: factor = 1 + Σ (A_k − 1) s_k(t).
    """

    model: Literal["flash_crowds"]
    per_day: float = Field(gt=0, le=1e4, description="Mean onsets per day.")
    amplitude_min: float = Field(default=2.0, gt=1, description="Smallest peak multiplier.")
    amplitude_shape: float = Field(
        default=1.5, gt=1, le=100, description="Pareto tail index α (> 1; smaller = heavier tail)."
    )
    amplitude_max: float | None = Field(default=None, description="Cap on the multiplier.")
    ramp_up_s: float = Field(default=60.0, ge=0, description="Ramp from 1 to the amplitude, s.")
    duration_s: float = Field(default=1800.0, gt=0, description="Time at the amplitude, s.")
    decay_s: float = Field(default=600.0, ge=0, description="Ramp back to 1, s.")

    @model_validator(mode="after")
    def _cap(self) -> FlashCrowdsFactor:
        if self.amplitude_max is not None and self.amplitude_max <= self.amplitude_min:
            raise ValueError("amplitude_max must be above amplitude_min")
        return self

    @property
    def span_s(self) -> float:
        return self.ramp_up_s + self.duration_s + self.decay_s

    @property
    def mean_amplitude(self) -> float:
        """``E[min(A, cap)]`` for ``A = amplitude_min · U^(−1/α)``."""
        a, m = self.amplitude_shape, self.amplitude_min
        if self.amplitude_max is None:
            return a * m / (a - 1)
        c = self.amplitude_max
        # E[min(A, c)] = m + ∫_m^c P(A > x) dx = m + m^α (m^(1−α) − c^(1−α)) / (α − 1)
        return float(m + m**a * (m ** (1 - a) - c ** (1 - a)) / (a - 1))

    @property
    def mean_factor(self) -> float:
        """Long-run mean of the factor: 1 + onset rate × E[A − 1] × area of the unit shape."""
        area_s = self.ramp_up_s / 2 + self.duration_s + self.decay_s / 2
        return 1.0 + self.per_day / SECONDS_PER_DAY * (self.mean_amplitude - 1) * area_s


ProfileFactor = Annotated[
    DailyCycleFactor | WeeklyCycleFactor | TrendFactor | ScheduledPeakFactor | FlashCrowdsFactor,
    Field(discriminator="model"),
]


# =========================================================================== burst processes
class MmppBurst(_Model):
    """Markov-modulated Poisson: a hidden state ``i`` holds for an exponential time of mean
    ``sojourn_s[i]``, then jumps to ``j`` with probability ``transitions[i][j]`` (default: uniform over
    the other states); while in ``i`` the rate is the profile's rate × ``levels[i]``. With
    ``normalize`` the levels are rescaled so that their stationary mean is 1 (the profile keeps its
    long-run volume); without it the long-run rate is the profile's × Σ π_i levels[i]."""

    model: Literal["mmpp"]
    levels: tuple[float, ...] = Field(
        max_length=64, description="Relative rate of each state (≥ 0; at most 64 states)."
    )
    sojourn_s: tuple[float, ...] = Field(
        max_length=64, description="Mean time in each state, s (> 0)."
    )
    transitions: tuple[tuple[float, ...], ...] | None = Field(
        default=None, description="Jump probabilities, rows sum to 1, zero diagonal."
    )
    normalize: bool = Field(default=True, description="Rescale levels to a stationary mean of 1.")

    @model_validator(mode="after")
    def _shape_ok(self) -> MmppBurst:
        n = len(self.levels)
        if n < 2:
            raise ValueError("levels: needs at least 2 states")
        if len(self.sojourn_s) != n:
            raise ValueError(
                f"sojourn_s needs {n} values, one per state (got {len(self.sojourn_s)})"
            )
        if any(v < 0 or not math.isfinite(v) for v in self.levels) or not any(self.levels):
            raise ValueError("levels must be finite, ≥ 0 and not all 0")
        if any(not (v > 0 and math.isfinite(v)) for v in self.sojourn_s):
            raise ValueError("sojourn_s must be > 0")
        if self.transitions is not None:
            p = self.transitions
            if len(p) != n or any(len(row) != n for row in p):
                raise ValueError(f"transitions must be an {n}×{n} matrix")
            for i, row in enumerate(p):
                for j, v in enumerate(row):
                    if not 0 <= v <= 1:
                        raise ValueError(
                            f"transitions[{i}][{j}] = {v:g} is a probability: must be in [0, 1]"
                        )
                if row[i] != 0:
                    raise ValueError(f"transitions[{i}][{i}] must be 0 (a jump leaves the state)")
                if abs(sum(row) - 1) > 1e-9:
                    raise ValueError(f"transitions[{i}] must sum to 1 (got {sum(row):g})")
        return self


class HawkesBurst(_Model):
    """Self-exciting Hawkes process with an exponential kernel: each request triggers on average
    ``branching_ratio`` further requests, each after an exponential delay of mean ``decay_s``
    (``φ(t) = n/τ · exp(−t/τ)``). The baseline (immigrant) rate is the profile's rate × (1 − n), so the
    long-run mean is the profile's: mean = baseline / (1 − n)."""

    model: Literal["hawkes"]
    branching_ratio: float = Field(
        ge=0, description="Mean children per request, n (< 1: at 1 the process explodes)."
    )
    decay_s: float = Field(gt=0, le=86_400, description="Mean delay of a child, τ, s.")

    @field_validator("branching_ratio")
    @classmethod
    def _stable(cls, value: float) -> float:
        if value >= 1:
            raise ValueError(
                "must be below 1: at n ≥ 1 every request has on average one descendant or more "
                "and the stream grows without bound"
            )
        return value


class OnOffBurst(_Model):
    """``sources`` independent ON/OFF sources with Pareto ON and OFF periods (tail index
    ``pareto_shape``, means ``on_mean_s`` and ``off_mean_s``), each sending Poisson traffic while ON.
    The aggregate is asymptotically self-similar with Hurst parameter H = (3 − α)/2 for 1 < α < 2.
    The rate is the profile's rate × (sources ON) / E[sources ON], so the profile keeps its volume."""

    model: Literal["on_off"]
    sources: int = Field(ge=1, le=1_000_000, description="Number of ON/OFF sources.")
    on_mean_s: float = Field(gt=0, description="Mean ON period, s.")
    off_mean_s: float = Field(gt=0, description="Mean OFF period, s.")
    pareto_shape: float = Field(
        default=1.5, gt=1, le=100, description="Pareto tail index α of both periods (> 1)."
    )


BurstConfig = Annotated[MmppBurst | HawkesBurst | OnOffBurst, Field(discriminator="model")]


# =========================================================================== traffic models
class ConstantTraffic(_Model):
    """A homogeneous Poisson stream."""

    model: Literal["constant"]
    requests_per_s: float = Field(gt=0, description="Mean arrival rate, requests/s.")


class DailyCycleTraffic(_Model):
    """A non-homogeneous Poisson stream whose rate follows a smooth daily cycle.

    The shape is a von Mises bump, ``rate(t) ∝ exp(κ cos(2π (t − peak) / 1 day))``; κ is solved so that
    the cycle's mean is ``requests_per_day / 86400`` and its maximum is ``peak_requests_per_s``.
    """

    model: Literal["daily_cycle"]
    requests_per_day: float = Field(gt=0, description="Expected requests per day.")
    peak_requests_per_s: float = Field(
        gt=0, description="Expected rate at the daily peak, requests/s (≥ the daily mean)."
    )
    peak_hour_utc: float = Field(
        default=14.0, ge=0, lt=24, description="Hour of day (UTC, fractional) of the peak."
    )

    @field_validator("peak_requests_per_s")
    @classmethod
    def _peak_above_mean(cls, value: float, info: ValidationInfo) -> float:
        per_day = info.data.get("requests_per_day")
        if per_day is not None:
            mean = per_day / SECONDS_PER_DAY
            if value < mean * (1 - 1e-12):
                raise ValueError(
                    f"must be at least the mean rate requests_per_day / 86400 = {mean:.6g} "
                    f"requests/s (got {value:g})"
                )
            if value / mean > MAX_PEAK_FACTOR:
                raise ValueError(f"peak factor {value / mean:.3g} is beyond 10,000: unreachable")
        return value


class ProfileTraffic(_Model):
    """A composable rate profile: a base rate multiplied by factors, optionally made bursty.

    ``rate(t) = base × Π factor_k(t)``; the base is ``requests_per_day / 86400`` or
    ``requests_per_s``: the mean of the ordinary (daily × weekly) cycle before any trend, scheduled
    peak or flash crowd. With ``peak_requests_per_s`` the daily cycle's peak-to-mean is solved so that
    the ordinary cycle's highest expected rate is that peak. The requests form a Poisson stream with
    this rate, or the ``burst`` process modulated by it.
    """

    model: Literal["profile"]
    requests_per_day: float | None = Field(
        default=None, gt=0, description="Volume: mean requests per day of the ordinary cycle."
    )
    requests_per_s: float | None = Field(
        default=None, gt=0, description="Or the mean rate, requests/s."
    )
    peak_requests_per_s: float | None = Field(
        default=None, gt=0, description="Highest expected rate of the ordinary cycle, requests/s."
    )
    factors: tuple[ProfileFactor, ...] = Field(
        default=(),
        description="Multiplied together: daily_cycle, weekly_cycle, trend, "
        "scheduled_peak, flash_crowds.",
    )
    burst: BurstConfig | None = Field(
        default=None, description="Burst process modulated by the profile: mmpp, hawkes, on_off."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ProfileTraffic:
        if (self.requests_per_day is None) == (self.requests_per_s is None):
            raise ValueError("give exactly one of requests_per_day and requests_per_s")
        kinds = [f.model for f in self.factors]
        for once in ("daily_cycle", "weekly_cycle", "trend", "flash_crowds"):
            if kinds.count(once) > 1:
                raise ValueError(f"factors: {once} appears more than once")
        daily = next((f for f in self.factors if isinstance(f, DailyCycleFactor)), None)
        parametric = daily is not None and daily.hourly is None and daily.peak_to_mean is None
        if parametric and self.peak_requests_per_s is None:
            raise ValueError(
                "the daily_cycle factor needs peak_to_mean, hourly, or the profile's "
                "peak_requests_per_s"
            )
        if self.peak_requests_per_s is not None:
            self._check_peak(daily)
        return self

    def _check_peak(self, daily: DailyCycleFactor | None) -> None:
        peak = self.peak_requests_per_s
        assert peak is not None
        weekly = next((f for f in self.factors if isinstance(f, WeeklyCycleFactor)), None)
        top = self.base_per_s * (weekly.peak_to_mean if weekly is not None else 1.0)
        if daily is None or daily.hourly is not None or daily.peak_to_mean is not None:
            raise ValueError(
                "peak_requests_per_s cannot be reached: it is solved through a daily_cycle factor "
                "with neither peak_to_mean nor hourly (add one, or drop peak_requests_per_s)"
            )
        if peak < top * (1 - 1e-12):
            raise ValueError(
                f"peak_requests_per_s = {peak:g} cannot be reached: the ordinary cycle's mean × weekly "
                f"maximum is already {top:.6g} requests/s"
            )
        if peak / top > MAX_PEAK_FACTOR:
            raise ValueError(
                f"peak_requests_per_s = {peak:g} cannot be reached: {peak / top:.3g} × the mean is "
                "beyond a daily peak-to-mean of 10,000"
            )

    @property
    def base_per_s(self) -> float:
        """Mean rate of the ordinary cycle, requests/s."""
        if self.requests_per_s is not None:
            return self.requests_per_s
        assert self.requests_per_day is not None
        return self.requests_per_day / SECONDS_PER_DAY


class ReplayTraffic(_Model):
    """Replay of a real trace: per-second or per-minute (any regular step) counts, or one timestamp
    per request, from CSV (optionally gzipped) or Parquet; or a series of bare counts (``format =
    "series"``: one per line or whitespace-separated, no header, ``step_s`` seconds each, the first
    at ``begin``).

    The trace instant ``begin`` (default: its first timestamp) plays at the scenario's start; with
    ``loop`` the trace restarts from its beginning when it runs out (else the traffic stops). Within
    a counted step the arrivals are spread as a Poisson process would spread them (uniformly,
    independently). ``scale`` multiplies the volume (each request becomes ⌊s⌋ requests plus one more
    with probability s − ⌊s⌋), or ``requests_per_day`` sets the scale so the trace's mean matches.
    """

    model: Literal["replay"]
    format: Literal["auto", "counts", "timestamps", "series"] = Field(
        default="auto",
        description="counts: timestamp and count columns; timestamps: one row per request; "
        "auto: counts if the count column exists; series: bare counts, one per line or "
        "whitespace-separated, no header nor timestamps (needs step_s and begin).",
    )
    timestamp_column: str = Field(default="timestamp", description="Column of UTC timestamps.")
    count_column: str = Field(default="requests", description="Column of counts.")
    begin: datetime | None = Field(
        default=None,
        description="Trace instant played at the scenario's start (UTC); for format = 'series' "
        "(required): the date-time of the first count.",
    )
    step_s: int | None = Field(
        default=None,
        ge=1,
        le=SECONDS_PER_DAY,
        description="format = 'series' only (required): seconds each count covers.",
    )
    scale: float | None = Field(default=None, gt=0, le=1e6, description="Volume multiplier.")
    requests_per_day: float | None = Field(
        default=None, gt=0, description="Or the mean requests per day the replay should have."
    )
    loop: bool = Field(default=True, description="Restart the trace when it runs out.")
    # last, so that its validator sees the format and column names
    path: str = Field(description="Trace file; a relative path is relative to the scenario file.")

    @field_validator("begin")
    @classmethod
    def _begin_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @field_validator("path")
    @classmethod
    def _resolve_and_check(cls, value: str, info: ValidationInfo) -> str:
        """Resolve against the scenario file's directory, then load and check the trace once."""
        from sim.errors import TraceError
        from sim.traffic.traces import load_trace

        path = _beside_scenario(value, info, follow_links=True)
        fmt = info.data.get("format", "auto")
        ts_col = info.data.get("timestamp_column", "timestamp")
        count_col = info.data.get("count_column", "requests")
        step_s, begin = info.data.get("step_s"), info.data.get("begin")
        if fmt == "series" and (step_s is None or begin is None):
            return str(path)  # the check across fields says what is missing
        try:
            load_trace(str(path), fmt, ts_col, count_col, step_s=step_s, begin=begin)
        except TraceError as exc:
            raise ValueError(str(exc)) from None
        return str(path)

    @model_validator(mode="after")
    def _one_scale(self) -> ReplayTraffic:
        if self.format == "series":
            lacking = [k for k in ("step_s", "begin") if getattr(self, k) is None]
            if lacking:
                raise ValueError(
                    f"traffic.{lacking[0]}: format = 'series' (bare counts, no timestamps) needs "
                    "step_s (seconds per count, e.g. 60) and begin (the date-time of the first "
                    "count)"
                )
        elif self.step_s is not None:
            raise ValueError(
                "traffic.step_s: only for format = 'series' (a counts trace's step is the gap "
                "between its timestamps); remove step_s or set format = 'series'"
            )
        if self.scale is not None and self.requests_per_day is not None:
            raise ValueError("give scale or requests_per_day, not both")
        if self.begin is not None:
            from sim.traffic.traces import replayed_trace

            trace = replayed_trace(self)
            offset = round(self.begin.timestamp()) - trace.start_epoch_s
            if not 0 <= offset < trace.span_s:
                raise ValueError(f"begin {self.begin.isoformat()} is outside the trace {self.path}")
        return self


class AccessLogTraffic(_Model):
    """Exact replay of access logs: every logged request, as it was (arrival, bytes both ways, client
    connection, route, target processing time, status), under every front door compared.

    ``path`` is a file, a directory or a glob of ALB, API Gateway or CloudFront logs (plain or gzip,
    files in any order) or a request table written by ``sim logs convert``. The log instant ``begin``
    (default: the hour of the first logged request) plays at the scenario's start. What a log does
    not give (API Gateway logs name no client connection nor request size) the scenario's
    ``[connections]``, ``[payload]`` and ``[backend]`` models fill in, request by request.
    Connections: a logged connection opens with its first request (or the first after a gap longer
    than ``idle_timeout_s``) and closes ``idle_timeout_s`` after its last response. Only ``request``
    fidelity replays a log (it is exact; the others would draw what the log records).
    """

    model: Literal["access_log"]
    format: Literal["auto", "alb", "apigw", "cloudfront", "requests"] = Field(
        default="auto",
        description="alb, apigw (JSON lines), cloudfront (standard logs), requests (a table from "
        "'sim logs convert'), or auto (from the first line; .parquet is a request table).",
    )
    begin: datetime | None = Field(
        default=None,
        description="Log instant played at the scenario's start (UTC; default: the hour of the "
        "first logged request).",
    )
    idle_timeout_s: float = Field(
        default=60.0, ge=1, le=4000, description="The load balancer's idle timeout, s (ALB: 60)."
    )
    durations: Literal["log", "model"] = Field(
        default="log",
        description="Lambda durations: the logged target processing times ('log'; the model's "
        "draws where none is logged) or backend.duration's draws for every request ('model').",
    )
    max_malformed_share: float = Field(
        default=0.001, ge=0, le=1, description="Largest share of malformed lines accepted."
    )
    apigw_fields: dict[str, str] = Field(
        default_factory=dict,
        description="API Gateway logs: our column -> your $context field name (e.g. "
        "{ time_s = 'requestTimeEpoch', response_bytes = 'responseLength' }).",
    )
    reorder_window_s: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="How far out of time order a log line may come, s; later lines are left out "
        "and reported (like malformed lines).",
    )
    connection_logs: str | None = Field(
        default=None,
        description="ALB connection logs (a file, directory or glob; relative to the scenario "
        "file): each connection attempt opens a connection, so new connections come from them "
        "exactly (joined to the access log's requests by conn_trace_id).",
    )
    # last, so that its validator sees the other fields
    path: str = Field(
        description="Log file, directory or glob, or a request table; relative to the scenario file."
    )

    @field_validator("begin")
    @classmethod
    def _begin_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @field_validator("connection_logs")
    @classmethod
    def _resolve_connection_logs(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        return str(_beside_scenario(value, info, follow_links=False))

    @field_validator("path")
    @classmethod
    def _resolve_and_read(cls, value: str, info: ValidationInfo) -> str:
        """Resolve against the scenario file's directory, then read and check the logs once."""
        from sim.errors import TraceError
        from sim.logs.source import log_index

        path = _beside_scenario(value, info, follow_links=False)  # a glob stays a glob
        try:
            log_index(_source_options(str(path), info.data))
        except TraceError as exc:
            raise ValueError(str(exc)) from None
        return str(path)

    def source_options(self) -> SourceOptions:
        """How the logs are read."""
        return _source_options(self.path, self.model_dump())

    def index(self) -> LogIndex:
        """What the logs hold (one streaming pass, kept per process and version of the files)."""
        from sim.logs.source import log_index

        return log_index(self.source_options())

    def requests(self) -> RequestLog:
        """The logged requests, all in memory (for fitting; a replay streams them)."""
        from sim.logs.requests import load_requests

        return load_requests(
            self.path,
            self.format,
            max_malformed_share=self.max_malformed_share,
            apigw_fields=self.apigw_fields or None,
        )

    def begin_epoch_s(self) -> float:
        """The log instant played at the scenario's start, epoch seconds."""
        if self.begin is not None:
            return self.begin.timestamp()
        first = self.index().first_s
        return float(math.floor(first / 3600.0) * 3600)


def _source_options(path: str, data: Mapping[str, Any]) -> SourceOptions:
    from sim.logs.source import SourceOptions

    return SourceOptions(
        path,
        data.get("format", "auto"),
        data.get("max_malformed_share", 0.001),
        tuple(sorted((data.get("apigw_fields") or {}).items())),
        data.get("reorder_window_s", 300.0),
        data.get("connection_logs") or "",
    )


TrafficConfig = Annotated[
    ConstantTraffic | DailyCycleTraffic | ProfileTraffic | ReplayTraffic | AccessLogTraffic,
    Field(discriminator="model"),
]


# =========================================================================== payloads
class FixedSize(_Model):
    """Every message has the same size."""

    model: Literal["fixed"]
    bytes: int = Field(gt=0, description="Size in bytes, headers included.")


class LognormalSize(_Model):
    """Lognormal sizes with the given mean (bytes) and log-space standard deviation."""

    model: Literal["lognormal"]
    mean_bytes: float = Field(gt=0, description="Mean size in bytes, headers included.")
    sigma: float = Field(gt=0, le=5, description="Standard deviation of ln(size).")


class EmpiricalSize(_Model):
    """An empirical size distribution: a histogram (``edges_bytes`` with one weight per bin, sizes
    uniform within a bin) or exact sizes (``values_bytes`` with one weight each). Weights are
    relative (normalised to sum 1)."""

    model: Literal["empirical"]
    edges_bytes: tuple[float, ...] | None = Field(
        default=None, description="Bin edges, increasing, ≥ 0 (n + 1 edges for n weights)."
    )
    values_bytes: tuple[float, ...] | None = Field(
        default=None, description="Or exact sizes, increasing, > 0 (one weight each)."
    )
    weights: tuple[float, ...] = Field(description="Relative frequency of each bin or size, ≥ 0.")

    @model_validator(mode="after")
    def _histogram(self) -> EmpiricalSize:
        if (self.edges_bytes is None) == (self.values_bytes is None):
            raise ValueError("give exactly one of edges_bytes and values_bytes")
        w = self.weights
        if any(v < 0 or not math.isfinite(v) for v in w) or sum(w) <= 0:
            raise ValueError("weights must be finite, ≥ 0 and not all 0")
        if self.edges_bytes is not None:
            e = self.edges_bytes
            if len(e) != len(w) + 1:
                raise ValueError(f"edges_bytes needs {len(w) + 1} edges for {len(w)} weights")
            if e[0] < 0 or any(b <= a for a, b in itertools.pairwise(e)):
                raise ValueError("edges_bytes must be ≥ 0 and strictly increasing")
        else:
            v = self.values_bytes
            assert v is not None
            if len(v) != len(w):
                raise ValueError(f"values_bytes needs one value per weight ({len(w)})")
            if v[0] <= 0 or any(b <= a for a, b in itertools.pairwise(v)):
                raise ValueError("values_bytes must be > 0 and strictly increasing")
        return self


SizeConfig = Annotated[FixedSize | LognormalSize | EmpiricalSize, Field(discriminator="model")]


def _default_size() -> FixedSize:
    return FixedSize(model="fixed", bytes=1024)


class Route(_Model):
    """One route of a route mix: its share of the requests and its sizes."""

    name: str = Field(min_length=1, max_length=200, description="A label, e.g. 'GET /items'.")
    share: float = Field(ge=0, le=1, description="Fraction of requests on this route, in [0, 1].")
    request: SizeConfig = Field(default_factory=_default_size)
    response: SizeConfig = Field(default_factory=_default_size)


class PayloadSection(_Model):
    """Request and response sizes (bytes on the wire, headers included), for all requests or per
    route: with ``routes`` each request picks a route with its ``share`` and draws both sizes there."""

    request: SizeConfig = Field(default_factory=_default_size)
    response: SizeConfig = Field(default_factory=_default_size)
    routes: tuple[Route, ...] = Field(default=(), description="A route mix (shares sum to 1).")

    @model_validator(mode="after")
    def _routes(self) -> PayloadSection:
        if not self.routes:
            return self
        if {"request", "response"} & self.model_fields_set:
            raise ValueError("give sizes per route or for all requests, not both")
        total = sum(r.share for r in self.routes)
        if abs(total - 1) > 1e-9:
            raise ValueError(f"route shares must sum to 1 (got {total:g})")
        names = [r.name for r in self.routes]
        if len(set(names)) != len(names):
            raise ValueError("route names must be unique")
        return self


# =========================================================================== connections
class PerConnectionModel(_Model):
    """Each request opens a new connection with probability ``1 / requests_per_connection``.

    So the number of requests a connection carries is geometric with that mean, new connections form a
    Poisson stream of rate ``rate / requests_per_connection``, and each connection stays open for a
    lifetime drawn independently (fixed or exponential with mean ``lifetime_s``).
    """

    model: Literal["per_connection"]
    requests_per_connection: float = Field(
        default=1.0, ge=1, description="Mean requests carried by one connection (1 = no reuse)."
    )
    lifetime_s: float = Field(default=1.0, gt=0, description="Mean connection lifetime, seconds.")
    lifetime_distribution: Literal["fixed", "exponential"] = "exponential"
    start: Literal["steady_state", "empty"] = Field(
        default="steady_state",
        description="Connections open when the period starts: 'steady_state' (those the traffic "
        "before the start left open, as AWS's steady-state examples assume; they are not new "
        "connections of the period) or 'empty' (none).",
    )


class SessionsModel(_Model):
    """Client sessions on keep-alive connections.

    Sessions start as a stream whose rate is the traffic's rate / ``requests_per_session``; a session
    sends a random number of requests (mean ``requests_per_session``) separated by think times (mean
    ``think_time_s``). It opens a connection with its first request; the connection closes
    ``linger_s`` after the last request (the client ends it), or once it has been idle for
    ``idle_timeout_s`` (the load balancer ends it; the next request of the session then opens a new
    connection). New connections and concurrent connections follow from these times.
    """

    model: Literal["sessions"]
    requests_per_session: float = Field(
        default=10.0, ge=1, le=1e6, description="Mean requests per session (≥ 1)."
    )
    requests_distribution: Literal["geometric", "fixed"] = Field(
        default="geometric", description="geometric on 1, 2, ... with that mean, or fixed."
    )
    think_time_s: float = Field(
        default=5.0, gt=0, le=86_400, description="Mean time between a session's requests, s."
    )
    think_time_distribution: Literal["exponential", "fixed", "lognormal"] = "exponential"
    think_time_sigma: float = Field(
        default=1.0, gt=0, le=5, description="Standard deviation of ln(think time) (lognormal)."
    )
    idle_timeout_s: float = Field(
        default=60.0, ge=1, le=4000, description="Load balancer idle timeout, s (ALB: 60 default)."
    )
    linger_s: float = Field(
        default=0.0,
        ge=0,
        description="How long the client keeps the connection after its last request, s "
        "(≥ idle_timeout_s: it never closes it itself).",
    )

    @model_validator(mode="after")
    def _whole(self) -> SessionsModel:
        if self.requests_distribution == "fixed" and self.requests_per_session != int(
            self.requests_per_session
        ):
            raise ValueError("a fixed requests_per_session must be a whole number")
        return self


ConnectionConfig = Annotated[PerConnectionModel | SessionsModel, Field(discriminator="model")]
