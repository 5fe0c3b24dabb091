"""A study's fast paths give the reference paths' numbers: each run's scenario (only the sections its
inputs set validated again) equals the whole scenario's validation, and the study's bill (charges
priced for the 30-day projection only, every run of a chunk at once) equals ``sim.api.bill_for``'s
projection, run by run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from study_helpers import INPUTS, SHIPPED, SMALL_BASE, write_study

from sim.api import bill_for
from sim.engine import simulate
from sim.pricing.costs import projected_costs, projected_costs_many
from sim.study import load_study
from sim.study.outcomes import (
    RunError,
    RunScenarios,
    _price_book,
    outcome_row,
    run_rows,
    scenario_for_run,
)
from sim.study.runner import design_values, make_design, run_spec

#: Inputs that reach every kind of price: tiers with a free allowance (Lambda), another
#: architecture's price (a choice), the account's other usage (tiers that start further up), and
#: the ALB's rules and LCU dimensions.
PRICED_INPUTS = (
    INPUTS
    + """
[[inputs]]
name = "memory"
field = "backend.memory_mb"
distribution = "uniform"
low = 128
high = 4096

[[inputs]]
name = "arch"
field = "backend.architecture"
distribution = "choice"
values = ["x86_64", "arm64"]

[[inputs]]
name = "other_lambda_gb_s"
field = "account.other_monthly_usage.lambda_gb_seconds"
distribution = "loguniform"
low = 1e3
high = 1e8
"""
)
#: The small base, with some Lambda GB-seconds used elsewhere in the account (an input varies it).
PRICED_BASE = (*SMALL_BASE, "account.other_monthly_usage.lambda_gb_seconds=1e4")


def _close(a: Any, b: Any, path: str = "") -> None:
    """Every number of ``a`` equals ``b``'s to 1e-9 (relative, or absolute near 0)."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (
            math.isnan(a) and math.isnan(b)
        ), (
            path,
            a,
            b,
        )
    else:
        assert a == b, path


def test_run_scenarios_equal_the_whole_validation_on_every_run_of_the_shipped_design() -> None:
    study = load_study(SHIPPED)
    spec = run_spec(study)
    values = design_values(make_design(study), study.labels)
    fast = RunScenarios(spec)
    assert not fast.whole and fast.sections == (
        "alb",
        "backend",
        "connections",
        "payload",
        "traffic",
    )
    for i in range(len(values)):
        got = fast(i, values[i])
        want = scenario_for_run(spec, i, values[i], full=False)
        assert got == want, i
        assert got.model_dump(mode="json") == want.model_dump(mode="json"), i
        assert got.config_hash() == want.config_hash()


def test_an_invalid_sampled_value_gets_the_reference_message(tmp_path: Path) -> None:
    # an absolute peak below the sampled daily mean makes some runs' scenarios invalid
    inputs = INPUTS.replace('relative_to = "traffic.mean_requests_per_s"\n', "")
    study = load_study(write_study(tmp_path, inputs=inputs, runs=12))
    spec = run_spec(study)
    values = design_values(make_design(study), study.labels)
    fast = RunScenarios(spec)
    refused = 0
    for i in range(len(values)):
        try:
            want = scenario_for_run(spec, i, values[i], full=False)
        except RunError as exc:
            with pytest.raises(RunError) as info:
                fast(i, values[i])
            assert str(info.value) == str(exc)
            refused += 1
        else:
            assert fast(i, values[i]) == want
    assert 0 < refused < len(values)  # both kinds of run were compared


def test_the_study_bill_is_bill_for_projection_run_by_run(tmp_path: Path) -> None:
    study = load_study(
        write_study(
            tmp_path,
            runs=40,
            inputs=PRICED_INPUTS,
            base_set=PRICED_BASE,
            extra_study='cost_basis = "total"\n',
        )
    )
    spec = run_spec(study)
    values = design_values(make_design(study), study.labels)
    runs = list(range(len(values)))
    rows = run_rows(spec, runs, [values[i] for i in runs])
    fast = RunScenarios(spec)
    archs = set()
    for i, row in zip(runs, rows, strict=True):
        scenario = fast(i, values[i])
        archs.add(scenario.backend.architecture)
        facts = simulate(scenario, seed=spec.root_seed, run_index=i)
        billed = bill_for(facts, scenario, _price_book(scenario))
        # the reference: sim.api.bill_for's projection, through the same row builder
        from sim.summary import alb_drivers

        drivers = alb_drivers(billed.meters)
        meters = {
            "dominant_lcu_dimension": drivers["dominant_lcu_dimension"],
            "peak_lcu": drivers["peak_lcu"],
        }
        _close(row, outcome_row(spec, i, billed.projection, meters), f"run {i}")
    assert archs == {"x86_64", "arm64"}


def test_pricing_many_runs_at_once_gives_each_runs_projection(tmp_path: Path) -> None:
    """``projected_costs_many`` against ``projected_costs`` on the charges of many runs (the same
    arithmetic element by element, so the numbers are equal, not merely close)."""
    from sim.billing import charges_for, period_of
    from sim.pricing.book import region_prices

    study = load_study(write_study(tmp_path, runs=24, inputs=PRICED_INPUTS, base_set=PRICED_BASE))
    spec = run_spec(study)
    values = design_values(make_design(study), study.labels)
    fast = RunScenarios(spec)
    bills = []
    for i in range(len(values)):
        scenario = fast(i, values[i])
        facts = simulate(scenario, seed=spec.root_seed, run_index=i)
        derived, _, charges = charges_for(
            facts, scenario, region_prices(_price_book(scenario), scenario)
        )
        usage = dict(scenario.account.other_monthly_usage)
        bills.append((charges, period_of(scenario, derived), usage))
    many = projected_costs_many(bills)
    for (charges, period, usage), got in zip(bills, many, strict=True):
        assert got == projected_costs(charges, period, usage)
    assert projected_costs_many([]) == []


# =========================================================================== the analysis
@pytest.mark.parametrize("n", [30, 31, 257, 1000])
def test_rbd_fast_gives_salibs_numbers(n: int) -> None:
    """The vectorised RBD-FAST against SALib's (one periodogram per resample): the same bootstrap
    samples (the same seed and stream), so the indices and half-widths agree to rounding."""
    from SALib.analyze import rbd_fast as salib_rbd

    from sim.study.analysis import rbd_fast

    rng = np.random.default_rng(n)
    x = rng.random((n, 4))
    ys = [
        np.sin(6 * x[:, 0]) + x[:, 1] ** 2 + 0.1 * rng.random(n),
        1e6 + 50 * x[:, 2] + x[:, 3] * x[:, 0],  # far from zero: the sums keep their precision
    ]
    m = max(1, min(10, (n - 1) // 4))
    problem = {"num_vars": 4, "names": list("abcd"), "bounds": [[0.0, 1.0]] * 4}
    s1_all, conf_all = rbd_fast(x, np.vstack(ys), m, 150, 0.9, 77)
    for i, y in enumerate(ys):
        want = salib_rbd.analyze(problem, x, y, M=m, num_resamples=150, conf_level=0.9, seed=77)
        s1, conf = rbd_fast(x, y, m, 150, 0.9, 77)
        np.testing.assert_allclose(s1, want["S1"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(conf, want["S1_conf"], rtol=1e-9, atol=1e-12)
        # several outcomes at once: each gets the same samples, so the same numbers (to the
        # rounding of a matrix product of another shape)
        np.testing.assert_allclose(s1_all[i], s1, rtol=0, atol=1e-12)
        np.testing.assert_allclose(conf_all[i], conf, rtol=1e-12, atol=1e-15)


def test_spearman_is_scipys() -> None:
    from scipy import stats

    from sim.study.analysis import spearman

    rng = np.random.default_rng(3)
    x = rng.random((200, 3))
    x[:, 2] = np.round(x[:, 2] * 5)  # ties: average ranks
    ys = np.vstack([x[:, 0] + rng.normal(0, 0.1, 200), -np.round(x[:, 2] + x[:, 1])])
    got = spearman(x, ys)
    for i in range(2):
        for j in range(3):
            want = stats.spearmanr(x[:, j], ys[i]).statistic
            assert got[i, j] == pytest.approx(want, abs=1e-12)
    np.testing.assert_allclose(spearman(x, ys[0]), got[0], rtol=0, atol=1e-15)


@pytest.mark.parametrize(("k", "second_order", "n"), [(3, False, 256), (4, True, 64)])
def test_saltelli_gives_salibs_numbers(k: int, second_order: bool, n: int) -> None:
    """The vectorised Sobol' estimators against SALib's ``sobol.analyze``: the same resamples of
    the base points (the same seed and stream) and the same arithmetic, batch by batch."""
    from SALib.analyze import sobol

    from sim.study import analysis
    from sim.study.analysis import saltelli
    from sim.study.design import DESIGNS, DesignSettings

    settings = DesignSettings("sobol", second_order=second_order)
    unit = DESIGNS["sobol"].unit(n * (2 * k + 2 if second_order else k + 2), k, settings, seed=3)
    y = np.sin(3 * unit[:, 0]) + unit[:, 1] ** 2 + unit[:, 2] * unit[:, -1] + 1e3
    problem = {"num_vars": k, "names": [f"x{j}" for j in range(k)], "bounds": [[0.0, 1.0]] * k}
    want = sobol.analyze(
        problem, y, calc_second_order=second_order, num_resamples=300, conf_level=0.9, seed=5
    )
    got = saltelli(y, k, second_order, 300, 0.9, 5)
    for key, value in got.items():
        np.testing.assert_allclose(value, want[key], rtol=1e-9, atol=1e-12, err_msg=key)
    # in small batches of resamples: the same numbers (each resample is its own column)
    small = analysis.SOBOL_BATCH_BYTES
    try:
        analysis.SOBOL_BATCH_BYTES = n * 8 * 7 * (2 * k + 2)  # 7 resamples a batch
        batched = saltelli(y, k, second_order, 300, 0.9, 5)
    finally:
        analysis.SOBOL_BATCH_BYTES = small
    for key, value in got.items():
        np.testing.assert_allclose(batched[key], value, rtol=1e-12, atol=1e-15, err_msg=key)
