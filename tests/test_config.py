from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import CONFIGS, SEED, scenario_with

from sim.config import Scenario, json_schema, load_scenario
from sim.errors import ConfigError


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return dict(exc.value.problems)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def test_seed_loads_with_the_reference_case() -> None:
    s = load_scenario(SEED)
    assert s.scenario.start == datetime(2026, 11, 1, tzinfo=UTC)
    assert s.scenario.duration_s == 30 * 86400
    assert s.traffic.model == "daily_cycle"
    assert s.traffic.requests_per_day == 5_000_000
    assert s.traffic.peak_requests_per_s == 120
    assert s.alb.rules_processed == 10
    assert s.options == (
        "alb",
        "apigw_rest",
        "apigw_http",
        "lambda_url",
        "cloudfront_lambda_url",
        "cloudfront_alb",
        "cloudfront_apigw_http",
        "cloudfront_apigw_rest",
    )


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_scenario_is_valid(path: Path) -> None:
    from sim.config import read_toml

    trace = read_toml(path)["traffic"].get("path")
    if trace is not None and not (path.parent / trace).exists():
        pytest.skip(f"{path.name} replays {trace}, which is not here (../shared/traces)")
    load_scenario(path)


def test_models_are_frozen() -> None:
    s = load_scenario(SEED)
    with pytest.raises(Exception, match="frozen"):
        s.scenario.seed = 3  # type: ignore[misc]


def test_set_overrides_parse_toml_values() -> None:
    s = load_scenario(
        SEED,
        [
            "traffic.requests_per_day=2e6",
            "alb.mutual_tls=true",
            "scenario.name=other",
            'apigateway.apis=["http"]',
            "lambda_url.enabled=false",
            "cloudfront.origins=[]",
        ],
    )
    assert s.traffic.requests_per_day == 2e6
    assert s.alb.mutual_tls is True
    assert s.scenario.name == "other"
    assert s.options == ("alb", "apigw_http")


def test_config_hash_changes_with_content_only() -> None:
    assert load_scenario(SEED).config_hash() == load_scenario(SEED).config_hash()
    assert (
        load_scenario(SEED).config_hash() != load_scenario(SEED, ["scenario.seed=1"]).config_hash()
    )


@pytest.mark.parametrize(
    ("override", "field", "expected"),
    [
        ("traffic.requests_per_day=-5", "traffic.requests_per_day", "greater than 0"),
        ("traffic.requests_per_day=0", "traffic.requests_per_day", "greater than 0"),
        ("traffic.peak_requests_per_s=30", "traffic.peak_requests_per_s", "at least the mean"),
        (
            "traffic.requests_per_day='lots'",
            "traffic.requests_per_day",
            "expected a number (got 'lots')",
        ),
        ("traffic.model='poisson'", "traffic", "unknown model 'poisson'"),
        ("scenario.region='mars-1'", "scenario.region", "unknown region 'mars-1'"),
        ("apigateway.apis=['soap']", "apigateway.apis.0", "'rest', 'http' or 'websocket'"),
        ("alb.availability_zones=1", "alb.availability_zones", "greater than or equal to 2"),
        ("engine.batch_s=7", "engine.batch_s", "divide 3600"),
        ("backend.memory_mb=64", "backend.memory_mb", "greater than or equal to 128"),
        (
            "connections.requests_per_connection=0.5",
            "connections.requests_per_connection",
            "greater than or equal to 1",
        ),
        ("scenario.duration_days=0", "scenario.duration_days", "greater than 0"),
    ],
)
def test_bad_values_name_the_field_and_the_expectation(
    override: str, field: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        load_scenario(SEED, [override])
    assert exc.value.path == str(SEED)
    found = problems(exc)
    assert field in found, found
    assert expected in found[field]


def test_misspelled_field_gets_a_suggestion(tmp_path: Path) -> None:
    text = SEED.read_text().replace("requests_per_day =", "request_per_day =")
    with pytest.raises(ConfigError) as exc:
        load_scenario(write(tmp_path, text))
    found = problems(exc)
    assert "did you mean 'requests_per_day'" in found["traffic.request_per_day"]
    assert found["traffic.requests_per_day"] == "missing required field"


def test_missing_section(tmp_path: Path) -> None:
    text = SEED.read_text().split("[traffic]")[0]
    with pytest.raises(ConfigError) as exc:
        load_scenario(write(tmp_path, text))
    assert problems(exc) == {"traffic": "missing required field"}


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "[scenario]\nname = = 'x'\n")
    with pytest.raises(ConfigError) as exc:
        load_scenario(p)
    assert str(p) in str(exc.value)
    assert "malformed TOML" in str(exc.value) and "line 2" in str(exc.value)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_scenario("no/such/file.toml")


def test_bad_override_syntax() -> None:
    with pytest.raises(ConfigError, match=r"expected section\.key=value"):
        load_scenario(SEED, ["traffic.requests_per_day"])
    with pytest.raises(ConfigError, match="is a value, not a table"):
        load_scenario(SEED, ["scenario.name.x=1"])


def test_naive_start_is_utc_and_offsets_convert() -> None:
    s = scenario_with("scenario.start=2026-11-01T02:00:00+02:00")
    assert s.scenario.start == datetime(2026, 11, 1, tzinfo=UTC)
    s = scenario_with("scenario.start=2026-11-01T00:00:00")
    assert s.scenario.start == datetime(2026, 11, 1, tzinfo=UTC)


def test_schema_is_json_and_lists_sections() -> None:
    schema = json_schema()
    json.dumps(schema)
    assert {"scenario", "traffic", "alb", "apigateway", "backend", "pricing"} <= set(
        schema["properties"]
    )
    assert Scenario.model_json_schema() == schema
