"""The SDK demo's processed output on the data UART: TLV packets as pure functions over bytes.

A packet is a header (magic ``02 01 04 03 06 05 08 07``, then u32 version, totalPacketLen, platform,
frameNumber, timeCpuCycles, numDetectedObj, numTLVs and, from SDK 2.0 on, subFrameNumber: 40 bytes, 36
in SDK 1.x), then TLVs of ``u32 type, u32 length`` (payload bytes) + payload, padded to a multiple of 32
bytes. ``version`` is ``major << 24 | minor << 16 | bugfix << 8 | build`` (SDK 3.5.0.4 = 0x03050004).

Type 1 holds the detected points, in one of two formats:

- SDK 3.x: float32 x, y, z in m and v in m/s per point (TI axes x right, y forward, z up);
- SDK 1.x/2.x: a descriptor ``u16 numDetectedObj, u16 xyzQFormat``, then per point ``u16 rangeIdx,
  i16 dopplerIdx, u16 peakVal, i16 x, i16 y, i16 z`` with x, y, z in metres × 2^xyzQFormat. The Doppler
  index becomes m/s only with the configuration's velocity resolution (:class:`DopplerScale`); SDK 1.x
  sends it unsigned, so indices of the upper half of the Doppler FFT are negative velocities.

Type 7 (SDK 3.x) is the points' side info (int16 snr, noise in 0.1 dB). Points are returned in the
rfpose radar frame (x forward, y left, z up). :class:`TlvStreamParser` finds packets in a byte stream,
resyncing on the magic word and counting (never raising on) bad packets.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from rfpose.errors import ParseError
from rfpose.source import RADAR_POINT_DTYPE

MAGIC = bytes([2, 1, 4, 3, 6, 5, 8, 7])
HEADER = struct.Struct("<8s8I")
HEADER_BYTES = HEADER.size  # 40
HEADER_SDK1 = struct.Struct("<8s7I")
HEADER_BYTES_SDK1 = HEADER_SDK1.size  # 36: SDK 1.x has no subFrameNumber
TLV_HEADER = struct.Struct("<II")
SEGMENT_BYTES = 32
MAX_PACKET_BYTES = 1 << 16

TLV_POINTS = 1
TLV_SIDE_INFO = 7

#: The parsed points are the core radar point type (x, y, z in m in the rfpose radar frame, v in m/s
#: positive when receding, SNR and noise in dB); the old name stays for code written against it.
POINT_DTYPE = RADAR_POINT_DTYPE
_TI_POINT = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("v", "<f4")])
_TI_SIDE = np.dtype([("snr", "<i2"), ("noise", "<i2")])
_Q_DESCRIPTOR = struct.Struct("<HH")  # SDK <= 2.x: numDetectedObj, xyzQFormat
_Q_POINT = np.dtype([("range_idx", "<u2"), ("doppler_idx", "<i2"), ("peak", "<u2"), ("x", "<i2"), ("y", "<i2"),
                     ("z", "<i2")])
SDK_CHOICES = (2, 3)


@dataclass(frozen=True)
class DopplerScale:
    """What an SDK 1.x/2.x Doppler index needs to become a velocity: the configuration's velocity
    resolution (m/s per bin) and Doppler FFT size (loops rounded up to a power of two, as the demo does)."""

    velocity_resolution_mps: float
    num_doppler_bins: int

    @classmethod
    def from_params(cls, params) -> "DopplerScale":
        """From :class:`rfpose.radar_config.RadarParams`: the demo's FFT has the next power of two of the
        loop count as its size, so its bins are finer than the configuration's resolution when it pads."""
        bins = 1 << max(0, int(params.num_loops - 1).bit_length())
        return cls(params.velocity_resolution_mps * params.num_loops / bins, bins)

    def velocity_mps(self, doppler_idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(doppler_idx, np.int64) % self.num_doppler_bins
        idx = np.where(idx >= self.num_doppler_bins // 2, idx - self.num_doppler_bins, idx)
        return (idx * self.velocity_resolution_mps).astype(np.float32)


def sdk_major(version: int) -> int:
    return version >> 24


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
    """One parsed packet: header, points (:data:`rfpose.source.RADAR_POINT_DTYPE`, radar frame) and skipped TLV types."""

    header: TlvHeader
    points: np.ndarray
    skipped_tlv_types: list[int] = field(default_factory=list)
    #: SDK 1.x/2.x only: per point range and Doppler bin indices and the linear peak value (else None)
    bins: np.ndarray | None = None


def pack_header(h: TlvHeader) -> bytes:
    return HEADER.pack(MAGIC, h.version, h.total_packet_len, h.platform, h.frame_number, h.time_cpu_cycles,
                       h.num_detected_obj, h.num_tlvs, h.sub_frame_number)


def header_bytes(version: int) -> int:
    """40, or 36 for SDK 1.x, whose header has no subFrameNumber."""
    return HEADER_BYTES_SDK1 if sdk_major(version) == 1 else HEADER_BYTES


def parse_header(data, offset: int = 0) -> TlvHeader:
    if len(data) - offset < HEADER_BYTES_SDK1:
        raise ParseError(f"TLV header needs {HEADER_BYTES_SDK1} bytes, got {len(data) - offset}")
    magic, *fields = HEADER_SDK1.unpack_from(data, offset)
    if magic != MAGIC:
        raise ParseError(f"TLV packet does not start with the magic word (got {bytes(magic).hex(' ')})")
    if header_bytes(fields[0]) == HEADER_BYTES_SDK1:
        return TlvHeader(*fields, 0)
    if len(data) - offset < HEADER_BYTES:
        raise ParseError(f"TLV header needs {HEADER_BYTES} bytes, got {len(data) - offset}")
    return TlvHeader(*HEADER.unpack_from(data, offset)[1:])


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


def pack_packet_q(frame_number: int, points_radar: np.ndarray, *, range_idx, doppler_idx, peak, q_format: int = 9,
                  version: int = 0x02010004, platform: int = 0xA1642) -> bytes:
    """Build an SDK 1.x/2.x packet (Q-format point TLV) from points in the radar frame ``(N, 3)`` and their bin
    indices (used by the emulator and tests); a ``version`` of major 1 writes the 36-byte SDK 1.x header."""
    pts = np.asarray(points_radar, np.float64).reshape(-1, 3)
    n = len(pts)
    obj = np.empty(n, _Q_POINT)
    obj["range_idx"], obj["doppler_idx"], obj["peak"] = range_idx, doppler_idx, peak
    scale = float(1 << q_format)
    for name, values in (("x", -pts[:, 1]), ("y", pts[:, 0]), ("z", pts[:, 2])):
        obj[name] = np.clip(np.round(values * scale), -32768, 32767)
    payload = _Q_DESCRIPTOR.pack(n, q_format) + obj.tobytes()
    body = TLV_HEADER.pack(TLV_POINTS, len(payload)) + payload
    head = header_bytes(version)
    total = head + len(body)
    total += (-total) % SEGMENT_BYTES
    fields = (MAGIC, version, total, platform, frame_number, 0, n, 1)
    header = HEADER_SDK1.pack(*fields) if head == HEADER_BYTES_SDK1 else HEADER.pack(*fields, 0)
    return (header + body).ljust(total, b"\0")


def _q_points(payload: bytes, h: TlvHeader, doppler: DopplerScale | None):
    """The SDK 1.x/2.x point TLV → TI-axis x, y, z (m), velocity (m/s, NaN without ``doppler``), bins."""
    if len(payload) < _Q_DESCRIPTOR.size:
        raise ParseError(f"TLV frame {h.frame_number}: point TLV of {len(payload)} bytes has no descriptor")
    n, q_format = _Q_DESCRIPTOR.unpack_from(payload)
    if len(payload) != _Q_DESCRIPTOR.size + n * _Q_POINT.itemsize or n != h.num_detected_obj:
        raise ParseError(f"TLV frame {h.frame_number}: Q-format point TLV has {len(payload)} bytes and says {n} "
                         f"objects, header says {h.num_detected_obj} ({_Q_POINT.itemsize} bytes each + 4)")
    if q_format > 15:
        raise ParseError(f"TLV frame {h.frame_number}: xyzQFormat {q_format} is implausible")
    obj = np.frombuffer(payload, _Q_POINT, offset=_Q_DESCRIPTOR.size)
    scale = 1.0 / (1 << q_format)
    v = doppler.velocity_mps(obj["doppler_idx"]) if doppler else np.full(n, np.nan, np.float32)
    return obj["x"] * scale, obj["y"] * scale, obj["z"] * scale, v, obj[["range_idx", "doppler_idx", "peak"]]


def parse_packet(data, *, sdk: int | None = None, doppler: DopplerScale | None = None) -> DemoFrame:
    """Parse one complete packet (``len(data) == totalPacketLen``). Raises :class:`ParseError`.

    ``sdk`` picks the point format (2: SDK 1.x/2.x Q-format, 3: float); None takes it from the header's
    version (major ≤ 2 → Q-format). ``doppler`` turns SDK 1.x/2.x Doppler indices into m/s.
    """
    h = parse_header(data)
    head = header_bytes(h.version)
    if not head <= h.total_packet_len <= MAX_PACKET_BYTES:
        raise ParseError(f"TLV frame {h.frame_number}: totalPacketLen {h.total_packet_len} is implausible")
    if len(data) < h.total_packet_len:
        raise ParseError(f"TLV frame {h.frame_number}: {len(data)} bytes, header says {h.total_packet_len}")
    q_format_points = (sdk or (2 if 1 <= sdk_major(h.version) <= 2 else 3)) <= 2
    off, end = head, h.total_packet_len
    points = side = bins = None
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
        if ttype == TLV_POINTS and q_format_points:
            *points, bins = _q_points(payload, h, doppler)
        elif ttype == TLV_POINTS:
            if length != 16 * h.num_detected_obj:
                raise ParseError(f"TLV frame {h.frame_number}: point TLV has {length} bytes for "
                                 f"{h.num_detected_obj} objects (16 bytes each)")
            p = np.frombuffer(payload, _TI_POINT)
            points = p["x"], p["y"], p["z"], p["v"]
        elif ttype == TLV_SIDE_INFO:
            if length != 4 * h.num_detected_obj:
                raise ParseError(f"TLV frame {h.frame_number}: side-info TLV has {length} bytes for "
                                 f"{h.num_detected_obj} objects (4 bytes each)")
            side = np.frombuffer(payload, _TI_SIDE)
        else:
            skipped.append(ttype)
    if points is None and h.num_detected_obj:
        raise ParseError(f"TLV frame {h.frame_number}: {h.num_detected_obj} objects but no point TLV")
    n = 0 if points is None else len(points[0])
    out = np.zeros(n, POINT_DTYPE)
    if n:
        out["x"], out["y"], out["z"] = ti_to_radar_axes(*points[:3])
        out["v"] = points[3]
        if side is not None:
            out["snr_db"] = side["snr"] * 0.1
            out["noise_db"] = side["noise"] * 0.1
        else:
            out["snr_db"] = out["noise_db"] = np.nan
    return DemoFrame(h, out, skipped, None if bins is None else np.array(bins))


class TlvStreamParser:
    """Find and parse packets in a byte stream; bad packets are counted and skipped with a resync."""

    def __init__(self, *, sdk: int | None = None, doppler: DopplerScale | None = None) -> None:
        self.sdk = sdk
        self.doppler = doppler
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
            if len(buf) < HEADER_BYTES_SDK1:
                break
            version, total = struct.unpack_from("<II", buf, 8)
            if not header_bytes(version) <= total <= MAX_PACKET_BYTES:
                self._bad(f"totalPacketLen {total} is implausible")
                continue
            if len(buf) < total:
                break
            try:
                frame = parse_packet(bytes(buf[:total]), sdk=self.sdk, doppler=self.doppler)
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
