"""Process pools whose workers do not outlive the process that started them.

A pool's workers keep running their task when the parent is killed (SIGTERM or SIGKILL from a user stopping a
build). A restarted build then writes the same session as the orphan. On Linux each worker asks the kernel for
SIGTERM when its parent exits (``PR_SET_PDEATHSIG``). The kernel ties that to the parent *thread* that started the
worker, so submit work from a thread that lives as long as the pool (the main thread, as every caller here does).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def process_pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A ``spawn`` process pool of ``workers`` processes that exit when this process does."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                               initargs=(os.getpid(), initializer, initargs))


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel send this process SIGTERM when its parent exits (Linux; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent went before the request took effect
            os._exit(1)


def _start_worker(parent_pid: int, initializer: Callable | None, initargs: tuple) -> None:
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)
