"""Payload models: request and response sizes of each request, for all requests or per route.

:func:`build_payload` turns a ``[payload]`` section into a :class:`Payload`:

* without routes, the request and response sizes are independent draws of their two distributions;
* with a route mix, each request picks a route with probability ``share`` and draws both of its sizes
  from that route's distributions (so a large-response route is also that route's request size).

``Payload.request`` and ``Payload.response`` are the marginal samplers (a :class:`Mixture` over
routes), with the moments the ``aggregate`` fidelity needs; ``covariance_bytes2`` is the covariance
of a request's request and response sizes (non-zero only through the route mix), so
``Var[request + response] = Var[req] + Var[resp] + 2 Cov``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sim.traffic.distributions import Mixture, Sampler, build_sampler, choose, sizes_bytes
from sim.traffic.models import PayloadSection

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Payload:
    """Request and response sizes per request (bytes, headers included, whole, at least 1)."""

    requests: tuple[Sampler, ...]  # one per route (a single one without routes)
    responses: tuple[Sampler, ...]
    shares: tuple[float, ...]
    names: tuple[str, ...] = ()

    @property
    def routed(self) -> bool:
        return len(self.shares) > 1

    @property
    def request(self) -> Sampler:
        """Marginal request size."""
        return self.requests[0] if not self.routed else Mixture(self.requests, self.shares)

    @property
    def response(self) -> Sampler:
        """Marginal response size."""
        return self.responses[0] if not self.routed else Mixture(self.responses, self.shares)

    @property
    def covariance_bytes2(self) -> float:
        """``Cov[request, response]`` of one request (bytes²): ``Σ p_r μ_r ν_r − μ ν``."""
        if not self.routed:
            return 0.0
        joint = sum(
            p * q.mean * r.mean
            for p, q, r in zip(self.shares, self.requests, self.responses, strict=True)
        )
        return float(joint - self.request.mean * self.response.mean)

    def draw(self, rng: np.random.Generator, n: int) -> tuple[IntArray, IntArray]:
        """Request and response sizes of ``n`` requests."""
        if not self.routed:
            req = sizes_bytes(self.requests[0], rng, n)
            return req, sizes_bytes(self.responses[0], rng, n)
        route = choose(rng, np.asarray(self.shares) / sum(self.shares), n)
        req = np.empty(n, dtype=np.int64)
        resp = np.empty(n, dtype=np.int64)
        for i, (q, r) in enumerate(zip(self.requests, self.responses, strict=True)):
            idx = np.flatnonzero(route == i)
            req[idx] = sizes_bytes(q, rng, idx.size)
            resp[idx] = sizes_bytes(r, rng, idx.size)
        return req, resp


def build_payload(cfg: PayloadSection) -> Payload:
    """The payload model of a ``[payload]`` section."""
    if not cfg.routes:
        return Payload((build_sampler(cfg.request),), (build_sampler(cfg.response),), (1.0,))
    return Payload(
        tuple(build_sampler(r.request) for r in cfg.routes),
        tuple(build_sampler(r.response) for r in cfg.routes),
        tuple(r.share for r in cfg.routes),
        tuple(r.name for r in cfg.routes),
    )
