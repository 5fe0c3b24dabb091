"""Limits before allocation: what a run, sweep or study will need, against what this machine has.

Every estimate is made from the validated inputs alone, before anything is simulated or allocated:

* memory at ``request`` fidelity: the busiest batch's expected requests (from the arrival process's
  expected rate, with the burst process's highest level) × the bytes the engine holds per request
  (:data:`BYTES_PER_REQUEST`, measured with ``tracemalloc`` on the engine, see the README), plus the
  cache's per-key arrays and the hourly meters; ``aggregate`` holds one day of per-second arrays;
  ``reference`` one SimPy process per request of a batch;
* disk: the files the command writes;
* time: expected requests (or simulated seconds) over measured throughputs; an estimate, printed for
  long work, never a reason to refuse.

Available memory is the smaller of ``MemAvailable`` (``/proc/meminfo``) and what the cgroup allows
(``memory.max − memory.current``, or cgroup v1's ``limit_in_bytes − usage_in_bytes``). Work that
does not fit is refused with a :class:`ResourceError` saying what it would need, what the machine has
and which setting to change; ``--no-resource-check`` skips the check.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from sim.errors import SimError

if TYPE_CHECKING:
    from sim.config import Scenario

#: Bytes the ``request`` engine holds per request of a batch, by feature (tracemalloc peaks of one
#: hour of 3.2 M requests: 77 B plain, 122 B with sessions, 151 B with the REST cache); the
#: estimate uses the largest feature that applies, plus a margin for the per-path arrays.
BYTES_PER_REQUEST = {"plain": 96, "sessions": 144, "cache": 176}
#: Bytes per request of a batch at ``reference`` fidelity (a SimPy process and its event each).
BYTES_PER_REFERENCE_REQUEST = 2_000
#: Bytes per cache key (Zipf probabilities, CDF, guide table, expiry times).
BYTES_PER_CACHE_KEY = 64
#: Bytes per request a session holds before it is due (time, opens flag, connection end).
BYTES_PER_PENDING_REQUEST = 48
#: Fixed overhead of a Python process with the package imported (numpy, pyarrow, pydantic, SimPy).
BASE_PROCESS_BYTES = 250 * 2**20
#: Measured throughputs for the time estimate (``sim run`` of 3 seed days on this 2-core machine:
#: 15 M requests in 1.7 s, 3.0 s with sessions, 6.8 s with the REST cache).
REQUESTS_PER_S = {"request": 1e7, "sessions": 5e6, "reference": 3e4}
CACHED_REQUESTS_PER_S = 3e6  # the cache's lookups, on top
#: CloudFront's pooled connections to an ALB behind it (sim.engine.edge): forwarded requests a
#: second, on top (measured: the 30-day seed's 150 M requests take 85 s more with cloudfront_alb).
EDGE_POOL_REQUESTS_PER_S = 1.75e6
#: Requests a second of the reference fidelity's pool: a SimPy process per forwarded request.
EDGE_POOL_REFERENCE_PER_S = 1.5e4
#: Bytes per forwarded request of the pool's event arrays (two events, sorted copies).
BYTES_PER_POOLED_REQUEST = 160
SIMULATED_SECONDS_PER_S = 1.5e7  # aggregate fidelity
#: ``request`` fidelity on several worker processes (sim.engine.workers): each worker's own memory
#: (Python, numpy and the package, measured RSS), the batches it holds at once (the one it meters
#: and the next one it draws), the start of the workers, and the share of the work that spreads
#: over them (the counts and the ordered state stay in time order).
WORKER_PROCESS_BYTES = 120 * 2**20
BATCHES_PER_WORKER = 2
WORKERS_START_S = 0.6
PARALLEL_SHARE = 0.9
#: The largest ordered state (caches) that travels with every batch between workers; a run whose
#: caches are larger runs in one process (the same numbers), and Python's LRU entry's size.
STATE_TRAVEL_MAX_BYTES = 64 * 2**20
BYTES_PER_LRU_ENTRY = 100
#: ``--workers`` by default: this machine's CPUs for a run expected to take longer than this at one
#: worker, else one (starting workers costs more than they save on a short run).
AUTO_WORKERS_MIN_S = 2.0
#: Largest quantity a meter counter holds (int64), with a margin.
COUNTER_LIMIT = 2**62
#: Print a time estimate for work expected to take longer than this.
LONG_WORK_S = 10.0
#: Fraction of the available memory a command may plan to use.
MEMORY_SHARE = 0.8


class ResourceError(SimError):
    """Work that cannot fit this machine (refused before anything is allocated)."""


@dataclass
class Estimate:
    """What a piece of work needs: memory, disk and time, with how each was reckoned."""

    what: str
    memory_bytes: float
    disk_bytes: float
    seconds: float
    details: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    #: A problem independent of the machine (a counter would overflow): always refused.
    impossible: str | None = None
    #: The input file and the field that drives the size (named in a refusal).
    source: str = ""
    field: str = ""

    @property
    def where(self) -> str:
        """``FILE: FIELD: `` for messages."""
        return "".join(f"{part}: " for part in (self.source, self.field) if part)

    def describe(self) -> str:
        """One line: memory, disk and time."""
        return (
            f"estimate for this {self.what}: memory {format_bytes(self.memory_bytes)}, disk "
            f"{format_bytes(self.disk_bytes)}, time {format_duration(self.seconds)}"
        )


def format_bytes(n: float) -> str:
    """``1.2 GB`` (binary units, as memory is sold)."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} B"


def format_duration(seconds: float) -> str:
    """``about 3 min``."""
    if not math.isfinite(seconds):
        return "unbounded"
    if seconds < 1:
        return "under a second"
    for unit, size in (("days", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"about {seconds / size:,.1f} {unit}"
    return f"about {seconds:.0f} s"


# =========================================================================== the machine
def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    if not text or text == "max":
        return None
    try:
        return int(text.split()[0])
    except ValueError:
        return None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_available() -> int | None:
    # cgroup v2: the process's own group, else the root of the mount
    group = ""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                group = line[3:].strip().lstrip("/")
    except OSError:
        pass
    for base in ([f"/sys/fs/cgroup/{group}"] if group else []) + ["/sys/fs/cgroup"]:
        limit = _read_int(f"{base}/memory.max")
        if limit is not None:
            usage = _read_int(f"{base}/memory.current") or 0
            return max(0, limit - usage)
    limit = _read_int("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    if limit is not None and limit < 2**60:
        usage = _read_int("/sys/fs/cgroup/memory/memory.usage_in_bytes") or 0
        return max(0, limit - usage)
    return None


def available_memory_bytes() -> int:
    """The smaller of ``MemAvailable`` and what the cgroup still allows (bytes)."""
    found = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
    if not found:  # pragma: no cover - not Linux
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    return min(found)


def free_disk_bytes(path: str | Path) -> int:
    """Free bytes on the filesystem that holds ``path`` (or its nearest existing ancestor)."""
    p = Path(path).expanduser().absolute()
    while not p.exists() and p.parent != p:
        p = p.parent
    return shutil.disk_usage(p).free


def check(estimate: Estimate, out: str | Path | None, *, enabled: bool = True) -> None:
    """Refuse ``estimate`` if it cannot fit this machine's memory or the disk at ``out``.

    Raises
    ------
    ResourceError
        With what the work would need, what the machine has and which setting to change.
    """
    if estimate.impossible is not None:
        raise ResourceError(estimate.where + estimate.impossible)
    if not enabled:
        return
    hints = "; ".join(estimate.hints) if estimate.hints else "reduce the work"
    detail = f" ({'; '.join(estimate.details)})" if estimate.details else ""
    memory = available_memory_bytes()
    if estimate.memory_bytes > MEMORY_SHARE * memory:
        raise ResourceError(
            f"{estimate.where}this {estimate.what} would need about "
            f"{format_bytes(estimate.memory_bytes)} of memory"
            f"{detail}; this machine has {format_bytes(memory)} available. Refused before "
            f"anything was allocated: {hints} (or pass --no-resource-check)"
        )
    if out is not None:
        disk = free_disk_bytes(out)
        if estimate.disk_bytes > disk:
            raise ResourceError(
                f"{estimate.where}this {estimate.what} would write about "
                f"{format_bytes(estimate.disk_bytes)} to "
                f"{out}, which has {format_bytes(disk)} free. Refused before anything was "
                "written: free some space or choose another --out (or pass --no-resource-check)"
            )


# =========================================================================== runs
@dataclass(frozen=True)
class Load:
    """The expected traffic of a run, as the estimate needs it."""

    batch: float  # expected requests in the busiest batch
    hour: float  # in the busiest hour
    total: float  # in the period
    peak_rate: float  # the highest expected rate, requests/s

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.batch, self.hour, self.total, self.peak_rate))


#: Seconds of exact (one per second) rate evaluation spent on scheduled peaks, at most.
PEAK_WINDOW_SECONDS = 5_000_000


def _peak_windows(scenario: Scenario, horizon: Any) -> list[tuple[int, int]]:
    """``[a, b)`` engine seconds of each occurrence of a scheduled peak within the period (short
    peaks would fall between the strided samples of a long period)."""
    factors = getattr(scenario.traffic, "factors", ())
    out: list[tuple[int, int]] = []
    for f in factors:
        if f.model != "scheduled_peak":
            continue
        span = f.ramp_up_s + f.plateau_s + f.decay_s
        first = f.start.timestamp() - horizon.origin_epoch_s
        every = f.every_days * 86_400 if f.every_days else None
        k0 = 0 if every is None else max(0, math.floor((horizon.start_s - first - span) / every))
        k = k0
        while True:
            a = first + (k * every if every else 0.0)
            if a >= horizon.end_s or len(out) > 100_000:
                break
            b = a + span
            if b > horizon.start_s:
                out.append((max(horizon.start_s, math.floor(a)), min(horizon.end_s, math.ceil(b))))
            if every is None:
                break
            k += 1
    return out


def _expected_load(scenario: Scenario) -> Load:
    """Expected requests per batch, hour and period, from the arrival process's expected rate.

    Evaluated second by second (every ``stride``-th second for long periods, each sample standing
    for ``stride`` seconds), one day at a time, per hour; every second of each scheduled peak is
    evaluated exactly on top (so a short peak is never missed). A batch holds at most its hour's
    requests and at most ``batch_s`` seconds at the highest rate seen.
    """
    from sim.engine.core import Horizon
    from sim.traffic import arrivals_for

    horizon = Horizon.of(scenario)
    arrivals = arrivals_for(scenario)
    batch_s = scenario.engine.batch_s
    span = horizon.end_s - horizon.start_s
    stride = max(1, math.ceil(span / 2_000_000))
    per_hour = np.zeros(horizon.n_hours)
    peak_rate = 0.0
    chunk = 86_400 - 86_400 % stride

    def add(seconds: NDArray[np.int64], weight: float) -> bool:
        nonlocal peak_rate
        mids = (horizon.origin_epoch_s + seconds + 0.5).astype(np.float64)
        with np.errstate(all="ignore"):
            rate = np.asarray(arrivals.expected_per_s(mids), dtype=np.float64)
        if not np.all(np.isfinite(rate)):
            return False
        peak_rate = max(peak_rate, float(rate.max(initial=0.0)))
        per_hour[:] += np.bincount(seconds // 3600, rate * weight, minlength=horizon.n_hours)
        return True

    for a in range(horizon.start_s, horizon.end_s, chunk):
        if not add(np.arange(a, min(a + chunk, horizon.end_s), stride, dtype=np.int64), stride):
            return Load(math.inf, math.inf, math.inf, math.inf)
    budget = PEAK_WINDOW_SECONDS
    for a, b in _peak_windows(scenario, horizon):
        if b - a > budget:
            break
        budget -= b - a
        if not add(np.arange(a, b, dtype=np.int64), 1.0):
            return Load(math.inf, math.inf, math.inf, math.inf)
    hour = float(per_hour.max(initial=0.0))
    batch = hour if batch_s >= 3600 else min(hour, peak_rate * batch_s)
    return Load(batch, hour, float(per_hour.sum()), peak_rate)


def _burst_factor(scenario: Scenario) -> float:
    """How far above its expected rate the burst process and flash crowds can hold a batch: an
    MMPP's top level, ON/OFF sources all on (bounded by five standard deviations), a Hawkes
    process's cluster size (at most 10), flash crowds at their 99th-percentile amplitude over the
    part of a batch they last."""
    traffic = scenario.traffic
    factor = 1.0
    burst = getattr(traffic, "burst", None)
    if burst is not None and burst.model == "mmpp":
        levels = np.asarray(burst.levels, dtype=float)
        factor = float(levels.max() / levels.mean()) if burst.normalize else float(levels.max())
    elif burst is not None and burst.model == "on_off":
        total = burst.on_mean_s + burst.off_mean_s
        p = burst.on_mean_s / total if total > 0 and math.isfinite(total) else 0.0
        factor = (
            float(burst.sources)
            if p <= 0
            else float(min(1 / p, 1 + 5 * math.sqrt((1 - p) / (burst.sources * p))))
        )
    elif burst is not None:  # hawkes: clusters of 1 / (1 − n) requests on average
        factor = float(min(10.0, 1.0 / max(1e-9, 1.0 - burst.branching_ratio)))
    for f in getattr(traffic, "factors", ()):
        if f.model == "flash_crowds":
            quantile = f.amplitude_min * 0.01 ** (-1.0 / f.amplitude_shape)
            amplitude = min(quantile, f.amplitude_max) if f.amplitude_max else quantile
            cover = min(1.0, f.span_s / scenario.engine.batch_s)
            factor *= (1 + (amplitude - 1) * cover) / f.mean_factor
    return max(1.0, factor)


def _pending_session_requests(scenario: Scenario, load: Load) -> float:
    """Requests the sessions model holds before they are due: every live session's future
    requests (drawn when the session starts), ``rate × mean session length`` of them."""
    if scenario.connections.model != "sessions":
        return 0.0
    cfg = scenario.connections
    session_s = (cfg.requests_per_session - 1) * cfg.think_time_s
    horizon_s = scenario.scenario.duration_s + min(86_400, 20 * session_s + 60)
    return load.peak_rate * min(session_s, horizon_s)


def volume_field(scenario: Scenario) -> str:
    """The scenario field that sets the volume of its traffic."""
    traffic = scenario.traffic
    if traffic.model in ("replay", "access_log"):
        return "traffic.path"
    if getattr(traffic, "requests_per_day", None) is not None:
        return "traffic.requests_per_day"
    return "traffic.requests_per_s"


#: Seconds of engine overhead per batch (SimPy events, per-batch numpy calls).
SECONDS_PER_BATCH = 1e-4
#: Seconds per simulated second of an API Gateway throttle that binds in aggregate fidelity
#: (its per-second bucket is a Python loop there).
SECONDS_PER_THROTTLED_SECOND = 1.5e-6


def estimate_run(
    scenario: Scenario,
    *,
    plots: bool = True,
    fidelity: str | None = None,
    source: str = "",
    workers: int = 1,
) -> Estimate:
    """Memory, disk and time of one run of ``scenario`` (from its validated inputs) on ``workers``
    processes (``request`` fidelity only); ``source`` (the scenario file) is named in a refusal."""
    from sim.engine.core import Horizon

    fidelity = fidelity or scenario.engine.fidelity
    horizon = Horizon.of(scenario)
    load = _expected_load(scenario)
    burst = _burst_factor(scenario)
    batch = load.batch * burst
    est = Estimate("run", BASE_PROCESS_BYTES, 0.0, 0.0, source=source, field=volume_field(scenario))
    gw = scenario.apigateway
    cache = gw.cache.enabled
    if cache:
        est.memory_bytes += gw.cache.keys.count * BYTES_PER_CACHE_KEY
    cf = scenario.cloudfront
    from sim.engine.paths import cloudfront_origins

    edge_cache = cf.cache.enabled and bool(cloudfront_origins(scenario))
    if edge_cache and fidelity != "aggregate":
        keys = cf.cache.keys.count * cf.edge_locations
        est.memory_bytes += keys * BYTES_PER_CACHE_KEY
        est.details.append(
            f"CloudFront's caches: {cf.cache.keys.count:,} keys × {cf.edge_locations} edge "
            f"locations × {BYTES_PER_CACHE_KEY} B"
        )
    n_hours = horizon.n_hours
    n_batches = math.ceil((horizon.end_s - horizon.start_s) / scenario.engine.batch_s) + 1
    est.memory_bytes += n_hours * 200 * 8 * 4  # hourly meters, costs and summary
    est.disk_bytes = n_hours * 200 * 8 + (600_000 if plots else 0)
    if scenario.traffic.model == "access_log":  # streamed: nothing grows with the lines
        from sim.logs.source import replay_memory_bytes

        logs_bytes, why = replay_memory_bytes(
            scenario.traffic.source_options(), load.peak_rate, scenario.traffic.idle_timeout_s
        )
        est.memory_bytes += logs_bytes
        est.details.append(why)
    pending = _pending_session_requests(scenario, load)
    if pending:
        est.memory_bytes += pending * BYTES_PER_PENDING_REQUEST
        est.details.append(
            f"{pending:,.0f} requests of live sessions held before they are due × "
            f"{BYTES_PER_PENDING_REQUEST} B"
        )
    if fidelity == "request":
        feature = (
            "cache"
            if cache
            else "sessions"
            if scenario.connections.model == "sessions"
            else "plain"
        )
        per_request = BYTES_PER_REQUEST[feature]
        est.memory_bytes += batch * per_request
        est.details.append(
            f"busiest batch of {scenario.engine.batch_s:,} s: {batch:,.0f} requests expected × "
            f"{per_request} B"
        )
        rate = REQUESTS_PER_S["sessions" if feature == "sessions" else "request"]
        est.seconds = load.total / rate + n_batches * SECONDS_PER_BATCH
        if cache:
            est.seconds += load.total * gw.cache.cacheable_share / CACHED_REQUESTS_PER_S
        if "alb" in cloudfront_origins(scenario):
            est.seconds += load.total / EDGE_POOL_REQUESTS_PER_S
            est.memory_bytes += batch * BYTES_PER_POOLED_REQUEST
            est.details.append(
                f"CloudFront's pooled connections to the ALB: {load.total:,.0f} requests at "
                f"{EDGE_POOL_REQUESTS_PER_S:,.0f}/s"
            )
        est.hints = [
            "--fidelity aggregate (per-second counts, no per-request arrays)",
            f"a smaller engine.batch_s (now {scenario.engine.batch_s} s)",
            "a lower volume or a shorter period",
        ]
        if workers > 1:
            _on_workers(est, workers, batch * per_request)
    elif fidelity == "reference":
        est.memory_bytes += batch * BYTES_PER_REFERENCE_REQUEST
        est.details.append(
            f"busiest batch: {batch:,.0f} requests × {BYTES_PER_REFERENCE_REQUEST} B per SimPy "
            "process"
        )
        est.seconds = load.total / REQUESTS_PER_S["reference"] + n_batches * SECONDS_PER_BATCH
        if "alb" in cloudfront_origins(scenario):
            est.seconds += load.total / EDGE_POOL_REFERENCE_PER_S
        est.hints = [
            "--fidelity request",
            f"a smaller engine.batch_s (now {scenario.engine.batch_s} s)",
        ]
    else:
        est.memory_bytes += 86_400 * 8 * 40
        span = horizon.end_s - horizon.start_s
        est.seconds = span / SIMULATED_SECONDS_PER_S
        if gw.throttle.enabled and load.peak_rate * burst > gw.throttle.rate_per_s:
            est.seconds += span * SECONDS_PER_THROTTLED_SECOND
        est.hints = ["a shorter period"]
    _check_counts(est, scenario, load, burst)
    return est


def _on_workers(est: Estimate, workers: int, batch_bytes: float) -> None:
    """A ``request``-fidelity estimate on ``workers`` processes: each holds its own batches (the
    run's process holds none), and the work spreads over the CPUs there are."""
    cpus = usable_cpus()
    est.memory_bytes += workers * (WORKER_PROCESS_BYTES + (BATCHES_PER_WORKER - 1) * batch_bytes)
    est.details.append(
        f"{workers} worker processes, each {format_bytes(WORKER_PROCESS_BYTES)} and "
        f"{BATCHES_PER_WORKER} batches of {format_bytes(batch_bytes)} at most"
    )
    speedup = 1.0 / ((1 - PARALLEL_SHARE) + PARALLEL_SHARE / min(workers, cpus))
    est.seconds = est.seconds / speedup + WORKERS_START_S
    est.hints.insert(0, f"fewer --workers (now {workers})")


def usable_cpus() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_workers(scenario: Scenario, requested: int | None, fidelity: str | None = None) -> int:
    """The worker processes a run uses: ``requested`` (a whole number ≥ 1, else a
    :class:`~sim.errors.ConfigError`), or by default this machine's CPUs for a ``request``-fidelity
    run expected to take more than :data:`AUTO_WORKERS_MIN_S` on one, else 1; 1 for a run whose
    caches are too large to travel with every batch (:func:`ordered_state_bytes`). The numbers do
    not depend on it (:mod:`sim.engine.workers`); other fidelities always run in one process."""
    from sim.errors import ConfigError

    if requested is not None:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise ConfigError(
                "--workers", [("", f"expected a whole number ≥ 1, got {requested!r}")]
            )
        if requested > 1 and ordered_state_bytes(scenario) > STATE_TRAVEL_MAX_BYTES:
            return 1
        return requested
    if (fidelity or scenario.engine.fidelity) != "request":
        return 1
    if ordered_state_bytes(scenario) > STATE_TRAVEL_MAX_BYTES:
        return 1
    one = estimate_run(scenario, plots=False, fidelity="request").seconds
    return usable_cpus() if one > AUTO_WORKERS_MIN_S else 1


def ordered_state_bytes(scenario: Scenario) -> float:
    """Bytes of the state that travels between ``request`` fidelity's workers with every batch
    (:class:`sim.engine.core.OrderedState`): the REST caches (an expiry per key where every key
    fits, an LRU's entries otherwise) and CloudFront's edge caches; the rest is small."""
    from sim.engine.gateway import cache_capacity_entries
    from sim.engine.paths import cloudfront_origins
    from sim.traffic.payloads import build_payload

    total = 0.0
    cache = scenario.apigateway.cache
    if cache.enabled:
        mean = build_payload(scenario.payload).response.mean
        keys = cache.keys.count
        fits = False
        for size in cache.sizes_gb:
            capacity = cache_capacity_entries(size, mean)
            if keys <= capacity:
                fits = True
            else:
                total += capacity * BYTES_PER_LRU_ENTRY
        total += keys * 8 if fits else 0
    cf = scenario.cloudfront
    if cf.cache.enabled and cloudfront_origins(scenario):
        total += cf.edge_locations * cf.cache.keys.count * 8
    return total


def _check_counts(est: Estimate, scenario: Scenario, load: Load, burst: float) -> None:
    """Refuse traffic the meters cannot count (int64 with a margin), naming what drives it."""
    largest = _message_bytes(scenario)
    if not load.finite:
        est.field = "traffic"
        est.impossible = (
            "the traffic model gives no finite expected rate (an extreme factor or burst "
            "setting); check traffic's numbers"
        )
        return
    if not math.isfinite(largest) or largest > COUNTER_LIMIT / 1e3:
        est.field = "payload"
        est.impossible = (
            f"messages of {largest:.3g} bytes on average are more than the meters can count; give "
            "sizes a real message can have"
        )
        return
    for what, n in (("the busiest hour", load.hour * burst), ("the period", load.total * burst)):
        if n * 2 * largest > COUNTER_LIMIT:
            est.impossible = (
                f"{what} would carry about {n:.3g} requests of {largest:,.0f} bytes on average: "
                "more than the meters can count (2^62 bytes); lower the volume"
            )
            return


def _message_bytes(scenario: Scenario) -> float:
    """The mean request + response size of one request, bytes."""
    from sim.traffic.payloads import build_payload

    payload = build_payload(scenario.payload)
    return float(payload.request.mean + payload.response.mean)


# =========================================================================== sweeps and studies
#: Memory held per validated scenario of a sweep's grid (pydantic models).
BYTES_PER_SCENARIO = 64 * 2**10


def estimate_sweep(
    points: Sequence[Scenario], steps: int, *, fidelity: str | None = None, source: str = ""
) -> Estimate:
    """A sweep of ``steps`` runs, run one after another, every point's scenario held; ``points``
    are scenarios along the grid (its ends): the worst of them sets the memory, their mean the time."""
    ones = [estimate_run(p, plots=False, fidelity=fidelity, source=source) for p in points]
    worst = max(ones, key=lambda e: e.memory_bytes)
    options = max(1, max(len(p.options) for p in points))
    impossible = next((e for e in ones if e.impossible is not None), None)
    return Estimate(
        "sweep",
        worst.memory_bytes + steps * (BYTES_PER_SCENARIO + options * 9 * 8 * 3),
        steps * options * 9 * 8 + 200_000,
        steps * max(sum(e.seconds for e in ones) / len(ones), 0.05),
        details=[
            f"{steps:,} points, each up to {format_bytes(worst.memory_bytes)} while it runs",
            *worst.details,
        ],
        hints=["fewer STEPS in --vary", "a narrower range", *worst.hints],
        impossible=None if impossible is None else impossible.impossible,
        source=source,
        field="--vary" if impossible is None else impossible.field,
    )


def estimate_study(
    samples: Scenario | Sequence[Scenario],
    runs: int,
    inputs: int,
    workers: int,
    columns: int,
    fidelity: str,
    *,
    method: str = "monte_carlo",
    bootstrap: int = 1000,
    block: int = 1,
    source: str = "",
) -> Estimate:
    """A study of ``runs`` runs of ``inputs`` uncertain inputs on ``workers`` processes; ``samples``
    are runs' scenarios (the base, or the design's runs at each input's extremes): the largest sets
    each worker's memory, their mean the time of a run.

    The analysis of a Sobol' design draws ``bootstrap`` resamples of its ``N = runs / block`` base
    points at once (SALib: an ``N × bootstrap`` index matrix and the outcomes gathered by it)."""
    points = [samples] if not isinstance(samples, Sequence) else list(samples)
    ones = [estimate_run(p, plots=False, fidelity=fidelity, source=source) for p in points]
    one = max(ones, key=lambda e: e.memory_bytes)
    mean_s = sum(e.seconds for e in ones) / len(ones)
    impossible = next((e for e in ones if e.impossible is not None), None)
    design = runs * (2 * inputs + 1) * 8 * 3  # table, unit scores, quantiles
    results = runs * max(1, columns) * 8 * 4  # chunks, concatenation, sorted copy, analysis
    sobol = runs / max(1, block) * bootstrap * 8 * 4
    analysis = sobol if method == "sobol" else runs * 8 * 8
    memory = BASE_PROCESS_BYTES + design + results + max(analysis, workers * one.memory_bytes)
    seconds = runs * max(mean_s, 0.02) / max(1, workers)
    return Estimate(
        "study",
        memory,
        design / 3 + results / 2 + 2_000_000,
        seconds,
        details=[
            f"{runs:,} runs of {inputs} inputs: design {format_bytes(design)}, results "
            f"{format_bytes(results)}, analysis {format_bytes(analysis)}; {workers} worker(s) of "
            f"{format_bytes(one.memory_bytes)}"
        ],
        hints=[
            "fewer runs (--runs or study.runs)",
            "fewer --workers",
            *(["fewer design.bootstrap resamples"] if method == "sobol" else []),
            *one.hints[:1],
        ],
        impossible=None if impossible is None else impossible.impossible,
        source=source,
        field="study.runs" if impossible is None else f"inputs (a run's {impossible.field})",
    )


def describe_lines(estimate: Estimate) -> list[str]:
    """The estimate and how it was reckoned, for ``--dry-run``."""
    lines = [estimate.describe()]
    lines += [f"  {d}" for d in estimate.details]
    memory = available_memory_bytes()
    lines.append(f"  this machine: {format_bytes(memory)} of memory available")
    return lines
