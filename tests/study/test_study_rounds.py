"""``study.stop_at_ci_width``: rounds that double the runs until the intervals are narrow enough;
each round's prefix a design of its own; a stopped study the prefix of the whole one; resumed where
it was, round included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from study_helpers import INPUTS, write_study

from sim.errors import ConfigError
from sim.study import load_study, make_design, run_study
from sim.study import runner as runner_module
from sim.study.design import DESIGNS, DesignSettings, extend_latin_hypercube

WIDE = "stop_at_ci_width = { p_cheapest = 0.99, indices = 100.0 }\n"  # met at once
NARROW = "stop_at_ci_width = { p_cheapest = 0.001, indices = 0.001 }\n"  # never met


def problems(tmp_path: Path, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_study(write_study(tmp_path, **kwargs))  # type: ignore[arg-type]
    return " ".join(str(info.value).split())


# =========================================================================== the study file
def test_one_width_means_both_and_rounds_double(tmp_path: Path) -> None:
    study = load_study(
        write_study(
            tmp_path, runs=160, chunk_size=None, method="monte_carlo",
            extra_study="stop_at_ci_width = 0.05\n",
        )
    )  # fmt: skip
    assert study.stop is not None
    assert (study.stop.p_cheapest, study.stop.indices) == (0.05, 0.05)
    assert study.rounds == (20, 40, 80, 160)  # runs / 8, doubled up to runs
    study = load_study(
        write_study(
            tmp_path, runs=1000, chunk_size=None, method="monte_carlo",
            extra_study="stop_at_ci_width = { indices = 0.1, first_round_runs = 300 }\n",
        )
    )  # fmt: skip
    assert study.rounds == (300, 600, 1000)  # the last round ends at runs
    sobol = load_study(
        write_study(tmp_path, runs=64 * 6, method="sobol", chunk_size=None, extra_study=WIDE)
    )
    assert sobol.rounds == (48, 96, 192, 384)  # N = 8, 16, 32, 64 base points of 6 runs


def test_stop_at_ci_width_is_checked(tmp_path: Path) -> None:
    assert "give p_cheapest, indices or both" in problems(
        tmp_path, extra_study="stop_at_ci_width = {}\n"
    )
    assert "study.stop_at_ci_width.p_cheapest" in problems(
        tmp_path, extra_study="stop_at_ci_width = { p_cheapest = 1.5 }\n"
    )
    assert "unknown field" in problems(
        tmp_path, extra_study="stop_at_ci_width = { p_cheap = 0.1 }\n"
    )
    assert "expected a table" in problems(tmp_path, extra_study="stop_at_ci_width = true\n")
    assert "Morris screening runs a fixed number" in problems(
        tmp_path, method="morris", runs=40, chunk_size=None, extra_study=WIDE
    )
    assert "grows by doubling" in problems(
        tmp_path, runs=100, chunk_size=None,
        extra_study="stop_at_ci_width = { indices = 0.1, first_round_runs = 30 }\n",
    )  # fmt: skip
    assert "make one round only" in problems(tmp_path, runs=25, chunk_size=None, extra_study=WIDE)
    assert "p_cheapest needs the outcome 'cheapest'" in problems(
        tmp_path, extra_study='outcomes = ["cost", "savings"]\n' + WIDE
    )
    assert "study.chunk_size: must divide every round's runs (20, 40, 80, 160)" in problems(
        tmp_path, runs=160, chunk_size=8, method="monte_carlo", extra_study=WIDE
    )
    assert "must be below study.runs" in problems(
        tmp_path, runs=160, chunk_size=None,
        extra_study="stop_at_ci_width = { indices = 0.1, first_round_runs = 160 }\n",
    )  # fmt: skip


# =========================================================================== designs in rounds
def strata_once(unit: np.ndarray) -> bool:
    """Every column holds one value in each of ``n`` equal strata."""
    n = len(unit)
    return all(
        sorted(np.floor(unit[:, j] * n).astype(int)) == list(range(n)) for j in range(unit.shape[1])
    )


def test_doubling_a_latin_hypercube_keeps_it_one() -> None:
    rng = np.random.default_rng(4)
    unit = DESIGNS["latin_hypercube"].unit(25, 3, DesignSettings("latin_hypercube"), seed=9)
    for _ in range(4):
        new = extend_latin_hypercube(unit, rng)
        assert new.shape == unit.shape and new.min() >= 0 and new.max() < 1
        unit = np.vstack([unit, new])
        assert strata_once(unit)


@pytest.mark.parametrize("method", ["latin_hypercube", "monte_carlo"])
def test_each_round_is_a_design_and_correlations_hold_in_every_round(
    tmp_path: Path, method: str
) -> None:
    corr = '[[correlations]]\ninputs = ["volume", "request_bytes"]\nrank = 0.7\n'
    study = load_study(
        write_study(
            tmp_path, runs=800, chunk_size=None, method=method, extra=corr,
            extra_study="stop_at_ci_width = { indices = 0.1 }\n",
        )
    )  # fmt: skip
    assert study.rounds == (100, 200, 400, 800)
    design = make_design(study)
    unit = np.column_stack([design.column(f"u:{label}").to_numpy() for label in study.labels])
    from scipy import stats

    for n in study.rounds:
        if method == "latin_hypercube":
            assert strata_once(unit[:n]), n
        rho = stats.spearmanr(unit[:n, 0], unit[:n, 3]).statistic
        # Iman-Conover reaches the target within sampling noise: for n ≥ 100 the rank correlation
        # of the scores deviates by about (1 − ρ²)/√n ≤ 0.05; 0.08 leaves room
        assert rho == pytest.approx(0.7, abs=0.08), n
    # each round's new runs keep their column values: the rounds' correlations only reorder them
    whole = load_study(
        write_study(tmp_path, "plain.toml", runs=800, method=method, extra_study=study_stop(method))
    )
    plain = make_design(whole)
    for label in study.labels:
        for lo, hi in zip((0, 100, 200, 400), study.rounds, strict=True):
            np.testing.assert_array_equal(
                np.sort(plain.column(f"u:{label}").to_numpy()[lo:hi]),
                np.sort(design.column(f"u:{label}").to_numpy()[lo:hi]),
            )


def study_stop(method: str) -> str:
    return "stop_at_ci_width = { indices = 0.1 }\n"


def test_monte_carlo_rows_do_not_depend_on_the_rounds(tmp_path: Path) -> None:
    rounds = load_study(
        write_study(tmp_path, runs=80, method="monte_carlo", chunk_size=None, extra_study=WIDE)
    )
    plain = load_study(write_study(tmp_path, "plain.toml", runs=80, method="monte_carlo"))
    assert make_design(rounds).equals(make_design(plain))


def test_a_sobol_design_in_rounds_is_the_whole_design_whose_prefixes_are_designs() -> None:
    settings = DesignSettings("sobol", second_order=True)
    k, block = 3, 8
    whole = DESIGNS["sobol"].unit(64 * block, k, settings, seed=11)
    assert np.array_equal(
        DESIGNS["sobol"].unit_in_rounds((16 * block, 32 * block, 64 * block), k, settings, 11),
        whole,
    )
    for n in (4, 16, 32):  # the design of N base points is the first N blocks of any larger one
        np.testing.assert_array_equal(
            DESIGNS["sobol"].unit(n * block, k, settings, seed=11), whole[: n * block]
        )


# =========================================================================== running in rounds
def test_a_study_stops_at_the_first_round_narrow_enough(tmp_path: Path) -> None:
    common = {"runs": 80, "chunk_size": None, "method": "monte_carlo"}
    path = write_study(tmp_path, extra_study=WIDE, **common)
    result = run_study(load_study(path), tmp_path / "out", workers=1, plots=False)
    assert result.results.num_rows == 10  # the first round: the widths asked are met at once
    manifest = json.loads((tmp_path / "out" / "study.json").read_text())
    assert manifest["status"] == "complete" and manifest["runs_made"] == 10
    assert manifest["rounds_runs"] == [10, 20, 40, 80]
    assert [r["narrow_enough"] for r in manifest["rounds"]] == [True]
    stopping = result.analysis["stopping"]  # type: ignore[index]
    assert stopping["reached"] and stopping["runs"] == 10 and stopping["most_runs"] == 80
    assert result.analysis["runs"] == 10  # type: ignore[index]
    assert pq.read_table(tmp_path / "out" / "results.parquet").num_rows == 10
    # the runs made are those of the whole study: run i's numbers do not depend on the rounds
    whole = run_study(
        load_study(write_study(tmp_path, "whole.toml", **common)),
        tmp_path / "whole",
        workers=1,
        analyze=False,
    )
    assert result.results.equals(whole.results.slice(0, 10))


def test_a_study_that_never_narrows_enough_runs_every_round_and_says_so(tmp_path: Path) -> None:
    path = write_study(tmp_path, runs=40, chunk_size=None, method="monte_carlo", extra_study=NARROW)
    result = run_study(load_study(path), tmp_path / "out", workers=2, plots=False)
    assert result.results.num_rows == 40
    manifest = json.loads((tmp_path / "out" / "study.json").read_text())
    assert [r["runs"] for r in manifest["rounds"]] == [10, 20]  # judged before the last round
    assert all(not r["narrow_enough"] for r in manifest["rounds"])
    doc = result.analysis
    assert doc is not None and not doc["stopping"]["reached"]
    assert [r["runs"] for r in doc["stopping"]["rounds"]] == [10, 20, 40]
    widths = doc["stopping"]["rounds"][-1]["widths"]
    assert widths["p_cheapest"] > 0.001 and widths["indices"] > 0.001
    assert any("still wider than asked" in n for n in doc["notes"])
    # the last round's widths are the final analysis' intervals
    p = doc["probability_cheapest"]
    assert widths["p_cheapest"] == pytest.approx(max(v["ci"][1] - v["ci"][0] for v in p.values()))


class KilledError(Exception):
    """Stands for SIGKILL at a chosen point (what was written atomically stays)."""


def test_a_killed_study_resumes_in_its_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study killed in its third round: the first two were judged (study.json says so), half
    of the third round's chunks are written. Resumed, it judges no round again, runs the missing
    chunks only, and ends as the uninterrupted study does."""
    path = write_study(
        tmp_path, runs=80, chunk_size=5, method="monte_carlo", extra_study=NARROW, inputs=INPUTS
    )
    study = load_study(path)
    whole = run_study(study, tmp_path / "whole", workers=1, plots=False)
    assert study.rounds == (10, 20, 40, 80) and whole.results.num_rows == 80

    written: list[Path] = []
    real_write = runner_module.write_parquet

    def dies_in_round_3(table, target, provenance):  # type: ignore[no-untyped-def]
        if len(written) == 6:  # rounds 1 and 2 (two chunks each), two of round 3's four
            raise KilledError
        real_write(table, target, provenance)
        written.append(target)

    killed = tmp_path / "killed"
    monkeypatch.setattr(runner_module, "write_parquet", dies_in_round_3)
    with pytest.raises(KilledError):
        run_study(study, killed, workers=1, plots=False)
    monkeypatch.setattr(runner_module, "write_parquet", real_write)
    manifest = json.loads((killed / "study.json").read_text())
    assert manifest["status"] == "running" and [r["runs"] for r in manifest["rounds"]] == [10, 20]
    assert len(list((killed / "runs").glob("chunk-*.parquet"))) == 6

    judged: list[int] = []
    real_judge = runner_module._judge_round

    def counting(out, study, design, refs, schema, runs):  # type: ignore[no-untyped-def]
        judged.append(runs)
        return real_judge(out, study, design, refs, schema, runs)

    monkeypatch.setattr(runner_module, "_judge_round", counting)
    resumed = run_study(study, killed, workers=1, resume=True, plots=False)
    assert judged == [40]  # rounds 1 and 2 were not judged again
    assert resumed.chunks_run == 10  # round 3's last two chunks, round 4's eight
    assert resumed.results.equals(whole.results)
    final = json.loads((killed / "study.json").read_text())
    expected = json.loads((tmp_path / "whole" / "study.json").read_text())
    assert final["status"] == "complete" and final["rounds"] == expected["rounds"]


def test_a_round_recorded_as_narrow_enough_is_where_a_resumed_study_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What study.json records is what the resumed study follows: a study killed after its
    first round was judged narrow enough (here by a stand-in judge) stops there when resumed,
    though the real judge would now say otherwise."""
    path = write_study(tmp_path, runs=40, chunk_size=5, method="monte_carlo", extra_study=NARROW)
    study = load_study(path)

    def lenient(out, study, design, refs, schema, runs):  # type: ignore[no-untyped-def]
        return {"runs": runs, "widths": {"p_cheapest": 0.0, "indices": 0.0}, "narrow_enough": True}

    def dies(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KilledError

    monkeypatch.setattr(runner_module, "_judge_round", lenient)
    monkeypatch.setattr(runner_module, "compact", dies)
    with pytest.raises(KilledError):
        run_study(study, tmp_path / "out", workers=1, plots=False)
    monkeypatch.undo()
    resumed = run_study(study, tmp_path / "out", workers=1, resume=True, plots=False)
    assert resumed.results.num_rows == 10 and resumed.chunks_run == 0
    manifest = json.loads((tmp_path / "out" / "study.json").read_text())
    assert manifest["runs_made"] == 10 and manifest["rounds"][0]["narrow_enough"]
    assert resumed.analysis is not None and resumed.analysis["stopping"]["reached"]
    assert [r["runs"] for r in resumed.analysis["stopping"]["rounds"]] == [10]
