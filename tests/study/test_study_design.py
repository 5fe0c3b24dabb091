"""Designs and distributions: strata, correlations, quantile functions, seeds; SALib's Sobol'
indices of the Ishigami function against their analytic values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from study_helpers import write_study

from sim._model import tuples
from sim.study import load_study, make_design
from sim.study.analysis import AnalysisSettings, morris_indices, sobol_indices
from sim.study.design import (
    DESIGNS,
    DesignSettings,
    derived_seed,
    rank_correlate,
)
from sim.study.distributions import (
    BetaInput,
    ChoiceInput,
    LognormalInput,
    NormalInput,
    TriangularInput,
    UniformInput,
)

U = np.linspace(0.0005, 0.9995, 1000)


def test_latin_hypercube_covers_each_inputs_strata_exactly_once(tmp_path: Path) -> None:
    runs = 50
    study = load_study(write_study(tmp_path, runs=runs, method="latin_hypercube"))
    design = make_design(study)
    for label in study.labels:
        u = design.column(f"u:{label}").to_numpy()
        strata = np.floor(u * runs).astype(int)
        assert sorted(strata) == list(range(runs)), label
        # and the values are the input's quantiles of those scores
        spec = next(i for i in study.inputs if i.label == label)
        values = design.column(label).to_numpy()
        expected = spec.ppf(u)
        if next(t for t in study.targets if t.label == label).integer:  # e.g. bytes: rounded
            expected = np.rint(expected)
        np.testing.assert_allclose(values, expected)


def test_rank_correlation_keeps_strata_and_reaches_the_target(tmp_path: Path) -> None:
    runs = 400
    corr = '[[correlations]]\ninputs = ["volume", "request_bytes"]\nrank = 0.7\n'
    study = load_study(write_study(tmp_path, runs=runs, extra=corr))
    design = make_design(study)
    u = {label: design.column(f"u:{label}").to_numpy() for label in study.labels}
    for label in study.labels:
        assert sorted(np.floor(u[label] * runs).astype(int)) == list(range(runs))
    rho = stats.spearmanr(u["volume"], u["request_bytes"]).statistic
    assert rho == pytest.approx(0.7, abs=0.05)
    assert abs(stats.spearmanr(u["volume"], u["rules"]).statistic) < 0.1


def test_iman_conover_permutes_columns_only() -> None:
    rng = np.random.default_rng(1)
    unit = rng.random((300, 3))
    target = np.array([[1.0, -0.5, 0.0], [-0.5, 1.0, 0.3], [0.0, 0.3, 1.0]])
    out = rank_correlate(unit, target)
    for j in range(3):
        np.testing.assert_array_equal(np.sort(out[:, j]), np.sort(unit[:, j]))
    measured = stats.spearmanr(out).statistic
    np.testing.assert_allclose(measured, target, atol=0.06)
    np.testing.assert_array_equal(rank_correlate(unit, target), out)  # deterministic


def test_designs_are_reproducible_and_seeded_by_the_root_seed_alone(tmp_path: Path) -> None:
    a = make_design(load_study(write_study(tmp_path, runs=20, method="monte_carlo")))
    b = make_design(load_study(write_study(tmp_path, runs=20, method="monte_carlo")))
    c = make_design(load_study(write_study(tmp_path, runs=20, method="monte_carlo", seed=8)))
    assert a.equals(b) and not a.equals(c)
    assert derived_seed(0, 1) != 0 and derived_seed(0, 1) != derived_seed(0, 2)


def test_sobol_and_morris_design_shapes() -> None:
    s = DESIGNS["sobol"].unit(64 * 5, 3, DesignSettings("sobol"), seed=3)
    assert s.shape == (320, 3) and s.min() >= 0 and s.max() <= 1
    s2 = DESIGNS["sobol"].unit(8 * 8, 3, DesignSettings("sobol", second_order=True), seed=3)
    assert s2.shape == (64, 3)
    m = DESIGNS["morris"].unit(10 * 4, 3, DesignSettings("morris", levels=4), seed=3)
    assert m.shape == (40, 3)
    assert set(np.round(m.ravel() * 3, 9)) <= {0.0, 1.0, 2.0, 3.0}
    q = DESIGNS["morris"].quantiles(m, DesignSettings("morris", levels=4))
    assert set(np.round(q.ravel(), 9)) <= {0.125, 0.375, 0.625, 0.875}


def test_quantile_functions() -> None:
    uni = UniformInput(distribution="uniform", field="a", low=2, high=6)
    np.testing.assert_allclose(uni.ppf(np.array([0.0, 0.25, 1.0])), [2, 3, 6], atol=1e-9)
    logn = LognormalInput(distribution="lognormal", field="a", median=100, sigma=0.5)
    assert float(np.median(logn.ppf(U))) == pytest.approx(100, rel=1e-3)
    by_mean = LognormalInput(distribution="lognormal", field="a", mean=100, sigma=0.5)
    assert by_mean.frozen().mean() == pytest.approx(100)
    tri = TriangularInput(distribution="triangular", field="a", low=1, mode=2, high=4)
    assert tri.ppf(U).min() >= 1 and tri.ppf(U).max() <= 4
    beta = BetaInput(distribution="beta", field="a", alpha=2, beta=5, low=10, high=20)
    assert beta.frozen().mean() == pytest.approx(10 + 10 * 2 / 7)
    truncated = NormalInput.model_validate(
        tuples(
            {"distribution": "normal", "field": "a", "mean": 0, "sd": 1, "truncate": {"low": 0.5}}
        )
    )
    values = truncated.ppf(U)
    assert values.min() >= 0.5 and np.isfinite(values).all()
    assert float(np.mean(values)) == pytest.approx(stats.truncnorm(0.5, np.inf).mean(), rel=2e-2)
    choice = ChoiceInput(
        distribution="choice", field="a", values=("x86_64", "arm64"), weights=(3, 1)
    )
    picked = choice.ppf(U)
    assert list(picked[:740]) == ["x86_64"] * 740 and picked[-1] == "arm64"
    assert ChoiceInput(distribution="choice", field="a", values=(1, 2)).ppf(U).dtype == np.int64


def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> tuple[list[float], list[float]]:
    """Analytic first-order and total Sobol' indices of the Ishigami function."""
    pi = math.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return [v1 / v, v2 / v, 0.0], [(v1 + v13) / v, v2 / v, v13 / v]


def test_sobol_indices_of_the_ishigami_function() -> None:
    settings = DesignSettings("sobol")
    labels = ("x1", "x2", "x3")
    unit = DESIGNS["sobol"].unit(1024 * 5, 3, settings, seed=derived_seed(42, 1))
    x = np.column_stack(
        [
            UniformInput(distribution="uniform", field=f"x{j}", low=-math.pi, high=math.pi).ppf(
                unit[:, j]
            )
            for j in range(3)
        ]
    )
    rows = sobol_indices(
        AnalysisSettings(labels, "sobol", False, 4, 200, 0.95, seed=derived_seed(42, 2)),
        unit,
        ishigami(x),
        "y",
    )
    got = {(r["input"], r["index"]): r for r in rows}
    s1, st = ishigami_indices()
    for j, name in enumerate(labels):
        assert got[(name, "S1")]["value"] == pytest.approx(s1[j], abs=0.05), name
        assert got[(name, "ST")]["value"] == pytest.approx(st[j], abs=0.05), name
        assert got[(name, "ST")]["conf_low"] < got[(name, "ST")]["conf_high"]


def test_morris_screening_finds_the_inert_input() -> None:
    settings = DesignSettings("morris", levels=4)
    unit = DESIGNS["morris"].unit(40 * 4, 3, settings, seed=5)
    q = DESIGNS["morris"].quantiles(unit, settings)
    y = 10 * q[:, 0] + 2 * q[:, 1] ** 2 + 0 * q[:, 2]
    rows = morris_indices(
        AnalysisSettings(("a", "b", "c"), "morris", False, 4, 100, 0.95, seed=9), unit, y, "y"
    )
    mu_star = {r["input"]: r["value"] for r in rows if r["index"] == "mu_star"}
    assert mu_star["a"] > mu_star["b"] > mu_star["c"] == pytest.approx(0.0, abs=1e-12)
