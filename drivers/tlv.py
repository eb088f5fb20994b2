"""The SDK demo's processed output on the data UART: TLV packets as pure functions over bytes.

A packet is a 40-byte header (magic ``02 01 04 03 06 05 08 07``, then u32 version, totalPacketLen,
platform, frameNumber, timeCpuCycles, numDetectedObj, numTLVs, subFrameNumber), then TLVs of
``u32 type, u32 length`` (payload bytes) + payload, padded to a multiple of 32 bytes. Type 1 holds
detected points (float32 x, y, z in m, v in m/s; TI axes x right, y forward, z up); type 7 their side
info (int16 snr, noise in 0.1 dB). Points are returned in the rfpose radar frame (x forward, y left,
z up). :class:`TlvStreamParser` finds packets in a byte stream, resyncing on the magic word and
counting (never raising on) bad packets.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from rfpose.errors import ParseError

MAGIC = bytes([2, 1, 4, 3, 6, 5, 8, 7])
HEADER = struct.Struct("<8s8I")
HEADER_BYTES = HEADER.size  # 40
TLV_HEADER = struct.Struct("<II")
SEGMENT_BYTES = 32
MAX_PACKET_BYTES = 1 << 16

TLV_POINTS = 1
TLV_SIDE_INFO = 7

#: A detected point in the rfpose radar frame (m, m/s; velocity positive when receding) with SNR and
#: noise in dB.
POINT_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("velocity", "<f4"),
                        ("snr_db", "<f4"), ("noise_db", "<f4")])
_TI_POINT = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("v", "<f4")])
_TI_SIDE = np.dtype([("snr", "<i2"), ("noise", "<i2")])


@dataclass(frozen=True)
class TlvHeader:
    version: int
    total_packet_len: int
    platform: int
    frame_number: int
    time_cpu_cycles: int
    num_detected_obj: int
    num_tlvs: int
    sub_frame_number: int


@dataclass
class DemoFrame:
    """One parsed packet: header, points (:data:`POINT_DTYPE`, radar frame) and skipped TLV types."""

    header: TlvHeader
    points: np.ndarray
    skipped_tlv_types: list[int] = field(default_factory=list)


def pack_header(h: TlvHeader) -> bytes:
    return HEADER.pack(MAGIC, h.version, h.total_packet_len, h.platform, h.frame_number, h.time_cpu_cycles,
                       h.num_detected_obj, h.num_tlvs, h.sub_frame_number)


def parse_header(data, offset: int = 0) -> TlvHeader:
    if len(data) - offset < HEADER_BYTES:
        raise ParseError(f"TLV header needs {HEADER_BYTES} bytes, got {len(data) - offset}")
    magic, *fields = HEADER.unpack_from(data, offset)
    if magic != MAGIC:
        raise ParseError(f"TLV packet does not start with the magic word (got {bytes(magic).hex(' ')})")
    return TlvHeader(*fields)


def ti_to_radar_axes(x_ti, y_ti, z_ti):
    """TI (x right, y forward, z up) to rfpose (x forward, y left, z up)."""
    return y_ti, -np.asarray(x_ti), z_ti


def pack_packet(frame_number: int, points_radar: np.ndarray, *, snr_db=None, noise_db=None, version: int = 0x03050004,
                platform: int = 0xA1843, extra_tlvs: list[tuple[int, bytes]] = (), sub_frame: int = 0) -> bytes:
    """Build a packet from points in the radar frame ``(N, 4)`` x, y, z, v (used by the emulator and
    tests); SNR/noise in dB become a type-7 TLV when given. Padded to a multiple of 32 bytes."""
    pts = np.asarray(points_radar, np.float32).reshape(-1, 4)
    n = len(pts)
    ti = np.empty(n, _TI_POINT)
    ti["x"], ti["y"], ti["z"], ti["v"] = -pts[:, 1], pts[:, 0], pts[:, 2], pts[:, 3]
    tlvs = [(TLV_POINTS, ti.tobytes())]
    if snr_db is not None:
        side = np.empty(n, _TI_SIDE)
        side["snr"] = np.round(np.asarray(snr_db) * 10)
        side["noise"] = np.round(np.asarray(noise_db if noise_db is not None else np.zeros(n)) * 10)
        tlvs.append((TLV_SIDE_INFO, side.tobytes()))
    tlvs.extend(extra_tlvs)
    body = b"".join(TLV_HEADER.pack(t, len(p)) + p for t, p in tlvs)
    total = HEADER_BYTES + len(body)
    total += (-total) % SEGMENT_BYTES
    header = pack_header(TlvHeader(version, total, platform, frame_number, 0, n, len(tlvs), sub_frame))
    return (header + body).ljust(total, b"\0")


def parse_packet(data) -> DemoFrame:
    """Parse one complete packet (``len(data) == totalPacketLen``). Raises :class:`ParseError`."""
    h = parse_header(data)
    if not HEADER_BYTES <= h.total_packet_len <= MAX_PACKET_BYTES:
        raise ParseError(f"TLV frame {h.frame_number}: totalPacketLen {h.total_packet_len} is implausible")
    if len(data) < h.total_packet_len:
        raise ParseError(f"TLV frame {h.frame_number}: {len(data)} bytes, header says {h.total_packet_len}")
    off, end = HEADER_BYTES, h.total_packet_len
    points = side = None
    skipped: list[int] = []
    for i in range(h.num_tlvs):
        if off + TLV_HEADER.size > end:
            raise ParseError(f"TLV frame {h.frame_number}: TLV {i} header runs past the packet end")
        ttype, length = TLV_HEADER.unpack_from(data, off)
        off += TLV_HEADER.size
        if length > end - off:
            raise ParseError(f"TLV frame {h.frame_number}: TLV {i} (type {ttype}) length {length} runs past the "
                             f"packet end")
        payload = bytes(data[off:off + length])
        off += length
        if ttype == TLV_POINTS:
            if length != 16 * h.num_detected_obj:
                raise ParseError(f"TLV frame {h.frame_number}: point TLV has {length} bytes for "
                                 f"{h.num_detected_obj} objects (16 bytes each)")
            points = np.frombuffer(payload, _TI_POINT)
        elif ttype == TLV_SIDE_INFO:
            if length != 4 * h.num_detected_obj:
                raise ParseError(f"TLV frame {h.frame_number}: side-info TLV has {length} bytes for "
                                 f"{h.num_detected_obj} objects (4 bytes each)")
            side = np.frombuffer(payload, _TI_SIDE)
        else:
            skipped.append(ttype)
    if end - off >= SEGMENT_BYTES:
        # more than padding after the last TLV: a corrupted (larger) totalPacketLen would swallow the
        # packets that follow in a stream
        raise ParseError(f"TLV frame {h.frame_number}: totalPacketLen {end} leaves {end - off} bytes after the "
                         f"last TLV (at most {SEGMENT_BYTES - 1} of padding)")
    if points is None and h.num_detected_obj:
        raise ParseError(f"TLV frame {h.frame_number}: {h.num_detected_obj} objects but no point TLV")
    n = 0 if points is None else len(points)
    out = np.zeros(n, POINT_DTYPE)
    if n:
        out["x"], out["y"], out["z"] = ti_to_radar_axes(points["x"], points["y"], points["z"])
        out["velocity"] = points["v"]
        if side is not None:
            out["snr_db"] = side["snr"] * 0.1
            out["noise_db"] = side["noise"] * 0.1
        else:
            out["snr_db"] = out["noise_db"] = np.nan
    return DemoFrame(h, out, skipped)


class TlvStreamParser:
    """Find and parse packets in a byte stream; bad packets are counted and skipped with a resync."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.packets = 0
        self.bad_packets = 0
        self.skipped_bytes = 0
        self.last_error: str | None = None

    def feed(self, data: bytes) -> list[DemoFrame]:
        self.buf += data
        out: list[DemoFrame] = []
        buf = self.buf
        while True:
            i = buf.find(MAGIC)
            if i < 0:
                keep = len(MAGIC) - 1  # a magic word may be split across reads
                if len(buf) > keep:
                    self.skipped_bytes += len(buf) - keep
                    del buf[:len(buf) - keep]
                break
            if i:
                self.skipped_bytes += i
                del buf[:i]
            if len(buf) < HEADER_BYTES:
                break
            (total,) = struct.unpack_from("<I", buf, 12)
            if not HEADER_BYTES <= total <= MAX_PACKET_BYTES:
                self._bad(f"totalPacketLen {total} is implausible")
                continue
            nxt = buf.find(MAGIC, len(MAGIC), min(len(buf), total))
            if nxt >= 0:  # the next packet starts inside this one: its totalPacketLen is corrupt
                self._bad(f"totalPacketLen {total}, but the next packet starts at byte {nxt}")
                continue
            if len(buf) < total:
                break
            try:
                frame = parse_packet(bytes(buf[:total]))
            except ParseError as e:
                self._bad(str(e))
                continue
            del buf[:total]
            self.packets += 1
            out.append(frame)
        return out

    def _bad(self, reason: str) -> None:
        self.bad_packets += 1
        self.last_error = reason
        self.skipped_bytes += 1
        del self.buf[:1]  # resync on the next magic word
