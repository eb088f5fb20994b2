"""Loopback address pairs for tests that run real UDP on the DCA1000's fixed ports (4096/4098): all of
127.0.0.0/8 is local on Linux, so a pair of addresses of its own lets a test bind those ports without clashing
with another test or with another test run on the same machine (two octets from the process id, the last
from a per-process counter)."""

from __future__ import annotations

import itertools
import os

_pairs = itertools.count()


def loopback_pair() -> tuple[str, str]:
    """``(host_ip, fpga_ip)`` unique to this call among the processes running now (pids below 62,500 apart)."""
    pid = os.getpid()
    a, b = 1 + (pid // 250) % 250, 1 + pid % 250
    c = next(_pairs) % 126
    return f"127.{a}.{b}.{2 * c + 1}", f"127.{a}.{b}.{2 * c + 2}"
