"""A live source of the demo firmware's point clouds from the data UART (921600 baud).

Yields :class:`rfpose.source.PointCloudFrame`: points in the rfpose radar frame
(:data:`rfpose.source.RADAR_POINT_DTYPE`: x, y, z in m, v in m/s, SNR and noise in dB), the firmware's
frame number and a host timestamp taken when the packet was complete. Bad packets are counted
(:attr:`DemoPointSource.parser`, :attr:`DemoPointSource.stats`) and skipped.

When a CLI port and a configuration are given, ``start()`` sends the ``.cfg`` over the
CLI and ``sensorStart``; ``stop()`` sends ``sensorStop`` and reading still returns
every packet already on the wire before it ends.
"""

from __future__ import annotations

import collections
import logging
import time

from rfpose.drivers.tlv import TlvStreamParser
from rfpose.errors import DeviceError, DeviceTimeout
from rfpose.source import END, PointCloudFrame, SourceBase

log = logging.getLogger(__name__)

#: Kept for code written before the session format had a points stream: the frame type is now the core one.
RadarPointFrame = PointCloudFrame

#: After :meth:`DemoPointSource.stop`, the port must be quiet this long before the iterator ends.
DRAIN_QUIET_S = 0.2


class DemoPointSource(SourceBase):
    """Point clouds from a board running the SDK demo.

    Args:
        data_port: the data UART (e.g. the XDS110 "Auxiliary Data Port"), or ``"auto"``.
        cli_port / cfg: when both are given, the radar is configured and started over its CLI
            (``cli_port`` may be ``"auto"``); otherwise someone else runs the radar.
        board: the board's name, stored in :attr:`metadata` (and so in a recorded session).
        timeout_s: no complete packet for this long raises :class:`DeviceTimeout`; default five frame
            periods of ``cfg`` (at least 2 s), or 5 s without a configuration.
    """

    kind = "points"
    is_live = True

    def __init__(self, data_port: str, *, cli_port: str | None = None, cfg=None, baudrate: int = 921600,
                 name: str = "radar_points", timeout_s: float | None = None, board: str | None = None,
                 cli_timeout_s: float = 2.0):
        super().__init__()
        import serial

        self.name = name
        self.parser = TlvStreamParser()
        self.cli = None
        self.cfg = cfg
        self.cli_port = cli_port
        self._cli_timeout = cli_timeout_s
        period = None
        if cfg is not None and board is not None:
            from rfpose.boards import get_board

            period = cfg.derive(get_board(board)).frame_period_s
        self.timeout_s = timeout_s if timeout_s is not None else (max(2.0, 5 * period) if period else 5.0)
        if data_port == "auto":
            from rfpose.drivers.serial_ports import find_radar_ports

            data_port = find_radar_ports().data
            if data_port is None:
                raise DeviceError("the TI board found has no data port (Auxiliary Data Port / Standard Com Port)")
        try:
            self.serial = serial.Serial(data_port, baudrate, timeout=0.05)
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"cannot open radar data port {data_port}: {e}") from None
        self.data_port = data_port
        self.data_timeout_s = self.timeout_s
        self._parsed: collections.deque = collections.deque()
        self._index = 0
        self._quiet_since = time.monotonic()
        self.metadata = {"data_port": data_port, "baudrate": baudrate, "board": board}
        if cfg is not None:
            self.metadata["cfg_text"] = cfg.to_text()
        if period:
            self.metadata["frame_period_s"] = period

    def _start(self) -> None:
        """Configure the radar over its CLI and start it (nothing to do without a CLI port)."""
        if self.cli_port and self.cfg is not None:
            from rfpose.drivers.mmwave_cli import MmwaveCli

            port = self.cli_port
            if port == "auto":
                from rfpose.drivers.serial_ports import find_radar_ports

                port = find_radar_ports().cli
            self.cli = MmwaveCli(port, timeout_s=self._cli_timeout)
            self.cli.configure(self.cfg, start=False)
            self.cli.sensor_start()

    def _stop(self) -> None:
        """Stop the radar (``sensorStop``); what is already on the wire is still read, then the stream ends."""
        self._quiet_since = time.monotonic()
        if self.cli is not None:
            try:
                self.cli.sensor_stop()
            except DeviceError as e:
                log.warning("sensorStop on %s failed: %s", self.cli_port, e)

    def _read(self, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        while not self._parsed:
            try:
                data = self.serial.read(max(1, self.serial.in_waiting))
            except Exception as e:  # serial.SerialException on unplug
                if self._closed:
                    return END
                raise DeviceError(f"radar data port {self.data_port}: {e}") from None
            now = time.monotonic()
            if not data:
                if self._stopping and now - self._quiet_since > DRAIN_QUIET_S:
                    return END
                if now >= deadline:
                    return None
                continue
            self._quiet_since = now
            for frame in self.parser.feed(data):
                self._parsed.append(PointCloudFrame(self._index, time.time_ns(), frame.points,
                                                    frame.header.frame_number))
                self._index += 1
        return self._parsed.popleft()

    def _timeout_error(self) -> BaseException:
        return DeviceTimeout(f"no point-cloud packet on {self.data_port} for {self.timeout_s:g} s "
                             f"({self.parser.packets} packets, {self.parser.bad_packets} bad packets skipped)")

    def _stats(self) -> dict:
        return {"frames": self.parser.packets, "bad_packets": self.parser.bad_packets,
                "skipped_bytes": self.parser.skipped_bytes}

    def _close(self) -> None:
        if self.cli is not None:
            self.cli.close()
        self.serial.close()
