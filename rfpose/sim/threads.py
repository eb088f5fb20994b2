"""Run small linear algebra on one BLAS thread.

The simulator's matrix products are small (hundreds of rows); OpenBLAS threads only add spin-waiting, and
on a machine whose cores are busy they slow a frame down by ten times or more. Parallelism, when wanted,
belongs at the frame level (one process per stream or frame range).
"""

from __future__ import annotations

import contextlib

_CONTROLLER = None


def single_blas_thread():
    """A context manager limiting BLAS to one thread (a no-op without threadpoolctl)."""
    global _CONTROLLER
    try:
        if _CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
        return _CONTROLLER.limit(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover - optional dependency
        return contextlib.nullcontext()
