"""``per_connection``'s new connections: Bernoulli(1/k) trials drawn as geometric gaps
(:func:`sim.traffic.connections.bernoulli_successes`), the same distribution as one uniform draw a
request. Tolerances are five standard deviations of the statistic under that distribution (fixed
seeds: a failure means the distribution moved, not bad luck, at odds below 1 in 1.7 million)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.traffic.connections import bernoulli_successes


@pytest.mark.parametrize(("p", "chunk"), [(0.1, None), (0.5, None), (0.02, 3)])
def test_successes_are_bernoulli_trials(p: float, chunk: int | None) -> None:
    """The count is Binomial(n, p); the gaps between successes are Geometric(p) (a gap of 1 with
    probability p, of 2 with p(1 − p)); the first and second halves are independent alike. A
    chunk of 3 draws per round runs the loop that draws more rounds."""
    n = 200_000
    new = bernoulli_successes(np.random.default_rng(5), n, p, chunk=chunk)
    assert new.dtype == np.bool_ and new.size == n
    count = int(new.sum())
    sd = math.sqrt(n * p * (1 - p))
    assert abs(count - n * p) < 5 * sd
    halves = new[: n // 2].sum(), new[n // 2 :].sum()
    assert abs(int(halves[0]) - int(halves[1])) < 5 * math.sqrt(2 * (n // 2) * p * (1 - p))
    gaps = np.diff(np.flatnonzero(new))
    m = gaps.size
    for g, q in ((1, p), (2, p * (1 - p))):
        share = float(np.mean(gaps == g))
        assert abs(share - q) < 5 * math.sqrt(q * (1 - q) / m), g


def test_edges() -> None:
    rng = np.random.default_rng(1)
    assert bernoulli_successes(rng, 0, 0.3).size == 0
    assert bernoulli_successes(rng, 50, 1.0).all()
    assert not bernoulli_successes(rng, 50, 0.0).any()
    a = bernoulli_successes(np.random.default_rng(9), 1000, 0.2)
    b = bernoulli_successes(np.random.default_rng(9), 1000, 0.2)
    assert np.array_equal(a, b)
