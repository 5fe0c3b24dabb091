from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import SEED

from sim.config import load_scenario
from sim.meters import documented_columns, meter_columns
from sim.output import read_provenance
from sim.pricing.costs import COST_COLUMNS


def sim_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def one_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "seed"
    r = sim_cli("run", str(SEED), "--set", "scenario.duration_days=1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "lambda_url saves $" in r.stdout and "dominant LCU dimension" in r.stdout
    return out


def test_run_writes_the_output_contract(one_day: Path) -> None:
    files = sorted(p.name for p in one_day.iterdir())
    assert files == sorted(
        [
            "meters.parquet",
            "costs.parquet",
            "summary.json",
            "report.html",
            "manifest.json",
            "cost_per_hour.png",
            "cumulative_cost.png",
            "lcu_dimensions.png",
        ]
    )
    meters = pq.read_table(one_day / "meters.parquet")
    costs = pq.read_table(one_day / "costs.parquet")
    assert meters.column_names == meter_columns(load_scenario(SEED))
    assert costs.column_names == list(COST_COLUMNS)
    assert meters.num_rows == 24
    for png in one_day.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_file_carries_the_provenance(one_day: Path) -> None:
    summary = json.loads((one_day / "summary.json").read_text())
    for name in ("meters.parquet", "costs.parquet"):
        prov = read_provenance(one_day / name)
        assert prov == summary["provenance"]
    prov = summary["provenance"]
    assert prov["seed"] == 20261101
    assert prov["price_book"] == {"id": "aws-2026-09", "retrieved": "2026-09-11"}
    assert len(prov["config_hash"]) == 64
    assert {"python", "sim", "numpy", "pyarrow", "simpy"} <= set(prov["versions"])


def test_summary_names_the_winner_and_the_savings(one_day: Path) -> None:
    s = json.loads((one_day / "summary.json").read_text())
    assert set(s["options"]) == {
        "alb",
        "apigw_rest",
        "apigw_http",
        "lambda_url",
        *(f"cloudfront_{o}" for o in ("lambda_url", "alb", "apigw_http", "apigw_rest")),
    }
    # no front-door charge: the function URL; every option qualifies (no requirements), ranked
    assert s["cheapest"]["front_door"] == "lambda_url"
    assert s["excluded"] == [] and len(s["ranking"]) == 8
    totals = [r["total_usd_per_30_days"] for r in s["ranking"]]
    assert totals == sorted(totals) and s["ranking"][0]["option"] == "lambda_url"
    pairs = {(r["option"], r["versus"]) for r in s["savings"]}
    assert ("alb", "apigw_rest") in pairs and ("apigw_http", "alb") in pairs
    assert s["alb"]["dominant_lcu_dimension"] == "processed_bytes"
    assert s["traffic"]["peak_rps"] >= s["traffic"]["mean_rps"]


def test_a_second_run_replaces_its_own_files_and_keeps_the_rest(
    one_day: Path, tmp_path: Path
) -> None:
    out = tmp_path / "again"
    first = sim_cli("run", str(SEED), "--set", "scenario.duration_days=0.125", "--out", str(out))
    assert first.returncode == 0, first.stderr
    (out / "notes.txt").write_text("mine")
    r = sim_cli(
        "run",
        str(SEED),
        "--set",
        "scenario.duration_days=0.125",
        "--out",
        str(out),
        "--no-plots",
        "-q",
    )
    assert r.returncode == 0, r.stderr
    # the figures of the first run are gone (it wrote them; this run writes none), notes stay
    assert sorted(p.name for p in out.iterdir()) == [
        "costs.parquet",
        "manifest.json",
        "meters.parquet",
        "notes.txt",
        "report.html",
        "summary.json",
    ]
    assert (out / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--set", "traffic.requests_per_day=-1"], "traffic.requests_per_day"),
        (["--set", "traffic.peak_requests_per_s=1"], "at least the mean"),
        (["--set", "scenario.region=xx-1"], "unknown region"),
        (["--set", "apigateway.apis=['grpc']"], "apigateway.apis"),
        (["--set", "traffic.bogus=1"], "traffic.bogus: unknown field"),
        (["--set", "scenario.seed='abc'"], "scenario.seed"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message_and_no_output(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    out = tmp_path / "out"
    r = sim_cli("run", str(SEED), "--out", str(out), *args)
    assert r.returncode == 2
    assert needle in r.stderr
    assert str(SEED) in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_malformed_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario\nname='x'\n")
    r = sim_cli("run", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "malformed TOML" in r.stderr and str(bad) in r.stderr
    r = sim_cli("run", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "file not found" in r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_default_output_is_results_slash_name(tmp_path: Path) -> None:
    r = sim_cli(
        "run",
        str(SEED),
        "--set",
        "scenario.duration_days=0.0416666666666666667",
        "--no-plots",
        "-q",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "results" / "seed" / "summary.json").exists()


def test_validate_schema_prices() -> None:
    r = sim_cli("validate", str(SEED))
    assert r.returncode == 0 and "valid scenario 'seed'" in r.stdout
    r = sim_cli("schema")
    assert r.returncode == 0 and "traffic" in json.loads(r.stdout)["properties"]
    r = sim_cli("prices", "--region", "eu-west-1", "--json")
    assert r.returncode == 0
    rows = json.loads(r.stdout)
    assert rows and {row["region"] for row in rows} == {"eu-west-1", "(all)"}
    assert any(row["name"] == "alb_hour" and row["value"] == 0.0252 for row in rows)
    r = sim_cli("prices", "--region", "mars-1")
    assert r.returncode == 2 and "us-east-1" in r.stderr and "Traceback" not in r.stderr


def test_readme_documents_every_output_column() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name in [*documented_columns(), *COST_COLUMNS]:
        assert f"`{name}`" in readme, name
