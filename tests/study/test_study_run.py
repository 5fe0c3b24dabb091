"""Running studies: the output layout, identical results for any executor, worker count or chunk
size, resume after a killed run, and refusals that leave an existing study untouched."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from study_helpers import ONLY_STUDIED, ROOT, sim_cli, tree, write_study

from sim.cli import main
from sim.output import read_provenance
from sim.study import executors as executors_module
from sim.study import load_study, run_study
from sim.study.executors import ExecutorError
from sim.study.runner import StudyDirectoryError

PNG = b"\x89PNG\r\n\x1a\n"


def flat(text: str) -> str:
    """Messages with the console's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small Latin hypercube study, run in this process (one worker), with its analysis."""
    tmp = tmp_path_factory.mktemp("reference")
    study = load_study(write_study(tmp, runs=24, chunk_size=4))
    run_study(study, tmp / "out", workers=1)
    return tmp / "out"


def test_the_study_directory_follows_the_layout(reference: Path) -> None:
    assert sorted(p.name for p in reference.iterdir()) == [
        "analysis",
        "design.parquet",
        "manifest.json",
        "report.html",
        "results.parquet",
        "runs",
        "study.json",
    ]
    assert sorted(p.name for p in (reference / "runs").iterdir()) == [
        f"chunk-{c:05d}.parquet" for c in range(6)
    ]
    manifest = json.loads((reference / "study.json").read_text())
    assert manifest["status"] == "complete" and manifest["chunk_size"] == 4
    assert manifest["chunks"] == 6 and manifest["runs"] == 24 and manifest["seed"] == 7
    assert len(manifest["hashes"]["study"]) == 64
    assert {"SALib", "dask", "numpy"} <= set(manifest["versions"])
    design = pq.read_table(reference / "design.parquet")
    assert design.column_names[:5] == ["run", "volume", "peak_factor", "rules", "request_bytes"]
    results = pq.read_table(reference / "results.parquet")
    assert results.column("run").to_pylist() == list(range(24))
    assert manifest["columns"] == results.column_names
    for option in ("alb", "apigw_rest", "apigw_http"):
        assert (results.column(f"{option}_total_usd").to_numpy() > 0).all()
    savings = results.column("savings_usd_alb_vs_apigw_http").to_numpy()
    np.testing.assert_allclose(
        savings,
        results.column("apigw_http_total_usd").to_numpy()
        - results.column("alb_total_usd").to_numpy(),
    )
    assert set(results.column("cheapest").to_pylist()) <= {"alb", "apigw_rest", "apigw_http"}
    assert (
        read_provenance(reference / "results.parquet")["study_hash"]
        == (manifest["hashes"]["study"])
    )


def test_the_analysis_is_written(reference: Path) -> None:
    analysis = reference / "analysis"
    names = {p.name for p in analysis.iterdir()}
    assert {
        "analysis.json",
        "sensitivity.parquet",
        "convergence.parquet",
        "quantiles.parquet",
        "savings_histogram.png",
        "indices.png",
        "savings_vs_inputs.png",
        "convergence.png",
    } <= names
    for png in analysis.glob("*.png"):
        assert png.read_bytes()[:8] == PNG
    doc = json.loads((analysis / "analysis.json").read_text())
    p = doc["probability_cheapest"]
    assert sum(v["probability"] for v in p.values()) == pytest.approx(1.0)
    assert all(v["ci"][0] <= v["probability"] <= v["ci"][1] for v in p.values())
    assert doc["key_outcome"] == "savings_usd_alb_vs_best"
    assert {r["input"] for r in doc["most_influential"]} == {
        "volume",
        "peak_factor",
        "rules",
        "request_bytes",
    }
    sens = pq.read_table(analysis / "sensitivity.parquet").to_pylist()
    assert {r["index"] for r in sens} == {"S1", "spearman"}
    quantiles = pq.read_table(analysis / "quantiles.parquet").to_pylist()
    row = next(r for r in quantiles if r["outcome"] == "alb_total_usd")
    assert row["min"] <= row["p05"] <= row["p50"] <= row["p95"] <= row["max"]
    conv = pq.read_table(analysis / "convergence.parquet")
    assert max(conv.column("runs").to_pylist()) == 24


def test_results_do_not_depend_on_workers_or_chunk_size(reference: Path, tmp_path: Path) -> None:
    expected = pq.read_table(reference / "results.parquet")
    study = load_study(write_study(tmp_path, runs=24, chunk_size=5))
    run_study(study, tmp_path / "pool", workers=2, analyze=False)
    got = pq.read_table(tmp_path / "pool" / "results.parquet")
    assert got.equals(expected)
    assert len(list((tmp_path / "pool" / "runs").iterdir())) == 5


def test_a_dask_local_cluster_gives_identical_results(reference: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    study = load_study(write_study(tmp_path, runs=24, chunk_size=3))
    result = run_study(study, tmp_path / "dask", workers=2, dask="local", analyze=False)
    assert "LocalCluster" in result.executor
    got = pq.read_table(tmp_path / "dask" / "results.parquet")
    assert got.equals(pq.read_table(reference / "results.parquet"))
    # resuming a complete study runs nothing and changes no result
    again = run_study(study, tmp_path / "dask", dask="local", resume=True, analyze=False)
    assert again.chunks_run == 0 and again.chunks_skipped == 8
    assert pq.read_table(tmp_path / "dask" / "results.parquet").equals(got)


def test_a_dask_address_that_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    study = write_study(tmp_path, runs=8)
    monkeypatch.setattr(executors_module, "DASK_TIMEOUT_S", 1.0)
    with pytest.raises(ExecutorError, match="did not answer within 1 s"):
        run_study(load_study(study), tmp_path / "out", dask=f"tcp://127.0.0.1:{port}")
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as info:
        main(["study", str(study), "--out", str(tmp_path / "out"), "--dask", f"127.0.0.1:{port}"])
    assert info.value.code == 2
    assert "did not answer" in flat(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_an_existing_study_is_never_overwritten_or_resumed_by_another(
    reference: Path, tmp_path: Path
) -> None:
    before = tree(reference)
    same = write_study(tmp_path, runs=24, chunk_size=4)
    r = sim_cli("study", str(same), "--out", str(reference), "-q")
    assert r.returncode == 2 and "already holds a study; pass --resume" in flat(r.stderr)
    other = write_study(tmp_path, "other.toml", runs=24, seed=8)
    r = sim_cli("study", str(other), "--out", str(reference), "--resume", "-q")
    assert r.returncode == 2
    assert (
        "holds a different study" in r.stderr and "design, number of runs or root seed" in r.stderr
    )
    assert "Resume refused" in r.stderr
    other = write_study(
        tmp_path, "other.toml", runs=24, base_set=("scenario.duration_days=1", *ONLY_STUDIED)
    )
    r = sim_cli("study", str(other), "--out", str(reference), "--resume", "-q")
    assert r.returncode == 2 and "the base scenario" in flat(r.stderr)
    with pytest.raises(StudyDirectoryError):
        run_study(load_study(other), reference / "runs", resume=True)
    assert tree(reference) == before


def test_resume_with_the_same_content_skips_finished_chunks(
    reference: Path, tmp_path: Path
) -> None:
    # a copy of the study file elsewhere, with another chunk size: same study, same hash
    copy = tmp_path / "copy"
    copy.mkdir()
    for name, data in tree(reference).items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(data)
    (copy / "runs" / "chunk-00002.parquet").unlink()
    (copy / "runs" / "chunk-00004.parquet").write_bytes(b"garbage")
    (copy / "runs" / ".chunk-00005.parquet.abc.tmp").write_bytes(b"half")
    study = load_study(write_study(tmp_path, runs=24, chunk_size=7))
    result = run_study(study, copy, workers=1, resume=True, analyze=False)
    assert (result.chunks_run, result.chunks_skipped) == (2, 4)
    assert not list((copy / "runs").glob(".*.tmp"))
    assert pq.read_table(copy / "results.parquet").equals(
        pq.read_table(reference / "results.parquet")
    )


def test_a_killed_study_resumes_to_identical_results(tmp_path: Path) -> None:
    # one day of the seed's 5 M requests a day, at request fidelity: a few tenths of a second a run
    # (the ALB and API Gateway alone: the seed's CloudFront options would make it seconds)
    path = write_study(
        tmp_path,
        runs=24,
        chunk_size=2,
        method="monte_carlo",
        base_set=("scenario.duration_days=1", *ONLY_STUDIED),
        inputs='[[inputs]]\nname = "rules"\nfield = "alb.rules_processed"\n'
        'distribution = "uniform"\nlow = 0\nhigh = 40\n\n'
        '[[inputs]]\nname = "request_bytes"\nfield = "payload.request.bytes"\n'
        'distribution = "loguniform"\nlow = 200\nhigh = 20000\n',
    )
    out = tmp_path / "killed"
    runs_dir = out / "runs"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim",
            "study",
            str(path),
            "--out",
            str(out),
            "--workers",
            "2",
            "-q",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the pool's workers die with it
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if runs_dir.is_dir() and any(runs_dir.glob("chunk-*.parquet")):
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the study finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = sorted(runs_dir.glob("chunk-*.parquet"))
    assert 1 <= len(finished) < 12
    assert not (out / "results.parquet").exists()
    assert json.loads((out / "study.json").read_text())["status"] == "running"

    r = sim_cli("study", str(path), "--out", str(out), "--resume", "--workers", "2", "-q")
    assert r.returncode == 0, r.stderr
    resumed = pq.read_table(out / "results.parquet")
    assert resumed.column("run").to_pylist() == list(range(24))  # every run exactly once

    whole = run_study(load_study(path), tmp_path / "whole", workers=1, analyze=False)
    assert resumed.equals(whole.results)
    assert json.loads((out / "study.json").read_text())["status"] == "complete"


@pytest.mark.parametrize(
    ("method", "runs", "fidelity", "indices"),
    [
        ("sobol", 24, "request", {"S1", "ST"}),
        ("morris", 20, "request", {"mu_star", "mu", "sigma"}),
        ("monte_carlo", 16, "aggregate", {"S1", "spearman"}),
    ],
)
def test_every_design_runs_and_is_analysed(
    tmp_path: Path, method: str, runs: int, fidelity: str, indices: set[str]
) -> None:
    path = write_study(
        tmp_path,
        runs=runs,
        method=method,
        fidelity=fidelity,
        chunk_size=None,
        extra_study='cost_basis = "front_door"\n',
    )
    result = run_study(load_study(path), tmp_path / "out", workers=1, plots=False)
    assert result.results.num_rows == runs
    assert result.analysis is not None and result.analysis["design"] == method
    assert result.analysis["fidelity"] == fidelity
    sens = pq.read_table(tmp_path / "out" / "analysis" / "sensitivity.parquet").to_pylist()
    assert {r["index"] for r in sens} == indices
    r = result.results
    np.testing.assert_allclose(
        r.column("savings_usd_alb_vs_apigw_rest").to_numpy(),
        r.column("apigw_rest_front_door_usd").to_numpy()
        - r.column("alb_front_door_usd").to_numpy(),
    )


def test_requests_and_throttles_can_be_recorded(tmp_path: Path) -> None:
    path = write_study(
        tmp_path,
        runs=4,
        method="monte_carlo",
        extra_study='outcomes = ["cheapest", "requests", "throttled_requests"]\n',
    )
    result = run_study(load_study(path), tmp_path / "out", workers=1, plots=False)
    names = result.results.column_names
    assert names[:3] == ["run", "cheapest", "requests"]
    throttles = [n for n in names if n.endswith("throttled")]
    assert throttles and all(min(result.results.column(n).to_pylist()) >= 0 for n in throttles)
    assert min(result.results.column("requests").to_pylist()) > 0


def test_a_chunk_delivered_twice_is_written_once(
    reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a retried Dask task looks like to the runner: the same chunk finishing twice."""
    from sim.study.executors import EXECUTORS, LocalExecutor

    class Twice(LocalExecutor):
        def map_unordered(self, fn, tasks):  # type: ignore[no-untyped-def]
            for task, table in super().map_unordered(fn, tasks):
                yield task, table
                yield task, table

    monkeypatch.setitem(EXECUTORS, "local", Twice)
    study = load_study(write_study(tmp_path, runs=24, chunk_size=4))
    seen: list[int] = []
    run_study(
        study, tmp_path / "twice", workers=1, analyze=False, progress=lambda d, t: seen.append(d)
    )
    assert seen[-1] == 24 and max(seen) == 24
    got = pq.read_table(tmp_path / "twice" / "results.parquet")
    assert got.column("run").to_pylist() == list(range(24))
    assert got.equals(pq.read_table(reference / "results.parquet"))
