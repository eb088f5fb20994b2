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


def real_data_dir():
    """``../shared/data/real`` beside the repository (or beside a parent of it, for git worktrees)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for up in (root, *root.parents):
        d = up.parent / "shared" / "data" / "real"
        if d.is_dir():
            return d
    pytest.skip("../shared/data/real is not present")


def read_pcap_udp(path):
    """``[(src_ip, src_port, dst_port, payload)]`` of the UDP datagrams in a little-endian Ethernet pcap."""
    import struct

    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    out, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ip = frame[14:]
        ihl = (ip[0] & 0xF) * 4
        src = ".".join(str(b) for b in ip[12:16])
        sport, dport, ulen = struct.unpack_from(">HHH", ip, ihl)
        out.append((src, sport, dport, ip[ihl + 8:ihl + ulen]))
    return out


@pytest.fixture
def real_one_frame():
    """The real DCA1000 capture of one 16,384-byte frame: its UDP datagrams."""
    return read_pcap_udp(real_data_dir() / "test_one_frame.pcap")
