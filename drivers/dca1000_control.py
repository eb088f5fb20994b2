"""DCA1000EVM control over UDP: a thin socket layer over :mod:`rfpose.drivers.dca1000_protocol`.

The host binds ``host_ip:4096`` and sends to ``fpga_ip:4096``; the FPGA answers from its port 1024, and
datagrams from any other address or port are counted (:attr:`DCA1000Control.foreign`) and ignored. Every command is retried until a valid
response with the echoed command arrives; after ``retries`` tries it raises
:class:`~rfpose.errors.DeviceTimeout` naming the command and the address. Asynchronous status packets
(cmd 0x0A, e.g. LVDS_BUFFER_FULL) that arrive at any time are logged, counted and passed to ``on_status``.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable

from rfpose.drivers import dca1000_protocol as proto
from rfpose.drivers.dca1000_protocol import Cmd
from rfpose.errors import DeviceError, DeviceTimeout, ParseError

log = logging.getLogger(__name__)


class DCA1000CommandError(DeviceError):
    """The FPGA answered a command with a failure status."""


class DCA1000Control:
    """Control connection to one DCA1000.

    Args:
        host_ip: the host's address on the DCA1000 link (192.168.33.30 on real hardware).
        fpga_ip: the FPGA's address (192.168.33.180).
        fpga_port: the port the FPGA answers from (1024 on real hardware).
        timeout_s: how long to wait for each response.
        retries: tries per command before :class:`DeviceTimeout`.
        on_status: called with ``(code, name)`` for each asynchronous status packet.
    """

    def __init__(self, host_ip: str = "192.168.33.30", fpga_ip: str = "192.168.33.180", *,
                 config_port: int = proto.CONFIG_PORT, fpga_port: int = proto.FPGA_SOURCE_PORT, timeout_s: float = 0.5, retries: int = 3,
                 on_status: Callable[[int, str], None] | None = None):
        self.host_ip, self.fpga_ip = host_ip, fpga_ip
        self.address = (fpga_ip, config_port)
        self.peer = (fpga_ip, fpga_port)
        self.foreign = 0
        self.timeout_s, self.retries = timeout_s, retries
        self.on_status = on_status
        self.status_counts: Counter[str] = Counter()
        self.status_queue: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()
        self.bad_responses = 0
        self._lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host_ip, config_port))
        except OSError as e:
            self.sock.close()
            raise DeviceError(f"cannot bind the DCA1000 config port {host_ip}:{config_port}: {e.strerror}") from None

    # -- plumbing ---------------------------------------------------------------------------------
    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _handle_async(self, resp: proto.Response) -> None:
        name = proto.async_status_name(resp.status)
        self.status_counts[name] += 1
        self.status_queue.put((resp.status, name))
        level = logging.INFO if name in ("REC_COMPLETED", "PLAYBACK_COMPLETED") else logging.WARNING
        log.log(level, "DCA1000 %s:%d reports %s", self.fpga_ip, self.address[1], name)
        if self.on_status is not None:
            self.on_status(resp.status, name)

    def poll_status(self) -> int:
        """Drain asynchronous status packets waiting on the socket without blocking. Returns how many."""
        if not self._lock.acquire(blocking=False):
            return 0  # a command is in flight and will see them
        n = 0
        try:
            self.sock.setblocking(False)
            while True:
                try:
                    data, addr = self.sock.recvfrom(2048)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                if addr != self.peer:
                    self.foreign += 1
                    continue
                try:
                    resp = proto.parse_response(data)
                except ParseError:
                    self.bad_responses += 1
                    continue
                if resp.is_async:
                    self._handle_async(resp)
                    n += 1
        finally:
            self.sock.setblocking(True)
            self._lock.release()
        return n

    def command(self, cmd: Cmd, payload: bytes = b"", *, check: bool = True) -> int:
        """Send one command and return the response's status field.

        Raises :class:`DeviceTimeout` after ``retries`` unanswered tries and :class:`DCA1000CommandError`
        when ``check`` and the status is not 0.
        """
        request = proto.pack_request(cmd, payload)
        name = Cmd(cmd).name
        with self._lock:
            for attempt in range(1, self.retries + 1):
                self.sock.sendto(request, self.address)
                deadline = time.monotonic() + self.timeout_s
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        log.debug("DCA1000 %s: no answer to %s (try %d/%d)", self.fpga_ip, name, attempt, self.retries)
                        break
                    self.sock.settimeout(left)
                    try:
                        data, addr = self.sock.recvfrom(2048)
                    except TimeoutError:
                        continue
                    except ConnectionRefusedError:
                        continue  # ICMP port unreachable from an earlier send: nobody listening yet
                    if addr != self.peer:
                        self.foreign += 1
                        continue
                    try:
                        resp = proto.parse_response(data)
                    except ParseError as e:
                        self.bad_responses += 1
                        log.warning("DCA1000 %s: ignoring malformed response to %s: %s", self.fpga_ip, name, e)
                        continue
                    if resp.is_async:
                        self._handle_async(resp)
                        continue
                    if resp.cmd != cmd:
                        self.bad_responses += 1
                        log.warning("DCA1000 %s: ignoring response to command %#04x while waiting for %s",
                                     self.fpga_ip, resp.cmd, name)
                        continue
                    if check and resp.status != 0:
                        raise DCA1000CommandError(f"DCA1000 at {self.address[0]}:{self.address[1]} rejected {name} "
                                                  f"(status {resp.status})")
                    return resp.status
        raise DeviceTimeout(f"DCA1000 at {self.address[0]}:{self.address[1]} did not answer {name} "
                            f"after {self.retries} tries of {self.timeout_s:g} s")

    # -- commands ----------------------------------------------------------------------------------
    def is_alive(self) -> None:
        self.command(Cmd.SYSTEM_ALIVENESS)

    def fpga_version(self) -> proto.FpgaVersion:
        return proto.decode_fpga_version(self.command(Cmd.READ_FPGA_VERSION, check=False))

    def configure_fpga(self, lvds_lanes: int) -> None:
        self.command(Cmd.CONFIG_FPGA, proto.config_fpga_payload(lvds_lanes))

    def configure_record(self, packet_delay_us: float = 25.0) -> None:
        self.command(Cmd.CONFIG_RECORD, proto.config_record_payload(packet_delay_us))

    def start_record(self) -> None:
        self.command(Cmd.START_RECORD)

    def stop_record(self) -> None:
        self.command(Cmd.STOP_RECORD)

    def reset_radar(self) -> None:
        self.command(Cmd.RESET_AR_DEV)

    def reset_fpga(self) -> None:
        self.command(Cmd.RESET_FPGA)

    def setup(self, lvds_lanes: int, packet_delay_us: float = 25.0) -> proto.FpgaVersion:
        """The standard sequence: aliveness, version, CONFIG_RECORD, CONFIG_FPGA, aliveness again (the
        FPGA ignores requests briefly after CONFIG_FPGA; the retries cover that)."""
        self.is_alive()
        version = self.fpga_version()
        log.info("DCA1000 %s: FPGA version %s", self.fpga_ip, version)
        self.configure_record(packet_delay_us)
        self.configure_fpga(lvds_lanes)
        self.is_alive()
        return version
