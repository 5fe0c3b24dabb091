"""``scenario.duration``: duration strings and ISO 8601 durations, exactly one of ``duration`` and
``duration_days``, one length in the model (its dump validates again), and the same run either way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CONFIGS, SEED, scenario_with

from sim.config import (
    apply_overrides,
    json_schema,
    load_scenario,
    read_toml,
    scenario_from_dict,
    scenario_from_json,
)
from sim.errors import ConfigError
from sim.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_MINUTE, parse_duration_s

D, H, M = SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_MINUTE


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("730h", 730 * H),
        ("30d", 30 * D),
        ("90m", 90 * M),
        ("3600s", 3600),
        ("1d12h", D + 12 * H),
        ("1d 12h", D + 12 * H),
        ("2d3h4m5s", 2 * D + 3 * H + 4 * M + 5),
        ("1.5h", 3 * H // 2),
        ("PT730H", 730 * H),
        ("P30D", 30 * D),
        ("P1DT12H", D + 12 * H),
        ("PT90M", 90 * M),
        ("PT1M", M),  # after T, M is minutes
        ("PT3600S", 3600),
        ("P2W", 14 * D),
        ("p1dt12h", D + 12 * H),
        ("  30d ", 30 * D),
    ],
)
def test_durations_parse_to_seconds(text: str, seconds: int) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P1M", "years or months, which have no fixed length"),
        ("P1Y", "years or months, which have no fixed length"),
        ("P1Y2M3DT4H", "years or months"),
        ("30", "has no unit"),
        ("1M", "expected a duration such as"),  # minutes are m; months are refused
        ("12h1d", "expected a duration such as"),  # largest unit first
        ("1d1d", "expected a duration such as"),
        ("-1d", "expected a duration such as"),
        ("1e3s", "expected a duration such as"),
        ("", "expected a duration such as"),
        ("P", "expected a duration such as"),
        ("PT", "expected a duration such as"),
        ("P1DT", "expected a duration such as"),
        ("0s", "no time at all"),
        ("PT0.5S", "whole number of seconds"),
        ("x" * 100, "characters long"),
    ],
)
def test_bad_durations_say_what_was_expected(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        parse_duration_s(text)


def without_days(**scenario: Any) -> dict[str, Any]:
    """The seed file's data with ``[scenario]`` lacking duration_days, plus ``scenario``."""
    data = read_toml(SEED)
    del data["scenario"]["duration_days"]
    data["scenario"].update(scenario)
    return data


def problems_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        scenario_from_dict(data, "s.toml")
    assert exc.value.path == "s.toml"
    return dict(exc.value.problems)


@pytest.mark.parametrize("text", ["2d", "48h", "PT48H", "P2D", "1d24h", "2880m"])
def test_a_duration_is_the_same_scenario_as_duration_days(text: str) -> None:
    by_days = scenario_with("scenario.duration_days=2")
    by_text = scenario_from_dict(without_days(duration=text), str(SEED))
    assert by_text.scenario.duration_s == by_days.scenario.duration_s == 2 * D
    assert by_text.scenario.duration_days == by_days.scenario.duration_days == 2
    assert by_text.scenario.duration == text
    # the dump holds one length (duration_days): the same config hash, the same provenance
    assert by_text.model_dump(mode="json") == by_days.model_dump(mode="json")
    assert by_text.config_hash() == by_days.config_hash()


def test_a_duration_that_is_not_whole_days() -> None:
    s = scenario_from_dict(without_days(duration="730h"), str(SEED))
    assert s.scenario.duration_s == 730 * H
    assert s.scenario.duration_days == 730 * H / D


def test_the_dump_validates_again_and_old_dumps_still_load() -> None:
    s = scenario_from_dict(without_days(duration="1d12h"), str(SEED))
    dumped = s.model_dump(mode="json")
    assert "duration" not in dumped["scenario"]
    assert dumped["scenario"]["duration_days"] == 1.5
    again = scenario_from_json(dumped)
    assert again.scenario.duration_s == s.scenario.duration_s == D + 12 * H
    assert again.config_hash() == s.config_hash()
    assert scenario_from_json(json.dumps(dumped)).config_hash() == s.config_hash()
    # a summary stored before durations existed: duration_days alone, as it was dumped then
    old = scenario_with("scenario.duration_days=3").model_dump(mode="json")
    assert scenario_from_json(old).scenario.duration_s == 3 * D


def test_both_are_refused_naming_both_fields() -> None:
    found = problems_of(without_days(duration="2d", duration_days=2))
    ((field, message),) = found.items()
    assert field.startswith("scenario.")
    assert "scenario.duration ('2d')" in message and "scenario.duration_days (2)" in message


def test_neither_is_refused_naming_both_ways() -> None:
    found = problems_of(without_days())
    assert set(found) == {"scenario.duration"}
    assert "missing" in found["scenario.duration"]
    assert "duration_days" in found["scenario.duration"]


def test_other_missing_fields_are_still_named_with_the_length() -> None:
    data = without_days()
    del data["scenario"]["start"]
    assert set(problems_of(data)) == {"scenario.duration", "scenario.start"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (30, "expected a duration string"),
        (2.5, "expected a duration string"),
        (True, "(got true)"),
        ("P1M", "no fixed length"),
        ("30", "has no unit"),
        ("fortnight", "expected a duration such as"),
        ("3661d", "expected at most 3660 days"),
        ("0h", "no time at all"),
    ],
)
def test_bad_duration_values_name_the_field(value: Any, expected: str) -> None:
    found = problems_of(without_days(duration=value))
    assert set(found) == {"scenario.duration"}, found
    assert expected in found["scenario.duration"]
    if not isinstance(value, str):
        assert "duration_days" in found["scenario.duration"]  # where a number goes


def test_a_set_of_one_spelling_replaces_the_files_other(tmp_path: Path) -> None:
    """``--set scenario.duration_days=...`` shortens a file that gives ``duration``, and the other
    way round; both in one ``--set`` list is still two lengths."""
    day = CONFIGS / "nasa-day.toml"
    assert read_toml(day)["scenario"]["duration"] == "1d"
    assert load_scenario(day, ["scenario.duration_days=0.5"]).scenario.duration_s == D // 2
    assert load_scenario(day, ["scenario.duration='6h'"]).scenario.duration_s == 6 * H
    assert load_scenario(SEED, ["scenario.duration='6h'"]).scenario.duration_s == 6 * H
    with pytest.raises(ConfigError, match="give one of them"):
        load_scenario(SEED, ["scenario.duration='6h'", "scenario.duration_days=2"])
    data = apply_overrides(read_toml(day), ["scenario.duration_days=2"])
    assert "duration" not in data["scenario"]


def test_a_sweep_of_duration_days_over_a_file_with_duration() -> None:
    from sim.sweep import plan_sweep

    plan = plan_sweep(CONFIGS / "nasa-day.toml", "scenario.duration_days=0.25:0.5:2")
    assert [s.scenario.duration_s for s in plan.scenarios] == [D // 4, D // 2]


def test_the_json_schema_asks_for_one_of_the_two() -> None:
    section = json_schema()["$defs"]["ScenarioSection"]
    assert section["properties"]["duration"]["type"] == "string"
    assert "duration_days" not in section.get("required", [])
    assert {"required": ["duration"]} in section["oneOf"]
    assert {"required": ["duration_days"]} in section["oneOf"]


def test_a_run_with_duration_has_the_meter_table_of_duration_days() -> None:
    import sim

    small = (
        "traffic.requests_per_day=200000",
        "traffic.peak_requests_per_s=5",
        "cloudfront.origins=[]",
    )
    by_days = sim.run(scenario_with(*small, "scenario.duration_days=2"))
    data = apply_overrides(without_days(duration="2d"), small)
    by_text = sim.run(scenario_from_dict(data, str(SEED)))
    assert by_text.meters.num_rows == 48
    assert by_text.meters.equals(by_days.meters)
    assert by_text.costs.equals(by_days.costs)
