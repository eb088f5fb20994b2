"""Frame reassembly of the DCA1000 data stream from each packet's ``byte_count``.

The FPGA numbers the byte stream, not the frames: frame ``k`` is stream bytes ``[k*F, (k+1)*F)``. Each
payload is written at its ``byte_count`` into a ring of frame slots, so a lost packet leaves zeros at
exactly its span (also when it straddles a frame boundary: each side is charged to its own frame), a
late packet fills its span back in and its bytes stop counting as lost, and a duplicate is ignored.
A frame is emitted once the stream has moved ``reorder_bytes`` past its end (or on :meth:`flush`).

This is pure logic over buffers; :mod:`rfpose.drivers.dca1000_receiver` feeds it from a socket.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rfpose.drivers.dca1000_protocol import DATA_HEADER_BYTES, MAX_DATAGRAM_BYTES, MAX_PAYLOAD_BYTES, unpack_data_header
from rfpose.source import RadarFrame

_DEDUP_SLOTS = 1 << 18


@dataclass
class StreamStats:
    """Counters of the data path (bytes and packets), all since the start of the stream."""

    packets: int = 0
    bytes: int = 0
    duplicates: int = 0
    late_filled: int = 0       # arrived out of order but in time: written into their place
    too_late: int = 0          # arrived after their frame was emitted: dropped (their bytes stay lost)
    malformed: int = 0         # wrong length or implausible header: skipped
    frames_emitted: int = 0
    frames_incomplete: int = 0
    lost_bytes: int = 0        # over emitted frames
    highest_seq: int = 0
    malformed_reasons: dict[str, int] = field(default_factory=dict)

    def lost_packets_estimate(self) -> int:
        """Packets missing by sequence number (received unique packets vs the highest seq)."""
        unique = self.packets - self.duplicates - self.malformed
        return max(0, self.highest_seq - unique)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["malformed_reasons"] = dict(self.malformed_reasons)
        return d


class FrameReassembler:
    """Turns data packets into frames of ``frame_bytes`` bytes.

    ``emit(frame)`` is called with a :class:`~rfpose.source.RadarFrame` (int16 words, ``index`` = the
    frame number in the stream, host timestamp at completion, ``lost_bytes`` and ``complete``).

    Args:
        frame_bytes: F, bytes per radar frame.
        emit: callback for each finished frame, in frame order.
        reorder_bytes: how far past a frame's end the stream must be before the frame is final
            (default 256 full packets).
        max_jump_bytes: a packet whose byte_count lies further than this beyond the highest byte seen is
            treated as corrupt (default max(64 frames, 64 MiB)).
    """

    def __init__(self, frame_bytes: int, emit: Callable[[RadarFrame], None], *, reorder_bytes: int | None = None,
                 max_jump_bytes: int | None = None, clock_ns: Callable[[], int] = time.time_ns):
        if frame_bytes <= 0 or frame_bytes % 2:
            raise ValueError(f"frame_bytes must be a positive even number, not {frame_bytes}")
        self.F = frame_bytes
        self.reorder_bytes = 256 * MAX_PAYLOAD_BYTES if reorder_bytes is None else int(reorder_bytes)
        self.max_jump_bytes = max(64 * frame_bytes, 64 << 20) if max_jump_bytes is None else int(max_jump_bytes)
        # Slots needed: frames from the oldest unemitted one to the one holding max_end + a packet.
        self.slots = -(-(self.reorder_bytes + MAX_PAYLOAD_BYTES) // frame_bytes) + 2
        self.ring = np.zeros(self.slots * frame_bytes, np.uint8)
        self._ring_mv = memoryview(self.ring)
        self.ring_bytes = self.slots * frame_bytes
        self.received = [0] * self.slots       # unique payload bytes received per slot
        self.base = -1                          # oldest frame not yet emitted (-1: no packet yet)
        self.max_end = 0                        # highest stream byte seen + 1
        self._seen_seq = [0] * _DEDUP_SLOTS
        self._seen_bc = [-1] * _DEDUP_SLOTS
        self.emit = emit
        self.clock_ns = clock_ns
        self.stats = StreamStats()

    # -- the hot path -------------------------------------------------------------------------------
    def feed(self, buf, n: int) -> None:
        """Take one datagram of ``n`` bytes from the start of ``buf`` (bytes, bytearray or memoryview)."""
        st = self.stats
        st.packets += 1
        if n <= DATA_HEADER_BYTES or n > MAX_DATAGRAM_BYTES:
            self._bad("length")
            return
        seq, bc = unpack_data_header(buf)
        size = n - DATA_HEADER_BYTES
        if seq < 1 or bc > (seq - 1) * MAX_PAYLOAD_BYTES:
            self._bad("byte_count")  # more bytes before this packet than seq-1 packets can carry
            return
        end = bc + size
        if self.base < 0:
            self.base = bc // self.F
            self.max_end = bc
        elif end - self.max_end > self.max_jump_bytes:
            self._bad("byte_count")
            return
        F = self.F
        start = bc
        if bc < self.base * F:
            st.too_late += 1  # its frame is already emitted; only a part in a later frame is kept
            if end <= self.base * F:
                return
            start = self.base * F
        slot = seq & (_DEDUP_SLOTS - 1)
        if self._seen_seq[slot] == seq and self._seen_bc[slot] == bc:
            st.duplicates += 1
            return
        self._seen_seq[slot] = seq
        self._seen_bc[slot] = bc
        if seq > st.highest_seq:
            st.highest_seq = seq
        # Make room: frames that would be overwritten are final whatever the reorder window says.
        last_frame = (end - 1) // F
        while last_frame >= self.base + self.slots:
            self._emit_base()
        if end <= self.max_end:
            st.late_filled += 1
        else:
            self.max_end = end
        st.bytes += end - start
        # Copy, splitting at the ring's end; charge bytes to each frame the payload touches.
        pos, src = start, DATA_HEADER_BYTES + start - bc
        mv, R = self._ring_mv, self.ring_bytes
        while pos < end:
            k = pos // F
            take = min(end, (k + 1) * F) - pos
            o = pos % R
            mv[o:o + take] = buf[src:src + take]
            self.received[k % self.slots] += take
            pos += take
            src += take
        limit = self.max_end - self.reorder_bytes
        while (self.base + 1) * F <= limit:
            self._emit_base()

    # -- emission -----------------------------------------------------------------------------------
    def _bad(self, reason: str) -> None:
        self.stats.malformed += 1
        self.stats.malformed_reasons[reason] = self.stats.malformed_reasons.get(reason, 0) + 1

    def _emit_base(self) -> None:
        k, F = self.base, self.F
        s = k % self.slots
        o = s * F
        got = self.received[s]
        words = self.ring[o:o + F].view(np.int16).copy()
        self.ring[o:o + F] = 0          # the slot's next frame starts zero-filled
        self.received[s] = 0
        lost = F - got
        st = self.stats
        st.frames_emitted += 1
        if lost:
            st.frames_incomplete += 1
            st.lost_bytes += lost
        self.base = k + 1
        self.emit(RadarFrame(index=k, timestamp_ns=self.clock_ns(), adc=words, lost_bytes=lost, complete=lost == 0))

    def flush_complete(self) -> int:
        """Emit every frame that ends at or before the highest byte seen (used when the stream has been
        idle long enough that nothing else is in flight). Returns the number emitted."""
        n = 0
        while self.base >= 0 and (self.base + 1) * self.F <= self.max_end:
            self._emit_base()
            n += 1
        return n

    def flush(self, include_partial: bool = True) -> int:
        """Emit everything left (at stop). The frame holding the last byte is emitted incomplete when
        ``include_partial``; otherwise it is discarded. Returns the number of frames emitted."""
        n = self.flush_complete()
        if include_partial and self.base >= 0 and self.base * self.F < self.max_end:
            self._emit_base()
            n += 1
        return n
