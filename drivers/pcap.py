"""libpcap capture files as pure functions over bytes: the UDP datagrams a Wireshark or tcpdump capture holds.

A file is a 24-byte global header (magic ``a1b2c3d4`` for microsecond or ``a1b23c4d`` for nanosecond time
stamps, in the writer's byte order; version; snaplen; link type) and records of a 16-byte header
(seconds, fraction, captured length, original length) plus the captured bytes. Link types: Ethernet (1, with
802.1Q VLAN tags), raw IPv4 (101, 228) and Linux cooked capture (113, ``tcpdump -i any``). IPv4 only; the UDP
payload length comes from the UDP header, so Ethernet padding of short frames is dropped. Records that are not
UDP over IPv4, fragments and records cut short by the snap length are counted and skipped
(:class:`PcapStats`); a header that is not a pcap file, or a record running past the end of the file, raises
:class:`~rfpose.errors.ParseError` or is counted as ``truncated`` (a capture cut off mid-record).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rfpose.errors import ParseError

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
GLOBAL_HEADER_BYTES = 24
RECORD_HEADER_BYTES = 16
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
_L2_BYTES = {LINKTYPE_ETHERNET: 14, LINKTYPE_RAW: 0, LINKTYPE_IPV4: 0, LINKTYPE_LINUX_SLL: 16}
_ETH_IPV4, _ETH_VLAN = 0x0800, 0x8100


@dataclass(frozen=True)
class PcapHeader:
    byte_order: str  # "<" or ">"
    nanoseconds: bool
    version: tuple[int, int]
    snaplen: int
    linktype: int


@dataclass(frozen=True)
class UdpDatagram:
    """One UDP datagram: capture time (ns since the epoch), source and destination ``(ip, port)``, payload."""

    timestamp_ns: int
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


@dataclass
class PcapStats:
    records: int = 0
    udp: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> records
    truncated: bool = False  # the file ends inside a record

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def parse_global_header(data: bytes, where: str = "<bytes>") -> PcapHeader:
    if len(data) < GLOBAL_HEADER_BYTES:
        raise ParseError(f"{where}: {len(data)} bytes is too short for a pcap header ({GLOBAL_HEADER_BYTES})")
    for order in "<>":
        (magic,) = struct.unpack_from(order + "I", data)
        if magic in (MAGIC_US, MAGIC_NS):
            major, minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from(order + "HHiIII", data, 4)
            if linktype not in _L2_BYTES:
                raise ParseError(f"{where}: pcap link type {linktype} is not supported (Ethernet 1, raw IPv4 101/228, "
                                 "Linux cooked 113)")
            return PcapHeader(order, magic == MAGIC_NS, (major, minor), snaplen, linktype)
    raise ParseError(f"{where}: not a pcap file (magic {data[:4].hex(' ')}; pcapng is not supported, save as pcap)")


def _ipv4_udp(frame: bytes, offset: int, stats: PcapStats):
    """(src, dst, payload) of a UDP/IPv4 packet starting at ``offset``, or None (counted)."""
    if len(frame) - offset < 20 or frame[offset] >> 4 != 4:
        stats.skip("not IPv4")
        return None
    ihl = (frame[offset] & 0x0F) * 4
    total, = struct.unpack_from(">H", frame, offset + 2)
    flags_frag, = struct.unpack_from(">H", frame, offset + 6)
    if frame[offset + 9] != 17:
        stats.skip("not UDP")
        return None
    if flags_frag & 0x3FFF:  # more-fragments flag or a fragment offset
        stats.skip("IP fragment")
        return None
    udp = offset + ihl
    if ihl < 20 or len(frame) < udp + 8 or total < ihl + 8:
        stats.skip("short IPv4/UDP header")
        return None
    sport, dport, length = struct.unpack_from(">HHH", frame, udp)
    if length < 8 or udp + length > len(frame):
        stats.skip("UDP length beyond the captured bytes")
        return None
    src = ".".join(map(str, frame[offset + 12:offset + 16]))
    dst = ".".join(map(str, frame[offset + 16:offset + 20]))
    return (src, sport), (dst, dport), bytes(frame[udp + 8:udp + length])


def _network_offset(frame: bytes, linktype: int) -> int | None:
    """Where the IPv4 header starts in a link-layer frame, or None when the frame carries no IPv4."""
    if linktype == LINKTYPE_ETHERNET:
        off = 12
        while len(frame) >= off + 2:
            (ethertype,) = struct.unpack_from(">H", frame, off)
            if ethertype != _ETH_VLAN:
                return off + 2 if ethertype == _ETH_IPV4 else None
            off += 4
        return None
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16 or struct.unpack_from(">H", frame, 14)[0] != _ETH_IPV4:
            return None
        return 16
    return 0


def iter_udp(data: bytes, stats: PcapStats | None = None, where: str = "<bytes>") -> Iterator[UdpDatagram]:
    """The UDP datagrams of a pcap file's bytes, in file order."""
    stats = PcapStats() if stats is None else stats
    h = parse_global_header(data, where)
    rec = struct.Struct(h.byte_order + "IIII")
    scale = 1 if h.nanoseconds else 1000
    off = GLOBAL_HEADER_BYTES
    while off < len(data):
        if len(data) - off < RECORD_HEADER_BYTES:
            stats.truncated = True
            return
        sec, frac, incl, _orig = rec.unpack_from(data, off)
        off += RECORD_HEADER_BYTES
        if incl > len(data) - off:
            stats.truncated = True
            return
        frame = data[off:off + incl]
        off += incl
        stats.records += 1
        net = _network_offset(frame, h.linktype)
        if net is None:
            stats.skip("not IPv4")
            continue
        got = _ipv4_udp(frame, net, stats)
        if got is None:
            continue
        stats.udp += 1
        yield UdpDatagram(sec * 1_000_000_000 + frac * scale, *got)


def read_udp(path: str | Path) -> tuple[list[UdpDatagram], PcapStats]:
    """Every UDP datagram of a pcap file, with the counts of what was skipped."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ParseError(f"{p}: cannot read ({e.strerror})") from None
    stats = PcapStats()
    return list(iter_udp(data, stats, str(p))), stats
