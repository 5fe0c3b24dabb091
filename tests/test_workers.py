"""``request`` fidelity on several worker processes (sim.engine.workers): the meters are those of
one process whatever the number of workers, for every mechanism whose state spans batches; batches
are drawn from their own streams; ``--workers`` is validated; a worker's failure reaches the user."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SEED, scenario_with

from sim.config import Scenario, scenario_from_dict
from sim.engine import simulate

#: Three hours in batches of ten minutes: 18 batches, so that every worker holds several and the
#: ordered state travels through each of them many times.
SHORT = (
    "scenario.duration_days=0.125",
    "scenario.start=2026-11-01T13:00:00Z",
    "engine.batch_s=600",
)


def _same_for_any_workers(scenario: Scenario, **kwargs: Any) -> pa.Table:
    """The meter table with 1, 2 and 3 workers: equal column by column (bit for bit)."""
    one = simulate(scenario, workers=1, **kwargs)
    for workers in (2, 3):
        other = simulate(scenario, workers=workers, **kwargs)
        assert other.column_names == one.column_names
        for name in one.column_names:
            assert other.column(name).equals(one.column(name)), (workers, name)
    return one


def _total(table: pa.Table, name: str) -> float:
    return float(np.asarray(table.column(name).to_numpy()).sum())


def test_the_plain_seed_is_the_same_on_any_number_of_workers() -> None:
    m = _same_for_any_workers(scenario_with(*SHORT, "cloudfront.origins=[]"))
    assert _total(m, "requests") > 50_000


def test_a_throttled_gateway_is_the_same_on_any_number_of_workers() -> None:
    """A bucket that refuses in most seconds of the peak: the exact walk runs in many batches."""
    m = _same_for_any_workers(
        scenario_with(
            *SHORT, "cloudfront.origins=[]", "apigateway.throttle={rate_per_s=8, burst=20}"
        )
    )
    assert _total(m, "gateway_throttled") > 1000
    assert _total(m, "gateway_requests") + _total(m, "gateway_throttled") == _total(m, "requests")


def test_a_cached_rest_api_is_the_same_on_any_number_of_workers() -> None:
    """The exact TTL cache (237 GB: every key fits) and an LRU cache (0.5 GB: 536 responses of
    1 MB, fewer than the 2,000 keys) at once."""
    m = _same_for_any_workers(
        scenario_with(
            *SHORT,
            "cloudfront.origins=[]",
            "payload.response={model='fixed', bytes=1000000}",
            "apigateway.cache={enabled=true, sizes_gb=[0.5, 237], ttl_s=120, "
            "cacheable_share=0.6, keys={model='zipf', count=2000, exponent=1.0}}",
        )
    )
    hits = [c for c in m.column_names if c.endswith("_hits") and c.startswith("cached_")]
    assert len(hits) == 2 and all(_total(m, c) > 1000 for c in hits)


def test_a_concurrency_limit_is_the_same_on_any_number_of_workers() -> None:
    """Lambda's loss system with executions still running across batch ends (3 s durations)."""
    m = _same_for_any_workers(
        scenario_with(
            *SHORT,
            "cloudfront.origins=[]",
            "backend.concurrency_limit=150",
            "backend.duration={model='lognormal', mean_ms=3000, sigma=0.5}",
        )
    )
    assert _total(m, "direct_lambda_throttled") > 100


def test_cloudfront_is_the_same_on_any_number_of_workers() -> None:
    """CloudFront in front of an ALB (the pooled connections), a function URL and a REST API, with
    its edge caches and the throttle's own bucket on their misses."""
    m = _same_for_any_workers(
        scenario_with(
            *SHORT,
            "cloudfront.origins=['alb', 'apigw_rest', 'lambda_url']",
            "cloudfront.edge_locations=3",
            "cloudfront.cache={enabled=true, ttl_s=30, cacheable_share=0.7,"
            " keys={model='zipf', count=200, exponent=0.9}}",
            "apigateway.throttle={rate_per_s=30, burst=60}",
        )
    )
    assert _total(m, "edge_new_connections") > 10 and _total(m, "edge_hits") > 1000
    assert _total(m, "edge_gateway_throttled") > 0


def test_sessions_are_the_same_on_any_number_of_workers() -> None:
    m = _same_for_any_workers(
        scenario_with(
            *SHORT,
            "cloudfront.origins=[]",
            "connections={model='sessions', requests_per_session=20, think_time_s=5, "
            "idle_timeout_s=60}",
        )
    )
    assert _total(m, "new_connections") > 100


def _access_log(tmp_path: Path) -> Path:
    """Two hours of logged requests (the readers' schema, normalised as ``sim logs convert``
    writes it), some durations unknown (the model draws them)."""
    from sim.logs.requests import normalize

    rng = np.random.default_rng(5)
    n, t0 = 40_000, datetime(2025, 12, 1, tzinfo=UTC).timestamp()
    dur = rng.random(n) * 300.0
    raw = pa.table(
        {
            "time_s": t0 + np.sort(rng.random(n) * 7200.0),
            "request_bytes": pa.array(rng.integers(200, 5000, n), pa.int64()),
            "response_bytes": pa.array(rng.integers(100, 90_000, n), pa.int64()),
            "client": np.array([f"198.51.100.{i % 250}:{30000 + i}" for i in range(300)])[
                rng.integers(0, 300, n)
            ],
            "route": np.array(["/a", "/b"])[rng.integers(0, 2, n)],
            "method": ["GET"] * n,
            "duration_ms": pa.array(np.where(rng.random(n) < 0.1, np.nan, dur), from_pandas=True),
            "status": pa.array(np.full(n, 200), pa.int32()),
            "event_type": pa.nulls(n, pa.string()),
        }
    )
    path = tmp_path / "requests.parquet"
    pq.write_table(normalize(raw, salt=b"test"), path)
    return path


def test_an_access_log_replay_is_the_same_on_any_number_of_workers(tmp_path: Path) -> None:
    data = {
        "scenario": {
            "name": "logs",
            "start": datetime(2025, 12, 1, tzinfo=UTC),
            "duration_days": 2 / 24,
            "region": "us-east-1",
        },
        "traffic": {"model": "access_log", "path": str(_access_log(tmp_path))},
        "backend": {"duration": {"model": "lognormal", "mean_ms": 40.0, "sigma": 0.5}},
        "engine": {"fidelity": "request", "batch_s": 600},
    }
    m = _same_for_any_workers(scenario_from_dict(data, "<test>"))
    assert _total(m, "requests") == 40_000


def test_a_batch_is_drawn_from_its_own_streams() -> None:
    """Batch k drawn alone (as a worker draws it) is batch k drawn after all the others."""
    from sim.engine.core import Context, Horizon, generate, source_batches
    from sim.rng import run_seed_sequence, streams

    s = scenario_with(*SHORT, "cloudfront.origins=['alb']")
    seq = run_seed_sequence(s.scenario.seed)
    horizon = Horizon.of(s)
    ctx = Context(s, horizon, seq)
    sources = list(source_batches(s, horizon, streams(seq)["arrivals"]))
    in_order = [generate(ctx, src) for src in sources]
    alone = generate(Context(s, horizon, seq), sources[7])
    for name in ("arrival_s", "request_bytes", "response_bytes", "duration_ms", "edge"):
        np.testing.assert_array_equal(getattr(alone, name), getattr(in_order[7], name))
    assert not np.array_equal(in_order[7].duration_ms[:100], in_order[8].duration_ms[:100])


def test_the_per_second_counts_keep_the_runs_arrivals_stream() -> None:
    """Counts come from the run's ``arrivals`` stream in time order, as ``sim traffic`` draws
    them (and ``aggregate`` fidelity in the hours it runs second by second): the same requests
    per second."""
    from sim.traffic.inspect import simulate_traffic

    s = scenario_with(*SHORT, "cloudfront.origins=[]")
    req = simulate(s)
    requests, _, peak = simulate_traffic(s).hours
    assert req.column("requests").to_pylist() == requests.tolist()
    assert req.column("peak_rps").to_pylist() == peak.tolist()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_whole_number_of_at_least_one(bad: object) -> None:
    from sim.errors import ConfigError
    from sim.resources import run_workers

    s = scenario_with(*SHORT)
    with pytest.raises(ValueError, match="workers"):
        simulate(s, workers=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="whole number"):
        run_workers(s, bad)  # type: ignore[arg-type]


def test_sim_run_refuses_nonsensical_workers_and_records_them(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from sim.cli import cli

    runner = CliRunner()
    bad = runner.invoke(cli, ["run", str(SEED), "--workers", "0", "--out", str(tmp_path / "a")])
    assert bad.exit_code == 2 and "--workers" in bad.output
    assert not (tmp_path / "a").exists()
    args = ["run", str(SEED), "--no-plots", "-q", *(f"--set={o}" for o in SHORT)]
    for w in ("1", "2"):
        done = runner.invoke(cli, [*args, "--workers", w, "--out", str(tmp_path / w)])
        assert done.exit_code == 0, done.output
    one, two = (json.loads((tmp_path / w / "summary.json").read_text()) for w in ("1", "2"))
    assert one["provenance"]["workers"] == 1 and two["provenance"]["workers"] == 2
    one["provenance"].pop("workers"), two["provenance"].pop("workers")
    assert one["options"] == two["options"] and one["traffic"] == two["traffic"]


def test_the_default_is_one_worker_for_a_short_run_and_the_cpus_for_a_long_one() -> None:
    from sim.resources import run_workers, usable_cpus

    assert run_workers(scenario_with(*SHORT), None) == 1
    assert run_workers(scenario_with(), None) == usable_cpus()  # the seed month: over 2 s
    assert run_workers(scenario_with(), None, fidelity="aggregate") == 1


def test_a_worker_exception_reaches_the_caller_as_itself() -> None:
    """What a worker raises is raised in the run's process: a user error as it is, a bug with
    the worker's traceback as a note."""
    from sim.engine.workers import _pack, _unpack
    from sim.errors import ConfigError

    try:
        raise ConfigError("x.toml", [("traffic.path", "missing")])
    except ConfigError as exc:
        again = _unpack(_pack(exc, 1, 3))
    assert isinstance(again, ConfigError) and "traffic.path" in str(again)
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError as exc:
        bug = _unpack(_pack(exc, 0, 7))
    assert isinstance(bug, ZeroDivisionError)
    assert any("worker 0 (batch 7)" in n and "boom" in n for n in bug.__notes__)


def test_a_dead_worker_is_reported() -> None:
    import multiprocessing

    from sim.engine.workers import WorkerError, _Readers

    mp = multiprocessing.get_context("fork")
    for close_pipe in (True, False):  # its pipe closed with it, or still held elsewhere
        reader, writer = mp.Pipe(duplex=False)
        dead = mp.Process(target=os._exit, args=(3,))
        dead.start()
        if close_pipe:
            writer.close()
        dead.join()
        with pytest.raises(WorkerError, match="exited with code 3"):
            _Readers([reader], [dead]).receive()
        reader.close()
        writer.close()


def test_workers_exit_when_the_run_is_killed(tmp_path: Path) -> None:
    """SIGKILL the run's process mid-run: its worker processes (and any helper process it
    started) are gone within seconds."""
    psutil = pytest.importorskip("psutil")
    script = tmp_path / "long_run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from sim.config import load_scenario
            from sim.engine import simulate
            if __name__ == "__main__":
                s = load_scenario({str(SEED)!r}, ["cloudfront.origins=[]"])
                simulate(s, workers=2)
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        parent = psutil.Process(proc.pid)
        workers: list[Any] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            # the workers (forked by the run's process, or by a forkserver it started)
            workers = parent.children(recursive=True)
            if len(workers) >= 2:
                break
            time.sleep(0.2)
        assert len(workers) >= 2, "the workers did not start"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    _gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, alive


def test_the_estimate_counts_the_workers() -> None:
    """Each worker adds its own memory (its process and two batches at most); the per-request
    time spreads over the CPUs there are (none faster than one where there is one CPU)."""
    from sim.resources import (
        BATCHES_PER_WORKER,
        WORKER_PROCESS_BYTES,
        estimate_run,
        usable_cpus,
    )

    s = scenario_with("cloudfront.origins=[]")
    one = estimate_run(s, workers=1)
    two = estimate_run(s, workers=2)
    # the busiest batch as the single-process estimate reckons it: "...: N requests expected × B B"
    line = next(d for d in one.details if d.startswith("busiest batch"))
    n, per = line.split(": ")[1].split(" requests expected × ")
    batch = float(n.replace(",", "")) * float(per.removesuffix(" B"))
    extra = two.memory_bytes - one.memory_bytes
    assert extra == pytest.approx(2 * (WORKER_PROCESS_BYTES + (BATCHES_PER_WORKER - 1) * batch))
    if usable_cpus() > 1:
        assert two.seconds < one.seconds
    assert any("2 worker processes" in d for d in two.details)
    assert (
        estimate_run(s, workers=2, fidelity="aggregate").seconds
        == estimate_run(s, fidelity="aggregate").seconds
    )


def test_caches_too_large_to_travel_run_in_one_process() -> None:
    """20 M keys that all fit a 237 GB cache: 160 MB of expiry times would travel with every
    batch, above the limit; such a run uses one process whatever --workers asks."""
    from sim.resources import STATE_TRAVEL_MAX_BYTES, ordered_state_bytes, run_workers

    big = scenario_with(
        "apigateway.cache={enabled=true, sizes_gb=[237], keys={model='zipf', count=20000000, "
        "exponent=1.0}}"
    )
    assert ordered_state_bytes(big) == 20_000_000 * 8 > STATE_TRAVEL_MAX_BYTES
    assert run_workers(big, 4) == 1 and run_workers(big, None) == 1
    small = scenario_with(*SHORT)
    assert ordered_state_bytes(small) < STATE_TRAVEL_MAX_BYTES and run_workers(small, 4) == 4


def test_a_threaded_caller_gets_workers_from_a_forkserver() -> None:
    """Workers fork from this process when it runs one thread, else from a forkserver (forking a
    threaded process is unsafe): the same meters either way."""
    import threading

    from sim.engine.workers import _context

    s = scenario_with(*SHORT, "cloudfront.origins=['alb']")
    one = simulate(s, workers=1)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert _context().get_start_method() == "forkserver"
        two = simulate(s, workers=2)
    finally:
        stop.set()
        other.join()
    assert two.equals(one)


def _fresh(body: str) -> list[str]:
    """Run ``body`` in a fresh interpreter (one thread: its workers fork from it, so a patch made
    there reaches them, whatever threads this test process holds) and return its output lines.
    ``s`` is the plain seed in three hours of ten-minute batches."""
    code = textwrap.dedent(
        f"""
        import os, sys
        from sim.config import load_scenario
        from sim.engine import simulate
        from sim.engine import workers as w
        SEED = {str(SEED)!r}
        SHORT = {[*SHORT, "cloudfront.origins=[]"]!r}
        s = load_scenario(SEED, SHORT)
        assert w._context().get_start_method() == "fork"
        """
    ) + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_run_on_workers_imports_what_comes_after_while_they_run() -> None:
    """While the workers run, the run's process imports what it needs afterwards (and compiles
    the report's template) on a thread of its own, gone when the run returns: in a fresh
    process, none of it is there before, all of it after, and one thread is left."""
    out = _fresh(
        """
        import threading
        print(sorted(n for n in w.LATER_IMPORTS if n in sys.modules))
        simulate(s, workers=2)
        print(sorted(n for n in w.LATER_IMPORTS if n in sys.modules))
        report = sys.modules["sim.report"]
        print(threading.active_count(), report._environment.cache_info().currsize)
        """
    )
    assert out[0] == "[]"
    assert out[1] == str(
        sorted(["pandas", "pyarrow.acero", "sim.reprice", "sim.summary", "sim.report"])
    )
    assert out[2] == "1 1"  # one thread; the report's environment made (its template compiled)


def test_a_state_too_large_for_the_ring_is_relayed() -> None:
    """A state whose message does not fit a ring pipe goes through the run's process: with no
    room at all, every state takes that way (a cached REST API's state), and the meters are still
    those of one process."""
    out = _fresh(
        """
        s = load_scenario(SEED, SHORT + ["apigateway.cache={enabled=true, sizes_gb=[0.5], ttl_s=300}"])
        one = simulate(s, workers=1)
        relayed = []
        send = w._Readers.receive
        def counting(self):
            message = send(self)
            relayed.append(message[0] == "relay")
            return message
        w._Readers.receive = counting
        w.RING_BYTES = 0
        for n in (2, 3):
            print(simulate(s, workers=n).equals(one))
        print(sum(relayed))
        """
    )
    assert out[:2] == ["True", "True"]
    n_batches = 18  # three hours of ten minutes: every state but the first is relayed, twice over
    assert int(out[2]) == 2 * (n_batches - 1)


@pytest.mark.parametrize("how", ["die", "raise"])
def test_a_worker_that_fails_mid_run_stops_the_run(how: str) -> None:
    """Worker 1 of 3 dies (killed) or raises at its first batch: the run raises a WorkerError
    naming it, or the worker's own exception with the worker's traceback as a note, and does not
    hang (the others are stopped)."""
    out = _fresh(
        f"""
        import multiprocessing
        facts = w.batch_facts
        def failing(ctx, batch):
            if multiprocessing.current_process().name.endswith("-1"):
                if {how!r} == "die":
                    os._exit(9)
                raise ZeroDivisionError("boom in a worker")
            return facts(ctx, batch)
        w.batch_facts = failing
        try:
            simulate(s, workers=3)
        except BaseException as exc:
            print(type(exc).__name__)
            print(str(exc))
            print(any("in request fidelity worker 1" in n for n in getattr(exc, "__notes__", [])))
        """
    )
    if how == "die":
        assert out[0] == "WorkerError"
        assert "sim-request-worker-1 exited with code 9" in out[1]
    else:
        assert out == ["ZeroDivisionError", "boom in a worker", "True"]
