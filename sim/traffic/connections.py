"""Connection models: which requests open a connection, and how long connections stay open.

From them the meters derive the ALB's new connections per second and concurrent (active) connections.

Two models:

* ``per_connection`` (:class:`PerConnection`): each request opens a connection with probability
  ``1/k`` and the connection lives an independent lifetime: the simple special case.
* ``sessions`` (:class:`Sessions`): clients send sessions of requests separated by think times on
  keep-alive connections closed by the client after its last request or by the load balancer's idle
  timeout. Sessions generate the requests too, so the ``sessions`` model is also an arrival process
  (:mod:`sim.traffic.sessions`) that hands the engine the exact connections of each batch; the
  :meth:`Sessions.open` fallback here is only used for requests that did not come from sessions.

Every model also gives the two numbers the ``aggregate`` fidelity needs:
``expected_new_per_request()`` (mean new connections per request) and ``expected_lifetime_s()``
(mean open time per connection); by Little's law the mean number open is
``rate × expected_new_per_request() × expected_lifetime_s()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from sim.traffic.distributions import Exponential, Fixed, Lognormal, Sampler
from sim.traffic.models import ConnectionConfig, PerConnectionModel, SessionsModel


@dataclass(frozen=True)
class Connections:
    """Connections opened by one batch of requests (times in seconds from the run's origin)."""

    new: NDArray[np.bool_]  # per request: does it open a connection?
    #: per connection: first those the requests open (in order), then any opened by no request
    #: (a replayed ALB connection log's attempts)
    start_s: NDArray[np.float64]
    end_s: NDArray[np.float64]
    #: more open time of connections opened before (``[start, end)`` intervals, not new ones):
    #: a replayed log learns how long a connection stays open only as its requests arrive
    carried_start_s: NDArray[np.float64] | None = None
    carried_end_s: NDArray[np.float64] | None = None


class ConnectionModel(Protocol):
    """Assigns requests to connections."""

    @property
    def mean_requests_per_connection(self) -> float: ...

    @property
    def mean_lifetime_s(self) -> float: ...

    def expected_new_per_request(self) -> float:
        """Mean number of connections a request opens (``1 / requests per connection``)."""
        ...

    def expected_lifetime_s(self) -> float:
        """Mean time a connection stays open, s (long-run average over connections)."""
        ...

    def open(self, rng: np.random.Generator, arrival_s: NDArray[np.float64]) -> Connections:
        """The connections opened by requests arriving at ``arrival_s``."""
        ...

    def open_time_double_integral(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        """``H(u) = ∫₀ᵘ ∫₀ᵛ S(x) dx dv`` of the lifetime's survival ``S`` (0 for ``u ≤ 0``)."""
        ...

    def remaining_open_s(self, x: float) -> float:
        """``∫ₓ^∞ S``: expected open time of a connection after its first ``x`` seconds."""
        ...


def exponential_h(u: NDArray[np.float64], mean: float) -> NDArray[np.float64]:
    """``H`` of an exponential lifetime: ``L u − L² (1 − e^(−u/L))``."""
    v = np.maximum(np.asarray(u, dtype=np.float64), 0.0)
    return np.asarray(mean * v + mean * mean * np.expm1(-v / mean), dtype=np.float64)


def fixed_h(u: NDArray[np.float64], life: float) -> NDArray[np.float64]:
    """``H`` of a fixed lifetime ``L``: ``u²/2`` up to ``L``, then ``L²/2 + L (u − L)``."""
    v = np.maximum(np.asarray(u, dtype=np.float64), 0.0)
    return np.asarray(np.where(v <= life, v * v / 2, life * life / 2 + life * (v - life)))


def bernoulli_successes(
    rng: np.random.Generator, n: int, p: float, *, chunk: int | None = None
) -> NDArray[np.bool_]:
    """``n`` independent Bernoulli(``p``) trials, drawn as the gaps between their successes: in a
    sequence of Bernoulli(p) trials the gaps are i.i.d. Geometric(p) (failures before a success,
    plus one), so the successes' positions are the running sums of geometric draws, minus one.
    The same distribution as ``rng.random(n) < p``, with about ``n·p`` draws instead of ``n``
    (a tenth for ten requests a connection). ``chunk``: geometric draws per round (default: the
    mean number of successes plus six standard deviations, so a second round is very rare)."""
    new = np.zeros(n, dtype=np.bool_)
    if n == 0 or p <= 0.0:
        return new
    if chunk is None:
        chunk = int(n * p + 6.0 * math.sqrt(n * p) + 16)
    pos = np.cumsum(rng.geometric(p, chunk)) - 1
    parts = [pos]
    while pos[-1] < n:  # the next success may still lie inside the n trials
        pos = np.cumsum(rng.geometric(p, chunk)) + pos[-1]
        parts.append(pos)
    at = np.concatenate(parts) if len(parts) > 1 else parts[0]
    new[at[at < n]] = True
    return new


@dataclass(frozen=True)
class PerConnection:
    """Each request opens a connection with probability 1/k; lifetimes are i.i.d.

    New connections are then a Bernoulli thinning of the request stream (Poisson with rate λ/k), and
    by Little's law the mean number open is ``λ / k · E[lifetime]``.
    """

    requests_per_connection: float
    lifetime_s: float
    exponential: bool
    steady_start: bool = False

    @property
    def mean_requests_per_connection(self) -> float:
        return self.requests_per_connection

    @property
    def mean_lifetime_s(self) -> float:
        return self.lifetime_s

    def expected_new_per_request(self) -> float:
        return 1.0 / self.requests_per_connection

    def expected_lifetime_s(self) -> float:
        return self.lifetime_s

    def open(self, rng: np.random.Generator, arrival_s: NDArray[np.float64]) -> Connections:
        n = arrival_s.size
        if self.requests_per_connection == 1:
            new = np.ones(n, dtype=np.bool_)
        else:
            new = bernoulli_successes(rng, n, 1.0 / self.requests_per_connection)
        start = arrival_s[new]
        if self.exponential:
            life = rng.exponential(self.lifetime_s, start.size)
        else:
            life = np.full(start.size, self.lifetime_s)
        return Connections(new=new, start_s=start, end_s=start + life)

    def open_time_double_integral(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.exponential:
            return exponential_h(u, self.lifetime_s)
        return fixed_h(u, self.lifetime_s)

    def remaining_open_s(self, x: float) -> float:
        if self.exponential:
            return self.lifetime_s * math.exp(-x / self.lifetime_s)
        return max(self.lifetime_s - x, 0.0)

    # ------------------------------------------------------------------ the period's start
    def warm_span_s(self) -> int:
        """Seconds before the start that can still have a connection open at the start (an
        exponential lifetime's tail beyond it holds less than 1e-9 of the connections)."""
        if not self.steady_start:
            return 0
        span = self.lifetime_s * (-math.log(1e-9) if self.exponential else 1.0)
        return max(1, math.ceil(span))

    def _opened_before(self, rate_before: NDArray[np.float64]) -> NDArray[np.float64]:
        """Expected connections opened in each second ``x`` before the start (``x = 0`` the last
        one) that are still open at the start: ``rate(x) / k · S(x + ½)``."""
        age = np.arange(rate_before.size, dtype=np.float64) + 0.5
        if self.exponential:
            alive = np.exp(-age / self.lifetime_s)
        else:
            alive = (age < self.lifetime_s).astype(np.float64)
        return np.asarray(rate_before / self.requests_per_connection * alive, dtype=np.float64)

    def open_at_start(
        self, rng: np.random.Generator, rate_before: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Remaining lifetimes (s) of the connections open when the period starts.

        The connections opened before the start form a thinned Poisson stream of rate
        ``rate / k``, each open for an independent lifetime, so those still open at the start are
        Poisson in number (mean ``Σ rate(x) / k · S(x)``, an M/G/∞ count) with independent opening
        times of density ∝ ``rate(x) S(x)``. An exponential lifetime's remainder is exponential with
        the same mean whatever the age; a fixed one's is ``T − age``."""
        if not self.steady_start or rate_before.size == 0:
            return np.zeros(0)
        weights = self._opened_before(rate_before)
        total = float(weights.sum())
        n = int(rng.poisson(total)) if total > 0 else 0
        if n == 0:
            return np.zeros(0)
        if self.exponential:
            return np.asarray(rng.exponential(self.lifetime_s, n), dtype=np.float64)
        ages = rng.choice(weights.size, size=n, p=weights / total) + rng.random(n)
        remaining = self.lifetime_s - ages
        return np.asarray(remaining[remaining > 0], dtype=np.float64)

    def expected_open_after_start(
        self, rate_before: NDArray[np.float64], seconds: int
    ) -> NDArray[np.float64]:
        """Expected connection-seconds in each of the first ``seconds`` seconds of the period held
        by the connections open at the start (what :meth:`open_at_start` draws, in expectation)."""
        if not self.steady_start or rate_before.size == 0 or seconds <= 0:
            return np.zeros(max(seconds, 0))
        weights = self._opened_before(rate_before)
        total = float(weights.sum())
        t = np.arange(seconds, dtype=np.float64)
        if self.exponential:  # ∫ over [t, t + 1) of total · e^(−u/L)
            life = self.lifetime_s
            return np.asarray(total * life * (np.exp(-t / life) - np.exp(-(t + 1) / life)))
        # fixed T: a connection of age a (density ∝ weights) stays open until T − a
        ages = np.arange(weights.size, dtype=np.float64) + 0.5
        remaining = np.maximum(self.lifetime_s - ages, 0.0)
        # open time inside [t, t + 1): clip(remaining − t, 0, 1), summed over ages
        out = np.zeros(seconds)
        for lo in range(0, seconds, 256):
            tt = t[lo : lo + 256, None]
            out[lo : lo + 256] = (np.clip(remaining[None, :] - tt, 0.0, 1.0) * weights).sum(1)
        return out

    @classmethod
    def from_config(cls, cfg: PerConnectionModel) -> PerConnection:
        return cls(
            cfg.requests_per_connection,
            cfg.lifetime_s,
            cfg.lifetime_distribution == "exponential",
            cfg.start == "steady_state",
        )


def think_time_sampler(cfg: SessionsModel) -> Sampler:
    """The think-time distribution of a sessions section."""
    if cfg.think_time_distribution == "fixed":
        return Fixed(cfg.think_time_s)
    if cfg.think_time_distribution == "lognormal":
        return Lognormal(cfg.think_time_s, cfg.think_time_sigma)
    return Exponential(cfg.think_time_s)


@dataclass(frozen=True)
class Sessions:
    """Keep-alive sessions: ``N`` requests (mean ``m``) separated by think times ``G``; a gap longer
    than the idle timeout ``T`` closes the connection ``T`` after the previous request and the next
    request opens a new one; the last connection closes ``min(L, T)`` after the last request.

    Per session: connections ``C = 1 + #{gaps > T}``, open time ``Σ_gaps min(G, T) + min(L, T)``, so

    * ``E[C] = 1 + (m − 1) P(G > T)`` and new connections per request ``= E[C] / m``;
    * mean lifetime ``= ((m − 1) E[min(G, T)] + min(L, T)) / E[C]`` (renewal-reward: the long-run
      average over connections).
    """

    cfg: SessionsModel

    @property
    def think(self) -> Sampler:
        return think_time_sampler(self.cfg)

    @property
    def p_gap_closes(self) -> float:
        """``P(G > T)``: the probability that a think time outlasts the idle timeout."""
        t = self.cfg.idle_timeout_s
        g = self.cfg.think_time_s
        kind = self.cfg.think_time_distribution
        if kind == "fixed":
            return 1.0 if g > t else 0.0
        if kind == "exponential":
            return math.exp(-t / g)
        s = self.cfg.think_time_sigma
        mu = math.log(g) - s * s / 2
        return float(ndtr((mu - math.log(t)) / s))

    @property
    def mean_gap_open_s(self) -> float:
        """``E[min(G, T)]``: connection time per think gap."""
        t = self.cfg.idle_timeout_s
        g = self.cfg.think_time_s
        kind = self.cfg.think_time_distribution
        if kind == "fixed":
            return min(g, t)
        if kind == "exponential":
            return g * -math.expm1(-t / g)
        s = self.cfg.think_time_sigma
        mu = math.log(g) - s * s / 2
        below = g * float(ndtr((math.log(t) - mu - s * s) / s))  # E[G; G ≤ T]
        return below + t * self.p_gap_closes

    @property
    def connections_per_session(self) -> float:
        return 1.0 + (self.cfg.requests_per_session - 1) * self.p_gap_closes

    @property
    def mean_requests_per_connection(self) -> float:
        return self.cfg.requests_per_session / self.connections_per_session

    @property
    def mean_lifetime_s(self) -> float:
        return self.expected_lifetime_s()

    def expected_new_per_request(self) -> float:
        return self.connections_per_session / self.cfg.requests_per_session

    def expected_lifetime_s(self) -> float:
        c = self.cfg
        open_s = (c.requests_per_session - 1) * self.mean_gap_open_s + min(
            c.linger_s, c.idle_timeout_s
        )
        return open_s / self.connections_per_session

    def open_time_double_integral(self, u: NDArray[np.float64]) -> NDArray[np.float64]:
        """Lifetimes taken as exponential with the sessions' mean lifetime (an approximation)."""
        return exponential_h(u, self.expected_lifetime_s())

    def remaining_open_s(self, x: float) -> float:
        mean = self.expected_lifetime_s()
        return mean * math.exp(-x / mean)

    def open(self, rng: np.random.Generator, arrival_s: NDArray[np.float64]) -> Connections:
        """Fallback for requests that did not come from sessions: each request opens a connection
        with probability ``expected_new_per_request()``, open for an exponential time with mean
        ``expected_lifetime_s()`` (right on average, by Little's law; not the session structure)."""
        new = rng.random(arrival_s.size) < self.expected_new_per_request()
        start = arrival_s[new]
        return Connections(
            new, start, start + rng.exponential(self.expected_lifetime_s(), start.size)
        )


CONNECTION_MODELS: dict[str, Callable[[Any], ConnectionModel]] = {
    "per_connection": PerConnection.from_config,
    "sessions": Sessions,
}


def build_connection_model(cfg: ConnectionConfig) -> ConnectionModel:
    """The connection model a ``[connections]`` section describes."""
    return CONNECTION_MODELS[cfg.model](cfg)
