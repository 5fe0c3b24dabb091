"""Study files: validation, clear messages for bad input, and the shipped study."""

from __future__ import annotations

from pathlib import Path

import pytest
from study_helpers import INPUTS, SHIPPED, study_text, write_study

from sim.cli import main
from sim.errors import ConfigError
from sim.study import load_study
from sim.study.spec import apply_values


def problems_of(tmp_path: Path, **kwargs: object) -> str:
    path = write_study(tmp_path, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        load_study(path)
    return str(info.value)


def one_input(body: str, name: str = "x", field: str = "traffic.requests_per_day") -> str:
    return f'[[inputs]]\nname = "{name}"\nfield = "{field}"\n{body}\n'


def test_the_shipped_study_validates() -> None:
    study = load_study(SHIPPED)
    assert study.name == "seed-sensitivity"
    assert study.fidelity == "aggregate"
    assert study.spec.design.method == "sobol"
    assert study.runs == 128 * (len(study.inputs) + 2)
    assert set(study.labels) >= {
        "volume",
        "peak_factor",
        "request_bytes",
        "response_bytes",
        "requests_per_connection",
        "rules_processed",
        "lambda_duration_ms",
    }
    assert study.options == ("alb", "apigw_rest", "apigw_http") and study.reference == "alb"


def test_a_valid_small_study(tmp_path: Path) -> None:
    study = load_study(write_study(tmp_path))
    assert study.labels == ("volume", "peak_factor", "rules", "request_bytes")
    targets = {t.label: t for t in study.targets}
    assert targets["rules"].integer and not targets["volume"].integer
    data = apply_values(
        study.base_data,
        study.targets,
        {"volume": 864_000.0, "peak_factor": 2.5, "rules": 17.4, "request_bytes": 2048.6},
        "request",
    )
    assert data["traffic"]["requests_per_day"] == 864_000.0
    assert data["traffic"]["peak_requests_per_s"] == pytest.approx(2.5 * 10.0)  # × mean rate
    assert data["alb"]["rules_processed"] == 17 and data["payload"]["request"]["bytes"] == 2049
    assert data["engine"]["fidelity"] == "request"
    assert study.base_data["alb"]["rules_processed"] == 10  # the base is never mutated


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('distribution = "uniform"\nlow = 5\nhigh = 3', "low must be below high"),
        ('distribution = "uniform"\nlow = 5\nhigh = 5', "low must be below high"),
        ('distribution = "loguniform"\nlow = 0\nhigh = 3', "greater than 0"),
        ('distribution = "normal"\nmean = 5\nsd = -1', "sd: Input should be greater than 0"),
        ('distribution = "lognormal"\nmedian = 5\nsigma = -0.5', "sigma: Input should be greater"),
        ('distribution = "lognormal"\nsigma = 0.5', "give exactly one of median or mean"),
        ('distribution = "beta"\nalpha = 0\nbeta = 2', "alpha: Input should be greater than 0"),
        ('distribution = "beta"\nalpha = 2\nbeta = -1', "beta: Input should be greater than 0"),
        ('distribution = "triangular"\nlow = 1\nmode = 5\nhigh = 3', "mode must lie in"),
        ('distribution = "gamma"\nshape = 2', "unknown distribution 'gamma'"),
        ("low = 1\nhigh = 2", "missing required field 'distribution'"),
        ('distribution = "uniform"\nlow = 1\nhigh = 2\nhihg = 3', "unknown field; did you mean"),
        ('distribution = "choice"\nvalues = [1, 2]\nweights = [1]', "weights has 1 entries"),
        ('distribution = "choice"\nvalues = [1, "a"]', "must all be numbers, all strings"),
        (
            'distribution = "normal"\nmean = 0\nsd = 1\ntruncate = { low = 40, high = 50 }',
            "holds no probability",
        ),
        (
            'distribution = "uniform"\nlow = 1\nhigh = 2\ntruncate = { low = 5, high = 3 }',
            "low must be below high",
        ),
    ],
)
def test_impossible_distributions_are_refused(tmp_path: Path, body: str, expected: str) -> None:
    message = problems_of(tmp_path, inputs=one_input(body), runs=10, method="monte_carlo")
    assert expected in message
    assert "inputs[x]" in message  # names the input


def test_an_input_that_names_no_field_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    body = 'distribution = "uniform"\nlow = 1\nhigh = 2'
    message = problems_of(
        tmp_path, inputs=one_input(body, field="traffic.peak_request_per_s"), method="monte_carlo"
    )
    assert "inputs[x].field" in message and "names no field of the base scenario" in message
    assert "did you mean 'traffic.peak_requests_per_s'" in message


def test_an_input_that_names_a_table_or_text_is_refused(tmp_path: Path) -> None:
    body = 'distribution = "uniform"\nlow = 1\nhigh = 2'
    message = problems_of(tmp_path, inputs=one_input(body, field="payload.request"))
    assert "is a table, not a value" in message
    message = problems_of(tmp_path, inputs=one_input(body, field="backend.architecture"))
    assert 'use distribution = "choice"' in message


def test_relative_to_must_name_a_quantity(tmp_path: Path) -> None:
    body = 'distribution = "uniform"\nlow = 1\nhigh = 2\nrelative_to = "traffic.nope"'
    message = problems_of(tmp_path, inputs=one_input(body))
    assert "inputs[x].relative_to" in message and "traffic.mean_requests_per_s" in message


def test_sobol_needs_a_power_of_two_base_sample(tmp_path: Path) -> None:
    message = problems_of(tmp_path, method="sobol", runs=1000)
    assert "study.runs" in message and "power of two" in message
    assert "got 1000: try 768 (N = 128) or 1536 (N = 256)" in message  # 4 inputs: N × 6


def test_morris_needs_whole_trajectories(tmp_path: Path) -> None:
    message = problems_of(tmp_path, method="morris", runs=21)
    assert "r × (D + 1) = r × 5" in message


def test_correlations_are_checked(tmp_path: Path) -> None:
    corr = '[[correlations]]\ninputs = ["volume", "nope"]\nrank = 0.5\n'
    assert "'nope' is not an input" in problems_of(tmp_path, extra=corr)
    corr = '[[correlations]]\ninputs = ["volume", "rules"]\nrank = 0.5\n'
    assert "rank correlations apply to monte_carlo and latin_hypercube" in problems_of(
        tmp_path, extra=corr, method="sobol", runs=48
    )
    corr = (
        '[[correlations]]\ninputs = ["volume", "rules"]\nrank = 0.95\n'
        '[[correlations]]\ninputs = ["volume", "request_bytes"]\nrank = 0.95\n'
        '[[correlations]]\ninputs = ["rules", "request_bytes"]\nrank = -0.95\n'
    )
    assert "not positive definite" in problems_of(tmp_path, extra=corr)
    corr = '[[correlations]]\ninputs = ["volume", "rules"]\nrank = 1.5\n'
    assert "rank" in problems_of(tmp_path, extra=corr)


def test_options_outcomes_and_base_are_checked(tmp_path: Path) -> None:
    assert "'apigw_websocket' not priced" in problems_of(
        tmp_path, extra_study='options = ["alb", "apigw_websocket"]\n'
    )
    assert "study.reference" in problems_of(
        tmp_path, extra_study='options = ["alb", "apigw_http"]\nreference = "apigw_rest"\n'
    )
    assert "study.outcomes" in problems_of(tmp_path, extra_study='outcomes = ["costs"]\n')
    message = problems_of(tmp_path, base_set=("traffic.requests_per_day=-5",))
    assert "base.traffic.requests_per_day" in message and "base scenario" in message
    missing = tmp_path / "nobase.toml"
    missing.write_text(study_text().replace("[base]", "[unused]"), encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown field"):
        load_study(missing)


def test_run_count_override(tmp_path: Path) -> None:
    path = write_study(tmp_path, method="sobol", runs=48)
    assert load_study(path, runs=96).runs == 96
    with pytest.raises(ConfigError, match="power of two"):
        load_study(path, runs=50)


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return int(info.value.code or 0)


def test_bad_study_files_exit_with_status_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_study(tmp_path, inputs=INPUTS.replace("low = 1.2", "low = 4.5"))
    out = tmp_path / "out"
    assert run_cli("study", str(bad), "--out", str(out)) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "low must be below high" in err and "Traceback" not in err
    assert not out.exists()
    assert run_cli("study", str(tmp_path / "missing.toml"), "--out", str(out)) == 2
    assert "file not found" in capsys.readouterr().err
    assert not out.exists()


def test_a_sampled_scenario_that_is_invalid_names_the_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an absolute peak below the sampled daily mean makes some runs' scenarios invalid
    inputs = INPUTS.replace('relative_to = "traffic.mean_requests_per_s"\n', "")
    path = write_study(tmp_path, inputs=inputs, runs=12)
    out = tmp_path / "out"
    assert run_cli("study", str(path), "--out", str(out)) == 2
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "the sampled inputs (volume=" in err and "peak_factor=" in err
    assert "traffic.peak_requests_per_s" in err and "must be at least the mean rate" in err
    assert not out.exists()
