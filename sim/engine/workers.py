"""``request`` fidelity on several cores: worker processes draw and meter the batches, the ordered
state visits them in time order.

Batch ``b`` belongs to worker ``b mod N``. The run's process draws the per-second counts in time
order (:func:`sim.engine.core.source_batches`: cheap, and an arrival process carries state from one
window to the next) and sends each batch's counts to its worker, which draws the batch from the
batch's own streams (:func:`sim.rng.batch_streams`) and keeps it. The state that spans batches
(:class:`sim.engine.core.OrderedState`: token buckets, caches, Lambda executions still running,
CloudFront's pool) then travels around a ring of pipes, worker to worker in batch order: the worker
holding batch ``b`` receives it from the worker before it, applies it (cheap where no mechanism
acts) and sends it on at once to the worker holding ``b + 1``, then meters the batch and sends this
process its facts (a few hundred numbers: :class:`sim.meters.BatchFacts`), which it adds in time
order. The state never waits for this process, and this process handles two messages a batch.
Nothing per request crosses a process boundary (but a detailed process's requests: sessions, a
replayed log), and the meters are those of one process: the same batches, the same state, the same
sums in the same order.

Workers are forked from this process when it runs a single thread (they start at once, the package
already imported), else from a forkserver. They exit when this process is gone
(:func:`watch_parent`); an exception in a worker is raised here as it would have been in one
process, with the worker's traceback as a note.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import multiprocessing
import os
import pickle
import queue
import threading
import time
import traceback
from collections.abc import Iterator
from multiprocessing import connection as mp_connection
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

#: glibc's ``M_TOP_PAD`` parameter of ``mallopt`` (``malloc.h``): the bytes added to each growth of
#: the heap, and kept at its top when freed memory is given back to the kernel.
M_TOP_PAD = -2
#: A worker's heap pad (glibc's default is 128 KiB): see :func:`keep_heap_pad`.
HEAP_TOP_PAD = 64 << 20

#: Batches a worker draws before their state arrives (each a batch's arrays in memory).
LOOKAHEAD = 2
#: Per worker, the batches' counts sent ahead (small: a count per second); a detailed source's
#: requests are sent one batch ahead.
SOURCES_AHEAD = 4
#: The ring's pipes are asked to hold this many bytes (Linux: ``F_SETPIPE_SZ``, 1 MiB at most
#: without privileges). A state whose message fits what a pipe holds goes straight to the next
#: worker (it never blocks: one state is in flight at a time, so the pipe is empty); a larger one
#: (a big cache travelling with it) is relayed by the run's process, which reads it at once, so
#: that the sender goes on metering rather than wait for the next worker to read.
RING_BYTES = 1 << 20

#: What the run's process imports after the simulation, imported while the workers run (it mostly
#: waits for them then): pandas, which pyarrow imports on the meter table's first array, and Acero,
#: which the summary's ``group_by`` loads; the outputs' modules; then the report's template is
#: compiled. On 2 cores the 0.3 s these take moves from after the workers into their time (where
#: it costs half, sharing the cores); with a core to spare it is free. One that fails is skipped.
LATER_IMPORTS = ("pandas", "pyarrow.acero", "sim.reprice", "sim.summary", "sim.report")


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
    inboxes: list[Any] = [mp.Queue() for _ in range(workers)]
    answers = [mp.Pipe(duplex=False) for _ in range(workers)]
    ring = [mp.Pipe(duplex=False) for _ in range(workers)]  # ring[w]: into worker w
    room = min(_pipe_room(reader) for reader, _ in ring)
    seq = ctx.seq
    setup = (
        ctx.scenario, ctx.horizon, seq.entropy, tuple(seq.spawn_key), ctx.with_pool, n_batches,
        room,
    )  # fmt: skip
    procs = [
        mp.Process(
            target=_worker,
            args=(
                setup,
                (inboxes[w], ring[w][0], ring[(w + 1) % workers][1], answers[w][1]),
                os.getpid(),
                w,
            ),
            name=f"sim-request-worker-{w}",
            daemon=True,
        )
        for w in range(workers)
    ]
    readers = _Readers([reader for reader, _ in answers], procs)
    later: threading.Thread | None = None
    ok = False
    try:
        for p in procs:
            p.start()
        # the workers hold these (forked workers hold every worker's: a dead worker is found by
        # its exit code, not by its pipe's end)
        for end in (*(writer for _, writer in answers), *(e for pipe in ring for e in pipe)):
            end.close()
        # started after the forks (a child forked while a thread imports could inherit a held
        # lock)
        later = threading.Thread(target=_import_quietly, args=(LATER_IMPORTS,), daemon=True)
        later.start()
        sources = source_batches(ctx.scenario, ctx.horizon, arrivals)

        def send_source() -> bool:
            src = next(sources, None)
            if src is not None:
                inboxes[src.index % workers].put(("gen", src))
            return src is not None and src.counts is not None

        ahead = workers * (SOURCES_AHEAD if send_source() else 1)  # a detailed source: 1
        for _ in range(ahead - 1):
            send_source()
        inboxes[0].put(("apply", 0, OrderedState.for_context(ctx)))
        held: dict[int, Any] = {}
        done = 0
        while done < n_batches:
            kind, index, payload = readers.receive()
            if kind == "relay":  # a state too large for the ring, on its way to its batch
                inboxes[index % workers].put((kind, index, payload))
                continue
            held[index] = payload
            send_source()  # one batch's counts out for each batch's facts in
            while done in held:
                yield held.pop(done)
                done += 1
        ok = True
    finally:
        _stop(procs, inboxes, readers, graceful=ok)
        if later is not None:  # the next run forks from one thread again (bounded: at exit a
            later.join(None if ok else 10.0)  # daemon thread may never end)


def _pipe_room(pipe: Any) -> int:
    """The bytes a message on ``pipe`` may take and still be written at once into the empty pipe:
    its capacity, raised to :data:`RING_BYTES` where Linux allows, less a message header."""
    import select

    room = select.PIPE_BUF  # what POSIX promises any pipe holds
    try:
        import fcntl

        set_size = fcntl.F_SETPIPE_SZ  # Linux only
        room = fcntl.fcntl(pipe.fileno(), fcntl.F_GETPIPE_SZ)
        if room < RING_BYTES:
            room = fcntl.fcntl(pipe.fileno(), set_size, RING_BYTES)
    except (ImportError, AttributeError, OSError):  # not Linux, or a lower limit
        pass
    return min(room, RING_BYTES) - 16  # Connection's header: 4 bytes, 12 for a huge message


def _import_quietly(names: tuple[str, ...]) -> None:
    """Import each of ``names`` that is there, then compile the run report's template (what
    fails is left to its user, who meets it again)."""
    import importlib

    for name in names:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        from sim.report import prepare

        prepare("run")


class _Readers:
    """The pipes the workers answer on: the next message from any of them; a worker's exception
    is raised here, and a worker that died is a :class:`WorkerError`."""

    def __init__(self, pipes: list[Any], procs: list[Any]) -> None:
        self.pipes = pipes
        self.procs = procs
        self.pending: collections.deque[tuple[str, int, Any]] = collections.deque()

    def receive(self) -> tuple[str, int, Any]:
        while not self.pending:
            ready: list[Any] = mp_connection.wait(self.pipes, timeout=POLL_S)
            for pipe in ready:
                try:
                    self.pending.append(pipe.recv())
                except EOFError:  # the worker is gone without a word
                    self._died()
            if not self.pending:
                self._died(only_if_exited=True)
        kind, index, payload = self.pending.popleft()
        if kind == "error":
            raise _unpack(payload)
        return kind, index, payload

    def _died(self, *, only_if_exited: bool = False) -> None:
        if not only_if_exited:
            for p in self.procs:
                if p.exitcode is None:
                    p.join(timeout=POLL_S)
        # a worker whose neighbour died leaves quietly (code 0): name one that failed first
        exited = sorted(
            (p for p in self.procs if p.exitcode is not None), key=lambda p: p.exitcode == 0
        )
        if exited:
            raise WorkerError(
                f"request fidelity: worker process {exited[0].name} exited with code "
                f"{exited[0].exitcode} (killed, or out of memory?); run again with --workers 1 "
                "to see it in one process"
            )
        if not only_if_exited:  # pragma: no cover - a closed pipe and every worker alive
            raise WorkerError("request fidelity: a worker process closed its pipe")

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.close()


def _stop(procs: list[Any], inboxes: list[Any], readers: _Readers, *, graceful: bool) -> None:
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
        box.close()
        if graceful:
            box.join_thread()  # every message read: the queue's thread ends at once
        else:  # a worker may be gone with messages unread: do not wait to send them
            box.cancel_join_thread()
    readers.close()


class _NeighbourGoneError(Exception):
    """The worker before or after this one on the ring is gone (the run's process reports it)."""


def _worker(setup: tuple[Any, ...], pipes: tuple[Any, ...], parent_pid: int, number: int) -> None:
    """A worker's loop: draw the batches it is sent, at most :data:`LOOKAHEAD` ahead; when the
    state for its oldest drawn batch arrives (the first from the run's process, every other from
    the worker before it), apply it, send it on at once to the next worker, then send the run's
    process the batch's facts. Messages are taken as they come, so a state never waits behind a
    draw that could wait."""
    from multiprocessing.reduction import ForkingPickler

    watch_parent(parent_pid)
    keep_heap_pad()
    inbox, state_in, state_out, answers = pipes
    index = -1
    try:
        scenario, horizon, entropy, spawn_key, with_pool, n_batches, room = setup
        seq = np.random.SeedSequence(entropy, spawn_key=spawn_key)
        ctx = Context(scenario, horizon, seq, with_pool=with_pool)
        drawn: dict[int, Any] = {}  # batches drawn, waiting for the state
        sources: collections.deque[Any] = collections.deque()  # batches to draw, in order
        states: dict[int, Any] = {}  # the state, for batches of this worker
        while True:
            ready = next((i for i in states if i in drawn), None)
            can_draw = bool(sources) and len(drawn) < LOOKAHEAD
            for kind, index, payload in _messages(
                inbox, state_in, wait=ready is None and not can_draw
            ):
                if kind == "stop":
                    return
                if kind == "gen":
                    sources.append(payload)
                else:
                    states[index] = payload
            ready = next((i for i in states if i in drawn), None)
            if ready is not None:
                index = ready
                state = states.pop(index)
                batch = state.apply(ctx, drawn.pop(index))
                if index + 1 < n_batches:
                    message = ForkingPickler.dumps(("apply", index + 1, state))
                    if len(message) <= room:
                        try:
                            state_out.send_bytes(message)
                        except OSError as exc:  # BrokenPipeError: the next worker is gone
                            raise _NeighbourGoneError from exc
                    else:
                        answers.send(("relay", index + 1, bytes(message)))
                    del message
                del state
                answers.send(("facts", index, batch_facts(ctx, batch)))
                del batch
            elif sources and len(drawn) < LOOKAHEAD:
                src = sources.popleft()
                index = src.index
                drawn[index] = generate(ctx, src)
    except _NeighbourGoneError:
        return  # the run's process names the worker that died
    except BaseException as exc:
        with contextlib.suppress(OSError):  # the run's process is gone
            answers.send(("error", index, _pack(exc, number, index)))
    finally:
        answers.close()


def keep_heap_pad() -> None:
    """Let this process's heap grow and shrink by :data:`HEAP_TOP_PAD` at a time (glibc).

    A worker allocates and frees each batch's arrays (a few MiB each) over and over; with glibc's
    default pad its heap goes back to the kernel and comes back page by page, each page a fault
    that zeroes it: 300,000 faults and 0.4 s of system time in the workers of the seed month,
    against 17,000 faults and 0.2 s with the pad (measured with ``getrusage``). The cost is at most
    the pad in resident memory. Nothing happens where the C library has no ``mallopt``."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mallopt(M_TOP_PAD, HEAP_TOP_PAD)


def _messages(inbox: Any, state_in: Any, *, wait: bool) -> list[tuple[str, int, Any]]:
    """Every message waiting in ``inbox`` (from the run's process: counts, the first state, a
    relayed state, the stop) and on ``state_in`` (the state, from the worker before), at least one
    if ``wait``."""

    # the queue's receiving end (CPython's ``multiprocessing.Queue`` reads from a pipe) is waited
    # on with the ring's pipe: a state wakes the worker as soon as it comes
    if wait:
        mp_connection.wait([inbox._reader, state_in])
    out: list[tuple[str, int, Any]] = []
    try:
        while state_in.poll():
            out.append(state_in.recv())
    except (EOFError, OSError) as exc:  # the worker before is gone
        raise _NeighbourGoneError from exc
    while True:
        try:
            msg = inbox.get_nowait()
        except queue.Empty:
            return out
        if msg[0] == "gen":
            out.append(("gen", msg[1].index, msg[1]))
        elif msg[0] == "relay":
            out.append(pickle.loads(msg[2]))
        else:
            out.append((msg[0], msg[1], msg[2]))


def _pack(exc: BaseException, number: int, index: int) -> Any:
    """The exception (so that a :class:`SimError` reads as in one process), with the worker's
    traceback as text; one that does not pickle as it is (an ``__init__`` whose arguments are
    not its ``args``, as :class:`~sim.errors.ConfigError`'s) travels as its class, arguments
    and attributes."""
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
