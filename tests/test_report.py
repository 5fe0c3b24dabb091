"""report.html: built from stored results alone, self-contained, strict HTML, the numbers of
summary.json on the page; sim report, --baseline and --format; checked in headless Chromium at a
phone's and a laptop's width."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import html5lib
import pytest
from browser import chromium, layout
from conftest import scenario_with
from study.study_helpers import write_study

import sim
from sim.report import REPORT_FILE, fmt, kind_of, render_report
from sim.report.markdown import diff, run_markdown
from sim.report.study import reading

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "configs" / "seed.toml"
#: A long scenario name (valid: letters, digits, '.', '_', '-'): the page must still fit a phone.
LONG_NAME = "checkout_api_private_with_waf_and_cloudfront_eu_west_1_peak_season_v2"
DAY = ("scenario.duration_days=1", f"scenario.name={LONG_NAME}")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "seed-day"
    sim.run(scenario_with(*DAY), out)
    return out


@pytest.fixture(scope="module")
def baseline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "seed-day-smaller"
    sim.run(
        scenario_with(*DAY, "traffic.requests_per_day=2.5e6", "traffic.peak_requests_per_s=60"),
        out,
        plots=False,
    )
    return out


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "sweep"
    done = cli(
        "sweep", str(SEED), "--vary", "traffic.requests_per_day=1e5:1e7:4:log",
        "--set", "scenario.duration_days=1", "--fidelity", "aggregate", "--out", str(out), "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    path = write_study(tmp, runs=16, fidelity="aggregate", name="tiny")
    done = cli("study", str(path), "--out", str(tmp / "tiny"), "--workers", "1", "-q")
    assert done.returncode == 0, done.stderr
    return tmp / "tiny"


def summary_of(directory: Path) -> dict[str, Any]:
    return dict(json.loads((directory / "summary.json").read_text()))


# ----------------------------------------------------------------------------- formatting
def test_money_and_percent_formats() -> None:
    assert fmt.usd(1234.5) == "$1,234.50"
    assert fmt.usd(-0.001) == "$0.00"  # never "-$0.00"
    assert fmt.usd(-12.345) == "-$12.35"
    assert fmt.usd(3.0, sign=True) == "+$3.00"
    assert fmt.usd(None) == "n/a"
    assert fmt.pct(94.37) == "94.4%"
    assert fmt.pct(-0.04) == "0.0%"
    assert fmt.pct(5.0, sign=True) == "+5.0%"
    assert fmt.number(813313.4) == "813,313"
    assert fmt.number(0.061234) == "0.06123"
    assert fmt.count(15001642) == "15,001,642"


# ----------------------------------------------------------------------------- the run page
def test_sim_run_writes_a_strict_self_contained_report(run_dir: Path) -> None:
    page = (run_dir / REPORT_FILE).read_text(encoding="utf-8")
    parser = html5lib.HTMLParser(strict=True)
    parser.parse(page)  # raises on any parse error
    assert not parser.errors
    lowered = page.lower()
    for fetching in ("<script", "<link", "<img", "<iframe", "src=", "@import"):
        assert fetching not in lowered, fetching
    assert not re.search(r"url\((?!#)", page)  # only the SVGs' own clip paths: url(#id)
    assert not re.search(r'href="(?!#)', page)
    assert page.count("<svg") == 3  # the three figures, inline
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert REPORT_FILE in manifest["files"]


def test_the_page_holds_the_numbers_of_the_summary(run_dir: Path) -> None:
    summary = summary_of(run_dir)
    page = (run_dir / REPORT_FILE).read_text(encoding="utf-8")
    ranking = [r["option"] for r in summary["ranking"]]
    best = ranking[0]
    assert f"Cheapest that meets the requirements: {best}" in page
    for option, t in summary["options"].items():
        assert fmt.usd(t["total_usd"]) in page, option
        assert fmt.usd(t["per_30_days_usd"]["total_usd"]) in page, option
        for c in ("front_door", "backend", "transfer"):
            assert fmt.usd(t[f"{c}_usd"]) in page
        for component, usd in t["components_usd"].items():
            assert f'<td>{component}</td><td class="num">{fmt.usd(usd)}</td>' in page
    best_30 = summary["options"][best]["per_30_days_usd"]["total_usd"]
    for other in ranking[1:]:
        other_30 = summary["options"][other]["per_30_days_usd"]["total_usd"]
        assert fmt.usd(other_30 - best_30) in page
        assert fmt.pct(100 * (other_30 - best_30) / other_30) in page
    assert fmt.count(summary["traffic"]["requests"]) in page
    assert summary["alb"]["dominant_lcu_dimension"].replace("_", " ") in page
    assert summary["provenance"]["config_hash"] in page


def test_sim_report_rebuilds_the_same_page_from_stored_results(run_dir: Path) -> None:
    before = (run_dir / REPORT_FILE).read_text(encoding="utf-8")
    rebuilt = render_report(run_dir, name=str(run_dir)).html
    assert rebuilt == before
    done = cli("report", str(run_dir))
    assert done.returncode == 0, done.stderr
    assert (run_dir / REPORT_FILE).read_text(encoding="utf-8") == before
    assert "wrote" in done.stdout


def test_sim_report_refuses_what_is_not_a_result(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    done = cli("report", str(tmp_path))
    assert done.returncode == 2
    assert "holds no result of sim's" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    done = cli("report", str(tmp_path / "missing"))
    assert done.returncode == 2 and "not a directory" in done.stderr


def test_a_report_html_sim_did_not_write_is_never_replaced(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / REPORT_FILE).write_text("<p>my own notes</p>")
    done = cli("report", str(copy))
    assert done.returncode == 2
    assert "changed since sim wrote it" in done.stderr
    assert (copy / REPORT_FILE).read_text() == "<p>my own notes</p>"


def test_format_json_prints_summary_json_and_markdown_the_table(
    run_dir: Path, tmp_path: Path
) -> None:
    done = cli("report", str(run_dir), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == summary_of(run_dir)
    done = cli("report", str(run_dir), "--format", "markdown")
    summary = summary_of(run_dir)
    assert done.stdout == run_markdown(summary)
    assert "| # | option |" in done.stdout
    best = summary["ranking"][0]["option"]
    assert f"**Cheapest that meets the requirements: {best}**" in done.stdout


def test_sim_run_format_json_equals_the_written_summary(tmp_path: Path) -> None:
    out = tmp_path / "r"
    done = cli("run", str(SEED), "--set", "scenario.duration_days=0.25", "--no-plots",
               "--fidelity", "aggregate", "--out", str(out), "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == summary_of(out)
    assert "wrote" in done.stderr  # stdout holds the JSON alone
    assert "<svg" not in (out / REPORT_FILE).read_text()  # --no-plots: no figures


def test_baseline_shows_what_changed_per_option_and_component(
    run_dir: Path, baseline_dir: Path
) -> None:
    now, before = summary_of(run_dir), summary_of(baseline_dir)
    change = diff(now, before)
    rows = {r["name"]: r for r in change["options"]}
    for option, t in now["options"].items():
        b = before["options"][option]["per_30_days_usd"]["total_usd"]
        a = t["per_30_days_usd"]["total_usd"]
        assert rows[option]["delta_usd"] == pytest.approx(a - b, abs=1e-9)
        assert rows[option]["delta_pct"] == pytest.approx(100 * (a - b) / b)
        comps = {c["name"]: c for c in rows[option]["components"]}
        for name, usd in t["per_30_days_components_usd"].items():
            assert comps[name]["delta_usd"] == pytest.approx(
                usd - before["options"][option]["per_30_days_components_usd"][name], abs=1e-9
            )
    page = render_report(run_dir, baseline=baseline_dir).html
    assert "What changed against" in page
    alb = rows["alb"]
    assert fmt.usd(alb["delta_usd"], sign=True) in page
    import shutil

    copy = run_dir.parent / "seed-day-with-baseline"  # sim report writes: leave run_dir as run
    if not copy.exists():
        shutil.copytree(run_dir, copy)
    done = cli("report", str(copy), "--baseline", str(baseline_dir), "--format", "markdown")
    assert done.returncode == 0, done.stderr
    assert f"| **alb** | {fmt.usd(alb['baseline_usd'])} | {fmt.usd(alb['current_usd'])} |" in (
        done.stdout
    )
    done = cli("report", str(copy), "--baseline", str(baseline_dir), "--format", "json")
    assert json.loads(done.stdout)["options"][0]["name"] == next(iter(now["options"]))


def test_a_baseline_must_be_a_run(run_dir: Path, sweep_dir: Path) -> None:
    done = cli("report", str(run_dir), "--baseline", str(sweep_dir))
    assert done.returncode == 2 and "compares two runs" in done.stderr


# ----------------------------------------------------------------------------- sweeps, studies
def test_the_sweep_page_shows_the_break_even_points(sweep_dir: Path) -> None:
    assert kind_of(sweep_dir) == "sweep"
    doc = json.loads((sweep_dir / "breakeven.json").read_text())
    page = (sweep_dir / REPORT_FILE).read_text(encoding="utf-8")
    html5lib.HTMLParser(strict=True).parse(page)
    crossings = [c for p in doc["pairs"] for c in p["crossings"]]
    assert crossings
    for c in crossings:
        assert fmt.number(c["value"], 6) in page
        assert fmt.usd(c["cost_per_30_days_usd"]) in page
    for seg in doc["cheapest"]["total"]:
        assert seg["option"] in page
    assert page.count("<svg") == 1


def test_the_study_page_reads_the_numbers_in_words(study_dir: Path) -> None:
    assert kind_of(study_dir) == "study"
    doc = json.loads((study_dir / "analysis" / "analysis.json").read_text())
    page = (study_dir / REPORT_FILE).read_text(encoding="utf-8")
    html5lib.HTMLParser(strict=True).parse(page)
    p = doc["probability_cheapest"]
    best = max(p, key=lambda o: p[o]["probability"])
    assert f"{best} is the cheapest option in {p[best]['probability']:.1%}" in page
    for o, q in p.items():
        assert f"{fmt.prob(q['ci'][0])} – {fmt.prob(q['ci'][1])}" in page, o
    for s in doc["savings"].values():
        assert fmt.usd(s["p50"]) in page or fmt.usd(-s["p50"]) in page
    top = doc["most_influential"][0]
    assert f"{top['input']} ({top['index']} {fmt.index(top['value'])})" in page
    assert page.count("<svg") == 4


def test_a_study_without_analysis_has_no_report_yet(study_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "s"
    shutil.copytree(study_dir, copy)
    shutil.rmtree(copy / "analysis")
    done = cli("report", str(copy))
    assert done.returncode == 2 and "no analysis yet" in done.stderr


# ----------------------------------------------------------------------------- in a real browser
@pytest.mark.parametrize("width", [390, 1280])
def test_in_chromium_the_pages_fit_and_hold_the_numbers(
    width: int, run_dir: Path, sweep_dir: Path, study_dir: Path
) -> None:
    summary = summary_of(run_dir)
    with chromium() as web:
        seen = layout(web, (run_dir / REPORT_FILE).as_uri(), width)
        assert seen["width"] == width
        assert seen["scrollWidth"] <= width, seen["overflowing"][:5]
        assert seen["overflowing"] == []
        assert seen["scripts"] == 0
        text = seen["text"]
        best = summary["ranking"][0]["option"]
        assert f"Cheapest that meets the requirements: {best}" in text
        for t in summary["options"].values():
            assert fmt.usd(t["per_30_days_usd"]["total_usd"]) in text
            assert fmt.usd(t["total_usd"]) in text
        # the page with a baseline's change (written by the baseline test), the sweep's, the
        # study's (last: its text is checked below)
        with_baseline = run_dir.parent / "seed-day-with-baseline"
        pages = [with_baseline] if with_baseline.exists() else []
        for directory in (*pages, sweep_dir, study_dir):
            seen = layout(web, (directory / REPORT_FILE).as_uri(), width)
            assert seen["scrollWidth"] <= width, seen["overflowing"][:5]
            assert seen["overflowing"] == []
        doc = json.loads((study_dir / "analysis" / "analysis.json").read_text())
        p = doc["probability_cheapest"]
        best = max(p, key=lambda o: p[o]["probability"])
        assert f"{best} is the cheapest option in {p[best]['probability']:.1%}" in seen["text"]


# ----------------------------------------------------------------------------- robustness
def test_a_summary_an_older_sim_wrote_still_gets_its_report(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    summary = summary_of(old)
    for key in ("ranking", "months", "requirements", "warnings", "free_tier", "alb", "excluded",
                "cheapest_per_30_days", "gateway", "findings"):  # fmt: skip
        summary.pop(key)
    for t in summary["options"].values():
        t.pop("per_30_days_usd")
        t.pop("per_30_days_components_usd")
    # rewrite it as the older version's file, recorded in the manifest as sim's
    from sim.output import json_writer, write_result

    write_result(old, "run", {"summary.json": json_writer(summary)}, remove_stale=False)
    done = cli("report", str(old))
    assert done.returncode == 0, done.stderr
    page = (old / REPORT_FILE).read_text(encoding="utf-8")
    html5lib.HTMLParser(strict=True).parse(page)
    # ranked by the period's totals, the only cost it has
    best = min(summary["options"], key=lambda o: summary["options"][o]["total_usd"])
    assert f"Cheapest that meets the requirements: {best}" in page
    assert f"**Cheapest that meets the requirements: {best}**" in done.stdout


def test_a_damaged_result_is_one_line_and_exit_2(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(run_dir, bad)
    (bad / "meters.parquet").write_bytes(b"not parquet")
    done = cli("report", str(bad))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "cannot be read" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_sweep_answers_among_the_options_that_qualify(tmp_path: Path) -> None:
    out = tmp_path / "waf-sweep"
    done = cli(
        "sweep", str(ROOT / "configs" / "seed-with-waf.toml"),
        "--vary", "traffic.requests_per_day=1e5:1e7:3:log", "--set", "scenario.duration_days=1",
        "--fidelity", "aggregate", "--out", str(out), "-q", "--no-plots",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = (out / REPORT_FILE).read_text(encoding="utf-8")
    # a function URL cannot take WAF: it is excluded, never the answer
    answers = re.findall(r'<p class="big">Cheapest on [^:]*:\s*(.*?)</p>', page, re.S)
    assert len(answers) == 2, answers
    assert not any(re.search(r"(?<!\w)lambda_url from", a) for a in answers), answers
    assert "among the options that meet the requirements" in page
    assert "excluded: lambda_url:" in page


def test_the_reading_names_only_inputs_that_clearly_matter() -> None:
    doc = {
        "runs": 48, "confidence": 0.95, "key_outcome": "savings_usd_alb_vs_apigw_http",
        "relative_outcome": None,
        "most_influential": [
            {"input": "volume", "index": "ST", "value": 0.14, "ci": [0.08, 0.2]},
            {"input": "rules", "index": "ST", "value": 0.0, "ci": [-0.01, 0.01]},
        ],
    }  # fmt: skip
    text = " ".join(reading(doc))
    assert "volume (ST 0.14)" in text and "rules" not in text
    doc["most_influential"] = [{"input": "rules", "index": "S1", "value": 0.29, "ci": [-0.9, 1.5]}]
    assert "No input's index" in " ".join(reading(doc))
