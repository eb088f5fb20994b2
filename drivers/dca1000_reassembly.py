"""Frame reassembly of the DCA1000 data stream from each packet's ``byte_count``.

The FPGA numbers the byte stream, not the frames: frame ``k`` is stream bytes ``[k*F, (k+1)*F)``. Each
payload is written at its ``byte_count`` into a ring of frame slots, so a lost packet leaves zeros at
exactly its span (also when it straddles a frame boundary: each side is charged to its own frame), a
late packet fills its span back in and its bytes stop counting as lost, and a duplicate is ignored.
A frame is emitted as soon as every one of its bytes arrived (nothing can change it any more: a live
monitor gets it with the datagram that completed it), else once the stream has moved ``reorder_bytes`` past
its end (or on :meth:`flush`), with the missing bytes zero.

No single packet can move the stream. Between two genuine packets ``a`` and ``b`` with ``a.seq < b.seq``
the protocol guarantees ``a.end <= b.byte_count <= a.byte_count + (b.seq - a.seq) * 1456``; a packet that
breaks this against the stream so far, or lies more than the reorder window away from it (in bytes or in
sequence numbers), is *suspect*: it is held, and only when ``confirm_packets`` further packets agree with
it (a real jump after a loss burst) is it accepted and the stream moves; otherwise it is dropped and
counted (``malformed_reasons["unconfirmed"]``). The first packets of a stream are confirmed the same way.
Which bytes of a frame arrived is tracked per byte, so bytes repeated under another sequence number
never count twice.

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
_ONES = memoryview(b"\x01" * MAX_PAYLOAD_BYTES)


@dataclass
class StreamStats:
    """Counters of the data path (bytes and packets), all since the start of the stream."""

    packets: int = 0
    bytes: int = 0
    duplicates: int = 0
    late_filled: int = 0       # arrived out of order but in time: written into their place
    too_late: int = 0          # arrived after their frame was emitted: dropped (their bytes stay lost)
    malformed: int = 0         # wrong length, impossible header or an unconfirmed jump: skipped
    foreign: int = 0           # from another address or port than the FPGA's: skipped before feed(), not in packets
    jumps: int = 0             # confirmed jumps of the stream (loss bursts longer than the reorder window)
    frames_emitted: int = 0
    frames_incomplete: int = 0
    frames_skipped: int = 0    # whole frames inside a confirmed jump, never emitted (their bytes are lost)
    lost_bytes: int = 0        # over emitted and skipped frames
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


def consistent(a_seq: int, a_bc: int, a_end: int, b_seq: int, b_bc: int, b_end: int, window: int) -> bool:
    """Whether packet b can be a genuine part of the stream of packet a: when it comes later, at most
    ``window`` packets later (an earlier packet can only fill a hole or arrive too late)."""
    d = b_seq - a_seq
    if d == 0:
        return b_bc == a_bc and b_end == a_end
    if d > 0:
        return d <= window and a_end <= b_bc <= a_bc + d * MAX_PAYLOAD_BYTES
    return b_end <= a_bc and a_bc <= b_bc + (-d) * MAX_PAYLOAD_BYTES


class FrameReassembler:
    """Turns data packets into frames of ``frame_bytes`` bytes.

    ``emit(frame)`` is called with a :class:`~rfpose.source.RadarFrame` (int16 words, ``index`` = the
    frame number in the stream, host timestamp at completion, ``lost_bytes`` and ``complete``).

    Args:
        frame_bytes: F, bytes per radar frame.
        emit: callback for each finished frame, in frame order.
        reorder_bytes: how far past a frame's end the stream must be before the frame is final
            (default 256 full packets); also how far ahead of the stream a packet may land without
            confirmation.
        confirm_packets: how many later packets must agree with a suspect packet (a jump beyond the
            reorder window, or the first packet of the stream) before the stream follows it.
        max_suspects: suspect chains held at once; the oldest is dropped (and counted) beyond that.
    """

    def __init__(self, frame_bytes: int, emit: Callable[[RadarFrame], None], *, reorder_bytes: int | None = None,
                 confirm_packets: int = 2, max_suspects: int = 8, clock_ns: Callable[[], int] = time.time_ns):
        if frame_bytes <= 0 or frame_bytes % 2:
            raise ValueError(f"frame_bytes must be a positive even number, not {frame_bytes}")
        self.F = frame_bytes
        self.reorder_bytes = 256 * MAX_PAYLOAD_BYTES if reorder_bytes is None else int(reorder_bytes)
        self.window_packets = max(8, -(-self.reorder_bytes // MAX_PAYLOAD_BYTES))
        self.window_bytes = self.window_packets * MAX_PAYLOAD_BYTES
        self.confirm_packets = confirm_packets
        self.max_suspects = max_suspects
        # Slots needed: frames from the oldest unemitted one to the one holding max_end + a window.
        self.slots = -(-(max(self.reorder_bytes, self.window_bytes) + MAX_PAYLOAD_BYTES) // frame_bytes) + 2
        self.ring = np.zeros(self.slots * frame_bytes, np.uint8)
        self.have = np.zeros(self.slots * frame_bytes, np.uint8)  # 1 where a byte of the slot arrived
        self.got = np.zeros(self.slots, np.int64)  # bytes of each slot's frame that arrived
        self._ring_mv = memoryview(self.ring)
        self._have_mv = memoryview(self.have)
        self.ring_bytes = self.slots * frame_bytes
        self.base = -1                          # oldest frame not yet emitted (-1: stream not confirmed yet)
        self.max_end = 0                        # highest stream byte accepted + 1
        self.ref = (0, 0, 0)                    # (seq, byte_count, end) of the accepted packet with the highest seq
        self._suspects: list[list[tuple[int, int, int, bytes]]] = []
        self._suspect_born: list[int] = []
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
        rs, rb, re_ = self.ref
        if self.base < 0 or not consistent(rs, rb, re_, seq, bc, end, self.window_packets):
            self._suspect(seq, bc, end, bytes(buf[:n]))
            return
        self._accept(buf, seq, bc, end)
        if self._suspects and st.packets - self._suspect_born[0] > 8 * self.window_packets:
            self._drop_suspects(1)

    def _accept(self, buf, seq: int, bc: int, end: int) -> None:
        st, F = self.stats, self.F
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
            self.ref = (seq, bc, end)
        # Make room: frames that would be overwritten are final whatever the reorder window says.
        last_frame = (end - 1) // F
        while last_frame >= self.base + self.slots:
            if self.base * F >= self.max_end and last_frame - self.slots >= self.base:
                # nothing of the frames up to the new packet's window arrived: skip them at once
                skip = last_frame - self.slots + 1 - self.base
                st.frames_skipped += skip
                st.lost_bytes += skip * F
                self.base += skip
                break
            self._emit_base()
        if end <= self.max_end:
            st.late_filled += 1
        else:
            self.max_end = end
        st.bytes += end - start
        # Copy, split at frame boundaries (a frame's slot is contiguous in the ring), counting new bytes.
        pos, src = start, DATA_HEADER_BYTES + start - bc
        mv, have, R = self._ring_mv, self._have_mv, self.ring_bytes
        while pos < end:
            o = pos % R
            take = min(end - pos, F - o % F)
            self.got[o // F] += take - int(np.count_nonzero(self.have[o:o + take]))
            mv[o:o + take] = buf[src:src + take]
            have[o:o + take] = _ONES[:take]
            pos += take
            src += take
        while self.got[self.base % self.slots] == F:  # complete: final now, whatever the reorder window
            self._emit_base()
        limit = self.max_end - self.reorder_bytes
        while (self.base + 1) * F <= limit:
            self._emit_base()

    # -- suspects -----------------------------------------------------------------------------------
    def _suspect(self, seq: int, bc: int, end: int, data: bytes) -> None:
        """Hold a packet that does not fit the stream; follow it once ``confirm_packets`` more agree."""
        w = self.window_packets
        for i, chain in enumerate(self._suspects):
            if all(abs(seq - s) <= w and consistent(s, b, e, seq, bc, end, w) for s, b, e, _ in chain):
                if any(s == seq for s, *_ in chain):
                    self.stats.duplicates += 1
                    return
                chain.append((seq, bc, end, data))
                if len(chain) > self.confirm_packets:
                    del self._suspects[i], self._suspect_born[i]
                    self._follow(chain)
                return
        self._suspects.append([(seq, bc, end, data)])
        self._suspect_born.append(self.stats.packets)
        if len(self._suspects) > self.max_suspects:
            self._drop_suspects(1)

    def _follow(self, chain: list[tuple[int, int, int, bytes]]) -> None:
        """A confirmed chain: the stream starts or jumps there, then every chain packet is accepted."""
        chain.sort()
        first_bc = chain[0][1]
        if self.base < 0:
            self.base = first_bc // self.F
            self.max_end = first_bc
        else:
            self.stats.jumps += 1
            self.flush_complete()
        self.ref = chain[0][:3]
        for seq, bc, end, data in chain:
            self._accept(data, seq, bc, end)
        # held packets that fit the new stream are accepted too; the others stay suspect
        rest, born = self._suspects, self._suspect_born
        self._suspects, self._suspect_born = [], []
        for chain2, b in zip(rest, born):
            for seq, bc, end, data in chain2:
                if consistent(*self.ref, seq, bc, end, self.window_packets):
                    self._accept(data, seq, bc, end)
                else:
                    self._bad("unconfirmed")

    def _drop_suspects(self, k: int) -> None:
        for chain in self._suspects[:k]:
            for _ in chain:
                self._bad("unconfirmed")
        del self._suspects[:k], self._suspect_born[:k]

    # -- emission -----------------------------------------------------------------------------------
    def _bad(self, reason: str) -> None:
        self.stats.malformed += 1
        self.stats.malformed_reasons[reason] = self.stats.malformed_reasons.get(reason, 0) + 1

    def _emit_base(self) -> None:
        k, F = self.base, self.F
        s = k % self.slots
        o = s * F
        got = int(self.got[s])
        words = self.ring[o:o + F].view(np.int16).copy()
        self.ring[o:o + F] = 0          # the slot's next frame starts zero-filled
        self.have[o:o + F] = 0
        self.got[s] = 0
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
        ``include_partial``; otherwise it is discarded. Suspect packets never confirmed are counted as
        malformed. Returns the number of frames emitted."""
        self._drop_suspects(len(self._suspects))
        n = self.flush_complete()
        if include_partial and self.base >= 0 and self.base * self.F < self.max_end:
            self._emit_base()
            n += 1
        return n
