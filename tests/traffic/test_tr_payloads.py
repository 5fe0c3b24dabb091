"""Payload sizes: moments and billed units of every sampler (exact where the math is), route mixes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from sim._model import tuples
from sim.traffic.distributions import (
    Empirical,
    Exponential,
    Fixed,
    Lognormal,
    Mixture,
    build_sampler,
)
from sim.traffic.models import EmpiricalSize, PayloadSection
from sim.traffic.payloads import build_payload

HTTP_UNIT = 524_288.0


def lognormal_units_by_quadrature(mean: float, sigma: float, inc: float) -> float:
    """E[ceil(X/inc)] = Σ_k k P((k−1)·inc < X ≤ k·inc), summed until the tail is negligible."""
    d = stats.lognorm(s=sigma, scale=math.exp(math.log(mean) - sigma**2 / 2))
    k = np.arange(1, 200_000, dtype=np.float64)
    p = d.cdf(k * inc) - d.cdf((k - 1) * inc)
    return float((k * p).sum() + 200_000 * d.sf((200_000 - 1) * inc))


@pytest.mark.parametrize(
    ("mean", "sigma", "inc"),
    [(40.0, 0.5, 1.0), (300_000.0, 1.5, HTTP_UNIT), (2_000_000.0, 0.3, HTTP_UNIT), (7.0, 1.0, 0.5)],
)
def test_lognormal_expected_units_is_the_exact_sum(mean: float, sigma: float, inc: float) -> None:
    got = Lognormal(mean, sigma).expected_units(inc)
    assert got == pytest.approx(lognormal_units_by_quadrature(mean, sigma, inc), rel=1e-9)


def test_lognormal_variance() -> None:
    d = Lognormal(1000.0, 0.7)
    mu = math.log(1000) - 0.7**2 / 2
    second, _ = integrate.quad(
        lambda y: math.exp(2 * y) * stats.norm.pdf(y, mu, 0.7), mu - 12 * 0.7, mu + 12 * 0.7
    )
    assert d.variance == pytest.approx(second - 1000.0**2, rel=1e-9)


def test_fixed_and_exponential_units() -> None:
    assert Fixed(1024).expected_units(HTTP_UNIT) == 1
    assert Fixed(HTTP_UNIT + 1).expected_units(HTTP_UNIT) == 2
    assert Fixed(3.0).variance == 0
    # E[ceil(X/inc)] for X ~ Exp(mean m) is geometric: P(ceil = k) = q^(k−1)(1−q), q = e^(−inc/m)
    e = Exponential(2.0)
    q = math.exp(-0.5 / 2.0)
    assert e.expected_units(0.5) == pytest.approx(1 / (1 - q), rel=1e-12)
    assert e.variance == 4.0


def test_empirical_moments_and_units_are_exact() -> None:
    # bins [0,100) p=1/6, [100,1000) p=2/6, [1000, 600000) p=3/6, uniform within each bin
    d = Empirical((0.0, 100.0, 1000.0, 600_000.0), (1.0, 2.0, 3.0))
    p = np.array([1, 2, 3]) / 6
    lo, hi = np.array([0, 100, 1000.0]), np.array([100, 1000, 600_000.0])
    mean = float((p * (lo + hi) / 2).sum())
    second = float((p * (lo**2 + lo * hi + hi**2) / 3).sum())
    assert d.mean == pytest.approx(mean, rel=1e-12)
    assert d.variance == pytest.approx(second - mean**2, rel=1e-12)
    # units of 512 KB: only the last bin crosses 524288: P(X > 524288) = 0.5 × (600000 − 524288)/599000
    p_two = 0.5 * (600_000 - HTTP_UNIT) / 599_000
    assert d.expected_units(HTTP_UNIT) == pytest.approx(1 + p_two, rel=1e-12)
    # 1-unit increments: E[ceil(U)] for U uniform on [lo, hi) with integer ends is the mean + 1/2
    assert d.expected_units(1.0) == pytest.approx(mean + 0.5, rel=1e-12)


def test_empirical_point_masses_and_sampling() -> None:
    d = build_sampler(
        EmpiricalSize(model="empirical", values_bytes=(512, 2048, 700_000), weights=(5, 3, 2))
    )
    assert d.mean == pytest.approx(0.5 * 512 + 0.3 * 2048 + 0.2 * 700_000)
    assert d.expected_units(HTTP_UNIT) == pytest.approx(0.8 + 0.2 * 2)
    x = d(np.random.default_rng(3), 100_000)
    values, counts = np.unique(x, return_counts=True)
    assert values.tolist() == [512, 2048, 700_000]
    # counts are multinomial(100000, .5, .3, .2): within 5 standard deviations
    assert np.all(
        np.abs(counts - 100_000 * np.array([0.5, 0.3, 0.2])) < 5 * np.sqrt(100_000 * 0.25)
    )


def test_empirical_histogram_draws_follow_the_bins() -> None:
    d = Empirical((0.0, 100.0, 1000.0, 600_000.0), (1.0, 2.0, 3.0))
    x = d(np.random.default_rng(4), 300_000)
    counts = np.histogram(x, bins=[0, 100, 1000, 600_000])[0]
    assert stats.chisquare(counts, 300_000 * np.array([1, 2, 3]) / 6).pvalue > 1e-4
    inside = x[(x >= 100) & (x < 1000)]
    assert stats.kstest(inside, stats.uniform(100, 900).cdf).pvalue > 1e-4


def test_mixture_moments() -> None:
    m = Mixture((Fixed(10.0), Lognormal(5000.0, 1.0)), (0.3, 0.7))
    assert m.mean == pytest.approx(0.3 * 10 + 0.7 * 5000)
    second = 0.3 * 100 + 0.7 * (Lognormal(5000.0, 1.0).variance + 5000.0**2)
    assert m.variance == pytest.approx(second - m.mean**2)
    assert m.expected_units(HTTP_UNIT) == pytest.approx(
        0.3 + 0.7 * Lognormal(5000.0, 1.0).expected_units(HTTP_UNIT)
    )


def routes() -> PayloadSection:
    return PayloadSection.model_validate(
        tuples(
            {
                "routes": [
                    {
                        "name": "GET /items",
                        "share": 0.8,
                        "request": {"model": "fixed", "bytes": 500},
                        "response": {"model": "fixed", "bytes": 20_000},
                    },
                    {
                        "name": "POST /upload",
                        "share": 0.2,
                        "request": {"model": "lognormal", "mean_bytes": 2_000_000, "sigma": 0.5},
                        "response": {"model": "fixed", "bytes": 300},
                    },
                ]
            }
        )
    )


def test_route_mix_draws_both_sizes_from_one_route() -> None:
    payload = build_payload(routes())
    req, resp = payload.draw(np.random.default_rng(5), 200_000)
    small = req == 500
    # every small request got the GET response, every upload the POST response
    assert (resp[small] == 20_000).all() and (resp[~small] == 300).all()
    # the share of GETs is Binomial(n, 0.8): within 5 sd
    assert abs(small.mean() - 0.8) < 5 * math.sqrt(0.16 / 200_000)
    # Cov[req, resp] = Σ p μ ν − μ_req μ_resp (negative: uploads get small responses)
    expected_cov = (
        0.8 * 500 * 20_000 + 0.2 * 2e6 * 300 - payload.request.mean * payload.response.mean
    )
    assert payload.covariance_bytes2 == pytest.approx(expected_cov)
    assert payload.covariance_bytes2 < 0
    assert payload.request.mean == pytest.approx(0.8 * 500 + 0.2 * 2e6)


def test_without_routes_the_draws_are_the_old_ones() -> None:
    """Same generator, same sizes as drawing request then response (golden runs rely on it)."""
    from sim.traffic.distributions import sizes_bytes

    section = PayloadSection.model_validate(
        tuples({"response": {"model": "lognormal", "mean_bytes": 4096, "sigma": 0.7}})
    )
    req, resp = build_payload(section).draw(np.random.default_rng(9), 1000)
    rng = np.random.default_rng(9)
    assert (req == sizes_bytes(build_sampler(section.request), rng, 1000)).all()
    assert (resp == sizes_bytes(build_sampler(section.response), rng, 1000)).all()


def test_survival_is_exact() -> None:
    logn = Lognormal(1000.0, 0.7)
    ref = stats.lognorm(s=0.7, scale=math.exp(math.log(1000) - 0.7**2 / 2))
    assert logn.survival(2500.0) == pytest.approx(ref.sf(2500.0), rel=1e-12)
    assert Exponential(3.0).survival(6.0) == pytest.approx(math.exp(-2))
    assert Fixed(10.0).survival(10.0) == 0 and Fixed(10.0).survival(9.9) == 1
    hist = Empirical((0.0, 100.0, 1000.0), (1.0, 3.0))
    assert hist.survival(550.0) == pytest.approx(0.75 * 0.5)
    points = Empirical.of_values((512, 2048), (1, 3))
    assert points.survival(512) == pytest.approx(0.75) and points.survival(511) == 1
    mix = Mixture((hist, Fixed(5000.0)), (0.5, 0.5))
    assert mix.survival(550.0) == pytest.approx(0.5 * 0.375 + 0.5)
