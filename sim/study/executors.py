"""Executors: where the chunks of a study run. A registry (:data:`EXECUTORS`) of named factories.

* ``local``: a :class:`concurrent.futures.ProcessPoolExecutor` sized to the machine (one worker runs
  the chunks in this process);
* ``dask``: a Dask distributed cluster, by scheduler address, or ``local`` for a
  :class:`distributed.LocalCluster` of worker processes on loopback.

Every executor yields ``(task, table)`` as chunks finish, in any order; results do not depend on the
executor, because a run's randomness depends on the root seed and its index alone. A Dask task has
a key derived from the study's hash and the chunk index, so a retried or duplicated task is the same
task and its chunk is written once (under the same name).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from sim.errors import SimError
from sim.parentwatch import watch_parent
from sim.study.outcomes import ChunkTask

ChunkFunction = Callable[[ChunkTask], pa.Table]

#: Seconds to wait for a Dask scheduler to answer.
DASK_TIMEOUT_S = 10.0


class ExecutorError(SimError):
    """An executor could not be started (e.g. a Dask scheduler that does not answer)."""


def default_workers() -> int:
    """Worker processes for this machine: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ExecutorOptions:
    """What the command line says about execution."""

    workers: int | None = None
    address: str | None = None
    timeout_s: float = DASK_TIMEOUT_S


class Executor(Protocol):
    """Runs chunk tasks and yields each finished one with its table."""

    description: str
    #: Chunks it runs at once (worker processes), for sizing the chunks.
    workers: int

    def map_unordered(
        self, fn: ChunkFunction, tasks: Iterable[ChunkTask]
    ) -> Iterator[tuple[ChunkTask, pa.Table]]:
        """Run ``fn`` on every task; yield results as they finish."""
        ...

    def close(self) -> None:
        """Release workers and connections."""
        ...


class LocalExecutor:
    """A process pool on this machine; one worker runs the chunks in this process.

    At most two chunks per worker are in flight (tasks are made as they are submitted, so a study
    of millions of runs never holds all their inputs at once). Each worker watches the process
    that started the study and exits as soon as it is gone (:func:`watch_parent`), so a study
    killed with SIGKILL leaves no worker computing on.
    """

    def __init__(self, options: ExecutorOptions) -> None:
        self.workers = options.workers or default_workers()
        self.description = f"local, {self.workers} worker{'s' if self.workers != 1 else ''}"

    def map_unordered(
        self, fn: ChunkFunction, tasks: Iterable[ChunkTask]
    ) -> Iterator[tuple[ChunkTask, pa.Table]]:
        todo = iter(tasks)
        if self.workers == 1:
            for task in todo:
                yield task, fn(task)
            return
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=_context(),
            initializer=watch_parent,
            initargs=(os.getpid(),),
        )
        try:
            pending: dict[Future[pa.Table], ChunkTask] = {}

            def refill() -> None:
                while len(pending) < 2 * self.workers:
                    task = next(todo, None)
                    if task is None:
                        return
                    pending[pool.submit(fn, task)] = task

            refill()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    yield task, future.result()
                refill()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        pass


#: What the fork server imports before it forks any worker: everything a chunk needs (the engine,
#: the billing, and what they import on first use: pandas, which pyarrow imports on its first
#: array), so a worker imports nothing.
PRELOAD = (
    "sim.study.outcomes",
    "sim.api",
    "sim.engine",
    "sim.billing",
    "sim.summary",
    "pandas",
)


def _context() -> Any:
    """``forkserver`` where available (workers fork from a clean server that imported
    :data:`PRELOAD` once, not from a threaded parent), else ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        preload = [*PRELOAD, *(["sim.cli"] if "sim.cli" in sys.modules else [])]
        ctx.set_forkserver_preload(preload)
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover - not POSIX


def start_early(options: ExecutorOptions) -> None:
    """Start the local pool's fork server now, without waiting for it: it imports
    :data:`PRELOAD` (about a second) while this process draws and checks the design, so the
    workers fork at once when the runs start. Nothing for one worker or a Dask cluster."""
    if options.address is not None or (options.workers or default_workers()) < 2:
        return
    ctx = _context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class DaskExecutor:
    """A Dask distributed cluster: ``address`` of its scheduler, or ``local`` for a LocalCluster."""

    def __init__(self, options: ExecutorOptions) -> None:
        try:
            import distributed
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ExecutorError(f"--dask needs the 'distributed' package: {exc}") from None
        client_cls: Any = distributed.Client  # untyped library: keep mypy from checking calls
        cluster_cls: Any = distributed.LocalCluster
        address = options.address or "local"
        self._cluster: Any = None
        if address == "local":
            workers = options.workers or default_workers()
            self._cluster = cluster_cls(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self.client: Any = client_cls(self._cluster, timeout=f"{options.timeout_s}s")
            # (its nannies and workers end by themselves when this process is killed: tested)
            self.description = f"Dask LocalCluster, {workers} worker processes"
            self.workers = workers
        else:
            try:
                self.client = client_cls(address, timeout=f"{options.timeout_s}s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ExecutorError(
                    f"the Dask scheduler at {address!r} did not answer within "
                    f"{options.timeout_s:g} s ({exc}); nothing was written"
                ) from None
            n = len(self.client.scheduler_info().get("workers", {}))
            self.description = f"Dask cluster at {address}, {n} workers"
            self.workers = max(1, n)

    def map_unordered(
        self, fn: ChunkFunction, tasks: Iterable[ChunkTask]
    ) -> Iterator[tuple[ChunkTask, pa.Table]]:
        import distributed

        todo = iter(tasks)
        window = max(4, 2 * len(self.client.scheduler_info().get("workers", {})))
        by_key: dict[str, ChunkTask] = {}
        futures: list[Any] = []

        def submit() -> Any | None:
            task = next(todo, None)
            if task is None:
                return None
            key = f"sim-study-{task.spec.study_hash[:16]}-chunk-{task.chunk:05d}"
            by_key[key] = task
            future = self.client.submit(fn, task, key=key, retries=2)
            futures.append(future)
            return future

        first = [f for f in (submit() for _ in range(window)) if f is not None]
        as_completed: Any = distributed.as_completed
        completed: Any = as_completed(first, with_results=True)
        try:
            for future, table in completed:
                task = by_key.pop(future.key, None)
                if task is not None:  # a key delivered twice is yielded once
                    yield task, table
                future.release()
                nxt = submit()
                if nxt is not None:
                    completed.add(nxt)
        finally:
            for future in futures:
                future.release()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


#: Executor name -> factory.
EXECUTORS: dict[str, Callable[[ExecutorOptions], Executor]] = {
    "local": LocalExecutor,
    "dask": DaskExecutor,
}


def open_executor(name: str, options: ExecutorOptions) -> Executor:
    """Start an executor by name (see :data:`EXECUTORS`)."""
    return EXECUTORS[name](options)
