"""DCA1000EVM wire formats as pure functions over bytes (no sockets here).

Control (UDP): the host sends to the FPGA's port 4096 and the FPGA answers to the host's port 4096; a request is ``<H cmd H size {size}s H>`` with header ``0xA55A`` and
footer ``0xEEAA``; the FPGA answers with an 8-byte ``<HHHH>`` response (header, echoed command, status,
footer) and pushes asynchronous status packets with command ``0x0A`` on the same port.

Data (UDP, FPGA to the host's port 4098): ``u32 seq | u48 byte_count | payload`` little-endian, where
``byte_count`` is the number of payload bytes sent *before* this packet and ``seq`` starts at 1.

The FPGA sends everything (replies, status, data) from its port 1024 (:data:`FPGA_SOURCE_PORT`), as a
real DCA1000's packet captures show (``../shared/data/real``).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from rfpose.errors import ParseError

HEADER = 0xA55A
FOOTER = 0xEEAA
CONFIG_PORT = 4096
DATA_PORT = 4098
FPGA_SOURCE_PORT = 1024
MAX_DATA_BYTES = 504
MAX_BYTES_PER_PACKET = 1470
DATA_HEADER_BYTES = 10
MAX_PAYLOAD_BYTES = 1456
MAX_DATAGRAM_BYTES = DATA_HEADER_BYTES + MAX_PAYLOAD_BYTES  # 1466
RESPONSE_BYTES = 8
#: packet delay limits of CONFIG_RECORD in microseconds
MIN_PACKET_DELAY_US, MAX_PACKET_DELAY_US = 5.0, 500.0

_RESPONSE = struct.Struct("<HHHH")
_DATA_HEADER = struct.Struct("<IIH")  # seq, byte_count low 32 bits, byte_count high 16 bits


class Cmd(enum.IntEnum):
    RESET_FPGA = 0x01
    RESET_AR_DEV = 0x02
    CONFIG_FPGA = 0x03
    CONFIG_EEPROM = 0x04
    START_RECORD = 0x05
    STOP_RECORD = 0x06
    START_PLAYBACK = 0x07
    STOP_PLAYBACK = 0x08
    SYSTEM_ALIVENESS = 0x09
    ASYNC_STATUS = 0x0A
    CONFIG_RECORD = 0x0B
    CONFIG_AR_DEV = 0x0C
    INIT_FPGA_PLAYBACK = 0x0D
    READ_FPGA_VERSION = 0x0E


class AsyncStatus(enum.IntEnum):
    """``SYS_ASYNC_STATUS`` codes of the FPGA's unsolicited status packets (cmd 0x0A)."""

    NO_LVDS_DATA = 0
    NO_HEADER = 1
    EEPROM_FAILURE = 2
    SD_CARD_DETECTED = 3
    SD_CARD_REMOVED = 4
    SD_CARD_FULL = 5
    MODE_CONFIG_FAILURE = 6
    DDR_FULL = 7
    REC_COMPLETED = 8
    LVDS_BUFFER_FULL = 9
    PLAYBACK_COMPLETED = 10
    PLAYBACK_OUT_OF_SEQ = 11


def async_status_name(code: int) -> str:
    try:
        return AsyncStatus(code).name
    except ValueError:
        return f"UNKNOWN_{code}"


# -------------------------------------------------------------------------------------------------
# Requests and responses
# -------------------------------------------------------------------------------------------------


def pack_request(cmd: int, payload: bytes = b"") -> bytes:
    """The bytes of one control request; ``payload`` is at most 504 bytes."""
    if len(payload) > MAX_DATA_BYTES:
        raise ValueError(f"DCA1000 request payload of {len(payload)} bytes exceeds {MAX_DATA_BYTES}")
    n = len(payload)
    return struct.pack(f"<HHH{n}sH", HEADER, int(cmd), n, payload, FOOTER)


@dataclass(frozen=True)
class Request:
    cmd: int
    payload: bytes


def parse_request(data: bytes) -> Request:
    """Inverse of :func:`pack_request` (used by the emulator). Raises :class:`ParseError`."""
    if len(data) < 8:
        raise ParseError(f"DCA1000 request of {len(data)} bytes is shorter than 8")
    header, cmd, size = struct.unpack_from("<HHH", data)
    if header != HEADER:
        raise ParseError(f"DCA1000 request header {header:#06x} is not {HEADER:#06x}")
    if size > MAX_DATA_BYTES or len(data) != 8 + size:
        raise ParseError(f"DCA1000 request of {len(data)} bytes does not match its data size {size}")
    (footer,) = struct.unpack_from("<H", data, 6 + size)
    if footer != FOOTER:
        raise ParseError(f"DCA1000 request footer {footer:#06x} is not {FOOTER:#06x}")
    return Request(cmd, bytes(data[6:6 + size]))


@dataclass(frozen=True)
class Response:
    """An 8-byte response. ``status`` is 0 for success, 1 for failure, the version for READ_FPGA_VERSION
    and the :class:`AsyncStatus` code for an asynchronous packet (``cmd == 0x0A``)."""

    cmd: int
    status: int

    @property
    def is_async(self) -> bool:
        return self.cmd == Cmd.ASYNC_STATUS


def pack_response(cmd: int, status: int) -> bytes:
    return _RESPONSE.pack(HEADER, int(cmd), int(status), FOOTER)


def parse_response(data: bytes) -> Response:
    """Parse an 8-byte response or async status packet. Raises :class:`ParseError`."""
    if len(data) != RESPONSE_BYTES:
        raise ParseError(f"DCA1000 response of {len(data)} bytes, expected {RESPONSE_BYTES}")
    header, cmd, status, footer = _RESPONSE.unpack(data)
    if header != HEADER or footer != FOOTER:
        raise ParseError(f"DCA1000 response has header {header:#06x} / footer {footer:#06x}, "
                         f"expected {HEADER:#06x} / {FOOTER:#06x}")
    return Response(cmd, status)


# -------------------------------------------------------------------------------------------------
# Command payloads
# -------------------------------------------------------------------------------------------------


def config_fpga_payload(lvds_lanes: int, *, log_mode: int = 1, transfer_mode: int = 1, capture_mode: int = 2,
                        data_format: int = 3, timer_s: int = 30) -> bytes:
    """CONFIG_FPGA's 6 bytes: log mode (1 raw), LVDS mode (1 = 4 lanes for xWR12xx/14xx, 2 = 2 lanes),
    transfer (1 capture), capture (2 Ethernet), data format (3 = 16 bit), timer (30 s)."""
    if lvds_lanes not in (2, 4):
        raise ValueError(f"LVDS lanes must be 2 or 4, not {lvds_lanes}")
    lvds_mode = 1 if lvds_lanes == 4 else 2
    return bytes([log_mode, lvds_mode, transfer_mode, capture_mode, data_format, timer_s])


def parse_config_fpga_payload(payload: bytes) -> dict:
    if len(payload) != 6:
        raise ParseError(f"CONFIG_FPGA payload has {len(payload)} bytes, expected 6")
    keys = ("log_mode", "lvds_mode", "transfer_mode", "capture_mode", "data_format", "timer_s")
    return dict(zip(keys, payload))


def packet_delay_ticks(delay_us: float) -> int:
    """The FPGA counts the inter-packet delay in 8 ns ticks: ``delay_us * 1000 / 8``."""
    if not MIN_PACKET_DELAY_US <= delay_us <= MAX_PACKET_DELAY_US:
        raise ValueError(f"packet delay {delay_us} us is outside [{MIN_PACKET_DELAY_US:g}, {MAX_PACKET_DELAY_US:g}] us")
    return int(round(delay_us * 1000 / 8))


def config_record_payload(delay_us: float) -> bytes:
    """CONFIG_RECORD's 6 bytes: u16 1470 (bytes per packet), u16 delay in 8 ns ticks, u16 0."""
    return struct.pack("<HHH", MAX_BYTES_PER_PACKET, packet_delay_ticks(delay_us), 0)


def parse_config_record_payload(payload: bytes) -> float:
    """The packet delay in microseconds from a CONFIG_RECORD payload."""
    if len(payload) != 6:
        raise ParseError(f"CONFIG_RECORD payload has {len(payload)} bytes, expected 6")
    size, ticks, _ = struct.unpack("<HHH", payload)
    if size != MAX_BYTES_PER_PACKET:
        raise ParseError(f"CONFIG_RECORD bytes per packet {size}, expected {MAX_BYTES_PER_PACKET}")
    return ticks * 8 / 1000


@dataclass(frozen=True)
class FpgaVersion:
    major: int
    minor: int
    playback: bool

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}" + (" (playback mode)" if self.playback else "")


def decode_fpga_version(status: int) -> FpgaVersion:
    """READ_FPGA_VERSION returns the version in the status field: major ``s & 0x7F``, minor
    ``(s >> 7) & 0x7F``, bit 14 set in playback mode."""
    return FpgaVersion(status & 0x7F, (status >> 7) & 0x7F, bool(status & 0x4000))


def encode_fpga_version(major: int, minor: int, playback: bool = False) -> int:
    return (major & 0x7F) | ((minor & 0x7F) << 7) | (0x4000 if playback else 0)


# -------------------------------------------------------------------------------------------------
# Data packets
# -------------------------------------------------------------------------------------------------


def pack_data_header(seq: int, byte_count: int) -> bytes:
    """The 10-byte header of a data packet."""
    return _DATA_HEADER.pack(seq, byte_count & 0xFFFFFFFF, byte_count >> 32)


def unpack_data_header(data, offset: int = 0) -> tuple[int, int]:
    """``(seq, byte_count)`` from the first 10 bytes of a data packet (any buffer, no copy)."""
    seq, lo, hi = _DATA_HEADER.unpack_from(data, offset)
    return seq, lo | (hi << 32)


def pack_data_packet(seq: int, byte_count: int, payload: bytes) -> bytes:
    return pack_data_header(seq, byte_count) + bytes(payload)
