"""Pool workers do not outlive the process that started them (real processes, killed with SIGKILL)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")

SCRIPT = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
from rfpose.worker_pool import process_pool

if __name__ == "__main__":
    pool = process_pool(1) if sys.argv[1] == "guarded" else ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"))
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 120)  # a long task, as a session being simulated
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:  # an exited child of a dead parent may linger as a zombie until something reaps it
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("pool", ["guarded", "plain"])
def test_a_worker_dies_with_its_killed_parent_where_a_plain_pools_does_not(tmp_path, pool):
    script = tmp_path / "pool.py"
    script.write_text(textwrap.dedent(SCRIPT))
    parent = subprocess.Popen([sys.executable, str(script), pool], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)  # the dead parent's resource tracker warns
    worker = int(parent.stdout.readline())
    assert _alive(worker)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + (10 if pool == "guarded" else 3)
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert _alive(worker) == (pool == "plain")
    finally:
        if _alive(worker):
            os.kill(worker, signal.SIGKILL)
