"""A DCA1000EVM on loopback UDP: commands to ``fpga_ip:4096``, replies and status to ``host_ip:4096`` and
the data stream to ``host_ip:4098``, all sent from ``fpga_ip:1024`` as the real FPGA does (all of
127.0.0.0/8 is local on Linux, so the host side binds 127.0.0.1 and the emulator 127.0.0.2 with the same
standard ports).

Streaming starts when the record is started and the radar is chirping: :meth:`radar_start` is called by
the board emulator on ``sensorStart`` (or the record start alone starts it when ``standalone``). Packets
are paced like the FPGA: the configured packet delay plus the gigabit wire time of each datagram, frames
at the radar's frame period. Seeded impairments (loss, bursts by seq, duplicates, reordering,
corruption) are applied on the way out and logged in :attr:`impaired` so tests know exactly what the
receiver should see.
"""

from __future__ import annotations

import logging
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from rfpose.drivers import dca1000_protocol as proto
from rfpose.drivers.dca1000_protocol import AsyncStatus, Cmd
from rfpose.errors import ParseError

log = logging.getLogger(__name__)

WIRE_BITS_PER_S = 1e9


@dataclass
class Impairments:
    """What to do to the data packets (all seeded). ``drop_seqs``: explicit losses, e.g. a burst across
    a frame boundary. ``reorder_rate``: a packet is held back and sent ``reorder_distance`` packets
    later. ``corrupt_rate``: the datagram is truncated, oversized or given an impossible byte count."""

    loss_rate: float = 0.0
    drop_seqs: frozenset[int] = frozenset()
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    reorder_distance: int = 3
    corrupt_rate: float = 0.0
    seed: int = 0

    @property
    def any(self) -> bool:
        return bool(self.loss_rate or self.drop_seqs or self.duplicate_rate or self.reorder_rate or self.corrupt_rate)


@dataclass
class ImpairmentLog:
    """Packets as ``(seq, byte_count, payload_len)``: ``lost`` never reached the host intact (dropped or
    corrupted), the others arrived twice / late."""

    lost: list[tuple[int, int, int]] = field(default_factory=list)
    corrupted: list[tuple[int, int, int]] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    reordered: list[int] = field(default_factory=list)


class DCA1000Emulator:
    """An emulated DCA1000EVM.

    Args:
        adc: provider of frame bytes (see :mod:`rfpose.drivers.emulators.adc_frames`).
        fpga_ip / host_ip: the FPGA's and the host's addresses.
        lvds_lanes: the lane mode the attached radar uses (CONFIG_FPGA must match).
        frame_bytes / frame_period_s: used when ``standalone`` (no board emulator attached).
        standalone: START_RECORD also starts the "radar".
        unpaced: send as fast as possible (the benchmark's sender-limit row).
    """

    def __init__(self, adc, *, fpga_ip: str = "127.0.0.2", host_ip: str = "127.0.0.1",
                 config_port: int = proto.CONFIG_PORT, data_port: int = proto.DATA_PORT,
                 source_port: int = proto.FPGA_SOURCE_PORT, lvds_lanes: int = 2,
                 frame_bytes: int | None = None, frame_period_s: float = 0.1, num_frames: int | None = None,
                 standalone: bool = False, impairments: Impairments | None = None, version: tuple[int, int] = (2, 8),
                 unpaced: bool = False):
        self.adc = adc
        self.fpga_ip, self.host_ip = fpga_ip, host_ip
        self.config_port, self.data_port = config_port, data_port
        self.lvds_lanes = lvds_lanes
        self.frame_bytes, self.frame_period_s, self.num_frames = frame_bytes, frame_period_s, num_frames
        self.standalone = standalone
        self.impairments = impairments or Impairments()
        self.version = version
        self.unpaced = unpaced
        self.packet_delay_us = 25.0
        self.recording = False
        self.radar_running = False
        self.fpga_configured = False
        self.unresponsive = False
        self.commands: list[int] = []
        self.bad_requests = 0
        self.impaired = ImpairmentLog()
        self.packets_sent = 0
        self.bytes_sent = 0
        self.frames_sent = 0
        self.stream_started_at: float | None = None
        self.stream_ended_at: float | None = None
        self._lock = threading.Lock()
        self._ctrl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._ctrl.bind((fpga_ip, config_port))
        self._ctrl.settimeout(0.1)
        self._data = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._data.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self._data.bind((fpga_ip, source_port))  # replies, status and data all leave from here
        self._stop = threading.Event()
        self._stream_stop = threading.Event()
        self._streamer: threading.Thread | None = None
        self._replied = threading.Event()  # clear while a command is being handled, until its reply is sent
        self._replied.set()
        self._ctrl_thread = threading.Thread(target=self._serve, name="dca1000-emu-ctrl", daemon=True)
        self._ctrl_thread.start()

    # -- control ------------------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self._ctrl.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if self.unresponsive:
                continue
            try:
                req = proto.parse_request(data)
            except ParseError as e:
                self.bad_requests += 1
                log.debug("DCA1000 emulator: ignoring malformed request: %s", e)
                continue
            self.commands.append(req.cmd)
            self._replied.clear()
            status = self._handle(req)
            try:
                self._data.sendto(proto.pack_response(req.cmd, status), addr)
            except OSError:
                pass
            self._replied.set()

    def _handle(self, req: proto.Request) -> int:
        cmd = req.cmd
        if cmd == Cmd.SYSTEM_ALIVENESS:
            return 0
        if cmd == Cmd.READ_FPGA_VERSION:
            return proto.encode_fpga_version(*self.version)
        if cmd == Cmd.CONFIG_FPGA:
            try:
                p = proto.parse_config_fpga_payload(req.payload)
            except ParseError:
                return 1
            want = 1 if self.lvds_lanes == 4 else 2
            if p["lvds_mode"] != want or p["capture_mode"] != 2 or p["data_format"] not in (1, 2, 3):
                return 1
            self.fpga_configured = True
            return 0
        if cmd == Cmd.CONFIG_RECORD:
            try:
                delay = proto.parse_config_record_payload(req.payload)
            except ParseError:
                return 1
            if not proto.MIN_PACKET_DELAY_US <= delay <= proto.MAX_PACKET_DELAY_US:
                return 1
            self.packet_delay_us = delay
            return 0
        if cmd == Cmd.START_RECORD:
            self.recording = True
            if self.standalone:
                self.radar_running = True
            self._maybe_stream()
            return 0
        if cmd == Cmd.STOP_RECORD:
            self.recording = False
            if self.standalone:
                self.radar_running = False
            self._stop_stream()
            return 0
        if cmd == Cmd.RESET_AR_DEV:
            self.radar_stop()
            return 0
        if cmd == Cmd.RESET_FPGA:
            self.recording = False
            self.fpga_configured = False
            self._stop_stream()
            return 0
        if cmd in (Cmd.CONFIG_EEPROM, Cmd.CONFIG_AR_DEV):
            return 0
        return 1

    def send_status(self, code: AsyncStatus | int) -> None:
        """Push an asynchronous status packet to the host's config port."""
        self._data.sendto(proto.pack_response(Cmd.ASYNC_STATUS, int(code)), (self.host_ip, self.config_port))

    # -- the radar side -----------------------------------------------------------------------------
    def radar_start(self, frame_bytes: int, frame_period_s: float, num_frames: int | None = None) -> None:
        """The radar started chirping (called by the board emulator on sensorStart)."""
        self.frame_bytes, self.frame_period_s, self.num_frames = frame_bytes, frame_period_s, num_frames
        self.radar_running = True
        if not self.recording:
            # LVDS data arrives but nothing takes it: the FPGA's buffer overflows.
            self.send_status(AsyncStatus.LVDS_BUFFER_FULL)
        self._maybe_stream()

    def radar_stop(self) -> None:
        self.radar_running = False
        self._stop_stream()

    def _maybe_stream(self) -> None:
        with self._lock:
            if not (self.recording and self.radar_running) or self._streamer is not None:
                return
            if self.frame_bytes is None:
                log.warning("DCA1000 emulator: recording, but no frame size known yet")
                return
            self._stream_stop.clear()
            self._streamer = threading.Thread(target=self._stream, name="dca1000-emu-data", daemon=True)
            self._streamer.start()

    def _stop_stream(self) -> None:
        with self._lock:
            t, self._streamer = self._streamer, None
        if t is not None and t is not threading.current_thread():
            self._stream_stop.set()
            t.join()

    def wait_streamed(self, timeout: float | None = None) -> bool:
        """Wait until the current stream has sent all its frames (finite sources)."""
        t = self._streamer
        if t is None:
            return True
        t.join(timeout)
        return not t.is_alive()

    # -- the data stream ----------------------------------------------------------------------------
    def _stream(self) -> None:
        self._replied.wait(1.0)  # START_RECORD's reply goes out first, as the FPGA's: then data and status
        F = self.frame_bytes
        imp = self.impairments
        rng = random.Random(imp.seed)
        interval = 0.0 if self.unpaced else (self.packet_delay_us * 1e-6
                                             + proto.MAX_DATAGRAM_BYTES * 8 / WIRE_BITS_PER_S)
        sock, dest = self._data, (self.host_ip, self.data_port)
        hdr = struct.Struct("<IIH")
        pending = bytearray()
        seq, bc = 1, 0
        held: list[tuple[int, list[bytes]]] = []  # (release after this seq, datagram parts)
        t0 = time.monotonic()
        self.stream_started_at, self.stream_ended_at = t0, None
        next_send = t0
        stop = self._stream_stop.is_set
        frames = self.adc.frames(F)
        k = 0

        def send(parts, s, b, n) -> None:
            nonlocal held
            if imp.any:
                if s in imp.drop_seqs or (imp.loss_rate and rng.random() < imp.loss_rate):
                    self.impaired.lost.append((s, b, n))
                    return
                if imp.corrupt_rate and rng.random() < imp.corrupt_rate:
                    self.impaired.lost.append((s, b, n))
                    self.impaired.corrupted.append((s, b, n))
                    parts = _corrupt(parts, rng)
                elif imp.reorder_rate and rng.random() < imp.reorder_rate:
                    self.impaired.reordered.append(s)
                    held.append((s + imp.reorder_distance, [parts[0], bytes(parts[1])]))
                    return
                elif imp.duplicate_rate and rng.random() < imp.duplicate_rate:
                    self.impaired.duplicated.append(s)
                    sock.sendmsg(parts, (), 0, dest)
            sock.sendmsg(parts, (), 0, dest)
            self.packets_sent += 1
            if held:
                due = [p for p in held if p[0] <= s]
                if due:
                    held = [p for p in held if p[0] > s]
                    for _, hp in due:
                        sock.sendmsg(hp, (), 0, dest)
                        self.packets_sent += 1

        try:
            for frame in frames:
                if stop():
                    break
                if not self.unpaced:
                    wait = t0 + k * self.frame_period_s - time.monotonic()
                    if wait > 0 and self._stream_stop.wait(wait):
                        break
                    next_send = max(next_send, time.monotonic())
                pending += frame
                k += 1
                mv = memoryview(pending)
                off, total = 0, len(pending)
                while total - off >= proto.MAX_PAYLOAD_BYTES and not stop():
                    n = proto.MAX_PAYLOAD_BYTES
                    if interval:
                        ahead = next_send - time.monotonic()
                        if ahead > 0.001:
                            time.sleep(ahead)
                        next_send += interval
                    send([hdr.pack(seq, bc & 0xFFFFFFFF, bc >> 32), mv[off:off + n]], seq, bc, n)
                    seq += 1
                    bc += n
                    off += n
                    self.bytes_sent += n
                mv.release()
                del pending[:off]
                self.frames_sent = k
                if self.num_frames and k >= self.num_frames:
                    break
            if pending and not stop():  # the record ends: the tail goes out as a short packet
                n = len(pending)
                send([hdr.pack(seq, bc & 0xFFFFFFFF, bc >> 32), bytes(pending)], seq, bc, n)
                self.bytes_sent += n
            for _, hp in held:
                sock.sendmsg(hp, (), 0, dest)
        except OSError as e:
            log.warning("DCA1000 emulator: data stream stopped: %s", e)
        finally:
            self.stream_ended_at = time.monotonic()
            if not stop():
                self.send_status(AsyncStatus.REC_COMPLETED)

    def close(self) -> None:
        self._stream_stop.set()
        self._stop_stream()
        self._stop.set()
        self._ctrl_thread.join()
        self._ctrl.close()
        self._data.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _corrupt(parts: list, rng: random.Random) -> list[bytes]:
    """A datagram the receiver must reject: cut short, too long, or claiming more bytes before it than
    its sequence number allows."""
    data = b"".join(bytes(p) for p in parts)
    kind = rng.choice(("truncate", "oversize", "byte_count"))
    if kind == "truncate":
        return [data[:rng.randrange(0, 11)]]
    if kind == "oversize":
        return [data + bytes(rng.randrange(1, 64))]
    seq = struct.unpack_from("<I", data)[0]
    bad_bc = seq * proto.MAX_PAYLOAD_BYTES + rng.randrange(1, 1 << 20)
    return [proto.pack_data_header(seq, bad_bc) + data[10:]]
