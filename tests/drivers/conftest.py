"""Fixtures for the driver tests: each test gets its own pair of loopback addresses (all of 127.0.0.0/8
is local on Linux), so the standard DCA1000 ports 4096/4098 never clash between tests or engineers."""

from __future__ import annotations

import itertools
import os

import pytest

_octets = itertools.count(1)


@pytest.fixture
def addrs():
    """``(host_ip, fpga_ip)`` unique to this test process and test."""
    a = 100 + os.getpid() % 100
    b = next(_octets) % 250 + 1
    return f"127.{a}.{b}.1", f"127.{a}.{b}.2"


@pytest.fixture
def emulated_rig(tmp_path, addrs):
    """``emulated_rig(extra="") -> path``: a rig file with one emulated AWR1843 DCA1000 radar on this test's
    addresses streaming the counter pattern; ``extra`` adds ``[sensors.emulation]`` lines."""
    host, fpga = addrs

    def make(extra: str = ""):
        p = tmp_path / "rig.toml"
        p.write_text(f"""
[rig]
name = "t"
emulate = true
[[sensors]]
name = "radar"
kind = "radar"
board = "awr1843boost"
cfg = "awr1843boost.cfg"
host_ip = "{host}"
fpga_ip = "{fpga}"
packet_delay_us = 5
[sensors.emulation]
adc = "counter"
{extra}
""")
        return p

    return make
