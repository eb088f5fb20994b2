"""The DCA1000 data path: a receiver thread on UDP port 4098 feeding a bounded queue of frames.

The thread receives every datagram with ``socket.recvfrom_into`` into one preallocated buffer; a datagram
from any other address or port than the FPGA's is counted (``stats.foreign``) and skipped, the others go
to :class:`~rfpose.drivers.dca1000_reassembly.FrameReassembler`, which parses the header in place and
copies the payload into its frame ring; no Python object is made per packet. Finished frames go into a
bounded queue; when the consumer falls behind, frames are dropped and counted (the receiver never
blocks, since a blocked receiver loses packets in the kernel instead).

A frame's timestamp is the kernel's receive time of the datagram that completed it (``SIOCGSTAMPNS``, asked
once per frame, not per packet), so a receiver thread that a busy host schedules late does not stamp
frames late; where the kernel has no stamp (another OS), the host clock at completion. Linux turns the stamps
on in deferred work after the socket's first ask, so on a busy host the first datagrams may still carry their
read time; the socket asks when it is opened, before the board is told to stream.
"""

from __future__ import annotations

import collections
import fcntl
import logging
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable

from rfpose.drivers.dca1000_protocol import DATA_PORT, FPGA_SOURCE_PORT, MAX_DATAGRAM_BYTES
from rfpose.drivers.dca1000_reassembly import FrameReassembler, StreamStats
from rfpose.errors import DeviceError
from rfpose.source import RadarFrame

log = logging.getLogger(__name__)

DEFAULT_RCVBUF_BYTES = 8 << 20
SIOCGSTAMPNS = 0x8907  # linux/sockios.h: the last datagram's receive time as a struct timespec


class DCA1000Receiver:
    """Receive and reassemble the data stream of one DCA1000.

    Args:
        host_ip: address to bind the data port on.
        fpga_ip / fpga_port: the only sender whose datagrams are taken (the FPGA sends from port 1024).
        frame_bytes: bytes per radar frame.
        queue_frames: capacity of the frame queue.
        rcvbuf_bytes: requested ``SO_RCVBUF``; :attr:`rcvbuf_granted` is what the kernel gave.
        idle_flush_s: when no packet arrived for this long, frames that end before the highest byte
            seen are emitted without waiting for the reorder window.
        on_idle: called from the receiver thread about every ``idle_flush_s`` without packets (the
            source uses it to poll the control port for status packets).
    """

    def __init__(self, host_ip: str, frame_bytes: int, *, fpga_ip: str, fpga_port: int = FPGA_SOURCE_PORT,
                 data_port: int = DATA_PORT, queue_frames: int = 64,
                 rcvbuf_bytes: int = DEFAULT_RCVBUF_BYTES, reorder_bytes: int | None = None,
                 idle_flush_s: float = 0.05, on_idle: Callable[[], None] | None = None):
        self.frames: queue.Queue[RadarFrame] = queue.Queue(maxsize=queue_frames)
        self.dropped_frames = 0
        self.reassembler = FrameReassembler(frame_bytes, self._put, reorder_bytes=reorder_bytes,
                                            clock_ns=self._received_ns)
        self.idle_flush_s = idle_flush_s
        self.peer = (fpga_ip, fpga_port)
        self.on_idle = on_idle
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf_bytes)
        # Linux reports double the usable size (it counts bookkeeping); report what the kernel says.
        self.rcvbuf_granted = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if self.rcvbuf_granted < 2 * frame_bytes:
            log.warning("SO_RCVBUF granted %d bytes (asked %d), less than 2 frames of %d bytes; raise "
                        "net.core.rmem_max to avoid kernel drops", self.rcvbuf_granted, rcvbuf_bytes, frame_bytes)
        try:
            self.sock.bind((host_ip, data_port))
        except OSError as e:
            self.sock.close()
            raise DeviceError(f"cannot bind the DCA1000 data port {host_ip}:{data_port}: {e.strerror}") from None
        self.sock.settimeout(idle_flush_s)
        self._received_ns()  # the first ask turns the kernel's receive stamps on for this socket
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.thread_cpu_s = 0.0
        self.started_at = 0.0
        self.stopped_at = 0.0
        self.error: BaseException | None = None
        self._final = False
        self._overflow: collections.deque[RadarFrame] = collections.deque()

    def _received_ns(self) -> int:
        """The kernel's receive time of the last datagram read (ns since the epoch), else the host clock now."""
        try:
            sec, nsec = struct.unpack("qq", fcntl.ioctl(self.sock.fileno(), SIOCGSTAMPNS, bytes(16)))
            return sec * 1_000_000_000 + nsec
        except OSError:  # no datagram stamped yet, or not Linux
            return time.time_ns()

    @property
    def stats(self) -> StreamStats:
        return self.reassembler.stats

    def _put(self, frame: RadarFrame) -> None:
        try:
            self.frames.put_nowait(frame)
        except queue.Full:
            if self._final:  # the last frames at stop are kept whatever the queue's size
                self._overflow.append(frame)
                return
            self.dropped_frames += 1
            if self.dropped_frames == 1 or self.dropped_frames % 100 == 0:
                log.warning("consumer too slow: dropped %d DCA1000 frames so far (frame %d)",
                            self.dropped_frames, frame.index)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dca1000-rx", daemon=True)
        self.started_at = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        buf = bytearray(MAX_DATAGRAM_BYTES + 64)  # room to see oversize datagrams as such
        mv = memoryview(buf)
        recv_into, feed, stop = self.sock.recvfrom_into, self.reassembler.feed, self._stop.is_set
        size, peer, st = len(buf), self.peer, self.reassembler.stats
        cpu0 = time.thread_time()
        try:
            while not stop():
                try:
                    n, addr = recv_into(mv, size)
                except TimeoutError:
                    self.reassembler.flush_complete()
                    if self.on_idle is not None:
                        self.on_idle()
                    continue
                if addr != peer:
                    st.foreign += 1
                    continue
                feed(mv, n)
        except OSError as e:
            if not stop():
                self.error = e
                log.error("DCA1000 receiver stopped: %s", e)
        except BaseException as e:  # pragma: no cover - surfaced to the consumer
            self.error = e
            log.exception("DCA1000 receiver crashed")
        finally:
            self.thread_cpu_s = time.thread_time() - cpu0

    def stop(self, flush: bool = True, include_partial: bool = True) -> None:
        """Stop the thread and emit the frames still in the ring (nothing received is lost)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.stopped_at = time.monotonic()
        if flush and not self._final:
            self._final = True
            # Drain datagrams the kernel still holds before the final flush.
            self.sock.setblocking(False)
            buf = bytearray(MAX_DATAGRAM_BYTES + 64)
            while True:
                try:
                    n, addr = self.sock.recvfrom_into(buf)
                except (BlockingIOError, OSError):
                    break
                if addr != self.peer:
                    self.reassembler.stats.foreign += 1
                    continue
                self.reassembler.feed(buf, n)
            self.reassembler.flush(include_partial=include_partial)

    def close(self) -> None:
        self.stop(flush=False)
        self.sock.close()

    def get(self, timeout: float | None = None) -> RadarFrame | None:
        """The next frame, or None after ``timeout`` seconds."""
        try:
            return self.frames.get(timeout=timeout if not self._overflow else 0)
        except queue.Empty:
            return self._overflow.popleft() if self._overflow else None
