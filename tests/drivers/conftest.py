"""Fixtures for the driver tests: each test gets its own pair of loopback addresses (tests/loopback.py), so
the standard DCA1000 ports 4096/4098 never clash between tests or test runs."""

from __future__ import annotations

import pytest

from tests.loopback import loopback_pair


@pytest.fixture
def addrs():
    """``(host_ip, fpga_ip)`` unique to this test among the running processes."""
    return loopback_pair()


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


@pytest.fixture
def real_one_frame():
    """The real DCA1000 capture of one 16,384-byte frame (../shared/data/real): ``[(src, sport, dport, payload)]``."""
    from rfpose.drivers import pcap
    from tests.shared_data import shared_data

    datagrams, _ = pcap.read_udp(shared_data("real", "test_one_frame.pcap"))
    return [(d.src[0], d.src[1], d.dst[1], d.payload) for d in datagrams]
