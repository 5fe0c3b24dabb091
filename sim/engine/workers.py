"""``request`` fidelity on several cores: worker processes draw and meter the batches, the ordered
state visits them in time order.

Batch ``b`` belongs to worker ``b mod N``. The run's process draws the per-second counts in time
order (:func:`sim.engine.core.source_batches`: cheap, and an arrival process carries state from one
window to the next) and sends each batch's counts to its worker, which draws the batch from the
batch's own streams (:func:`sim.rng.batch_streams`) and keeps it. The state that spans batches
(:class:`sim.engine.core.OrderedState`: token buckets, caches, Lambda executions still running,
CloudFront's pool) then travels through the workers in batch order: the worker holding batch ``b``
receives it, applies it (cheap where no mechanism acts) and sends it on at once, then meters the
batch and sends back its facts (a few hundred numbers: :class:`sim.meters.BatchFacts`), which this
process adds in time order. Nothing per request crosses a process boundary (but a detailed
process's requests: sessions, a replayed log), and the meters are those of one process: the same
batches, the same state, the same sums in the same order.

Workers are forked from this process when it runs a single thread (they start at once, the package
already imported), else from a forkserver. They exit when this process is gone
(:func:`watch_parent`); an exception in a worker is raised here as it would have been in one
process, with the worker's traceback as a note.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

import numpy as np

from sim.engine.core import (
    Context,
    OrderedState,
    batch_facts,
    generate,
    source_batches,
)
from sim.errors import SimError
from sim.parentwatch import watch_parent

#: Seconds between checks that the workers are alive while waiting for them.
POLL_S = 0.5


class WorkerError(SimError):
    """A worker process died without saying why (killed, out of memory)."""


def usable_cpus() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_parallel(ctx: Context, arrivals: np.random.Generator, workers: int) -> Iterator[Any]:
    """Each batch's :class:`sim.meters.BatchFacts`, in time order, from ``workers`` processes."""
    n_batches = len(ctx.horizon.batches(ctx.scenario.engine.batch_s))
    workers = max(1, min(workers, n_batches))
    mp = _context()
    outbox: Any = mp.Queue()
    inboxes: list[Any] = [mp.Queue() for _ in range(workers)]
    seq = ctx.seq
    procs = [
        mp.Process(
            target=_worker,
            args=(
                (ctx.scenario, ctx.horizon, seq.entropy, tuple(seq.spawn_key), ctx.with_pool),
                inboxes[w],
                outbox,
                os.getpid(),
                w,
            ),
            name=f"sim-request-worker-{w}",
            daemon=True,
        )
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    ok = False
    try:
        sources = source_batches(ctx.scenario, ctx.horizon, arrivals)
        for _ in range(workers):
            src = next(sources, None)
            if src is not None:
                inboxes[src.index % workers].put(("gen", src))
        state: OrderedState | None = OrderedState.for_context(ctx)
        held: dict[int, Any] = {}
        done = 0
        for b in range(n_batches):
            inboxes[b % workers].put(("apply", b, state))
            src = next(sources, None)
            if src is not None:
                inboxes[src.index % workers].put(("gen", src))
            state = None
            while state is None:
                kind, index, payload = _receive(outbox, procs)
                if kind == "state":
                    state = payload
                else:
                    held[index] = payload
                while done in held:
                    yield held.pop(done)
                    done += 1
        while done < n_batches:
            kind, index, payload = _receive(outbox, procs)
            held[index] = payload
            while done in held:
                yield held.pop(done)
                done += 1
        ok = True
    finally:
        _stop(procs, inboxes, graceful=ok)


def _receive(outbox: Any, procs: list[Any]) -> tuple[str, int, Any]:
    """The next message from the workers; a worker's exception is raised here."""
    while True:
        try:
            kind, index, payload = outbox.get(timeout=POLL_S)
        except queue.Empty:
            for p in procs:
                if p.exitcode is not None:
                    raise WorkerError(
                        f"request fidelity: worker process {p.name} exited with code "
                        f"{p.exitcode} (killed, or out of memory?); run again with --workers 1 "
                        "to see it in one process"
                    ) from None
            continue
        if kind == "error":
            raise _unpack(payload)
        return kind, index, payload


def _stop(procs: list[Any], inboxes: list[Any], *, graceful: bool) -> None:
    if graceful:
        for box in inboxes:
            box.put(("stop", -1, None))
        deadline = time.monotonic() + 5.0
        for p in procs:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(timeout=5.0)
    for box in inboxes:
        box.cancel_join_thread()
        box.close()


def _worker(setup: tuple[Any, ...], inbox: Any, outbox: Any, parent_pid: int, number: int) -> None:
    """A worker's loop: draw the batches it is sent, apply the state to them when it arrives, send
    the state on and the batch's facts back."""
    watch_parent(parent_pid)
    index = -1
    try:
        scenario, horizon, entropy, spawn_key, with_pool = setup
        seq = np.random.SeedSequence(entropy, spawn_key=spawn_key)
        ctx = Context(scenario, horizon, seq, with_pool=with_pool)
        held: dict[int, Any] = {}
        while True:
            kind, index, payload = _message(inbox)
            if kind == "stop":
                return
            if kind == "gen":
                index = payload.index
                held[index] = generate(ctx, payload)
            else:  # "apply": the state, then this batch's facts
                batch = payload.apply(ctx, held.pop(index))
                outbox.put(("state", index, payload))
                del payload
                outbox.put(("facts", index, batch_facts(ctx, batch)))
    except BaseException as exc:
        outbox.put(("error", index, _pack(exc, number, index)))
    finally:
        outbox.close()
        outbox.join_thread()


def _message(inbox: Any) -> tuple[str, int, Any]:
    msg = inbox.get()
    if msg[0] == "gen":
        return "gen", msg[1].index, msg[1]
    return msg[0], msg[1], msg[2] if len(msg) > 2 else None


def _pack(exc: BaseException, number: int, index: int) -> Any:
    """The exception (so that a :class:`SimError` reads as in one process), with the worker's
    traceback as text; one that does not pickle as it is (an ``__init__`` whose arguments are
    not its ``args``, as :class:`~sim.errors.ConfigError`'s) travels as its class, arguments
    and attributes."""
    import pickle

    where = f"batch {index}" if index >= 0 else "start-up"
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
        return (exc, number, where, text)
    except Exception:
        pass
    try:
        parts = (type(exc), exc.args, dict(vars(exc)))
        pickle.dumps(parts)
        return (parts, number, where, text)
    except Exception:  # its attributes do not pickle either: its text
        return (WorkerError(f"{type(exc).__name__}: {exc}"), number, where, text)


def _unpack(payload: Any) -> BaseException:
    exc, number, where, text = payload
    if isinstance(exc, tuple):
        cls, args, attributes = exc
        exc = cls.__new__(cls)
        exc.args = args
        exc.__dict__.update(attributes)
    if not isinstance(exc, SimError):
        exc.add_note(f"in request fidelity worker {number} ({where}):\n{text}")
    return exc  # type: ignore[no-any-return]


def _context() -> Any:
    """``fork`` when this process runs one thread (a worker starts at once, with the package
    already imported: about a second sooner than a fresh interpreter), else ``forkserver``
    (workers fork from a clean server, not from a threaded parent), else ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["sim.engine.workers", "sim.meters"])
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover - not POSIX
