"""Worker processes that exit when the process that started them is gone: a study's pool
(:mod:`sim.study.executors`) and ``request`` fidelity's workers (:mod:`sim.engine.workers`)."""

from __future__ import annotations

import os
import threading
import time

#: Seconds between a worker's checks that the process that started it is alive.
WATCH_INTERVAL_S = 0.5


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:  # pragma: no cover - no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def watch_parent(main_pid: int) -> None:
    """Exit this process as soon as ``main_pid`` (the study's or the run's process) or this
    process's own parent is gone: a thread checks every :data:`WATCH_INTERVAL_S` seconds, and on
    Linux the kernel also sends SIGKILL when the parent dies (``PR_SET_PDEATHSIG``)."""
    parent = os.getppid()
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass

    def watch() -> None:
        while True:
            time.sleep(WATCH_INTERVAL_S)
            if os.getppid() != parent or not pid_alive(main_pid):
                os._exit(1)

    threading.Thread(target=watch, name="sim-watch-parent", daemon=True).start()
