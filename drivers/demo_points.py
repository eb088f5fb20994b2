"""A live source of the demo firmware's point clouds from the data UART (921600 baud).

Yields :class:`RadarPointFrame`: points in the rfpose radar frame (:data:`rfpose.drivers.tlv.POINT_DTYPE`),
the firmware's frame number and a host timestamp taken when the packet was complete. Bad packets are
counted (:attr:`DemoPointSource.parser`) and skipped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from rfpose.drivers.tlv import TlvStreamParser
from rfpose.errors import DeviceError, DeviceTimeout
from rfpose.source import SourceBase

log = logging.getLogger(__name__)


@dataclass
class RadarPointFrame:
    index: int
    timestamp_ns: int
    points: np.ndarray  # structured, rfpose.drivers.tlv.POINT_DTYPE, radar frame
    frame_number: int = 0
    kind: str = field(default="radar_points", init=False)


class DemoPointSource(SourceBase):
    """Point clouds from a board running the SDK demo.

    Args:
        data_port: the data UART (e.g. the XDS110 "Auxiliary Data Port").
        cli_port / cfg: when given, the radar is configured and started over its CLI.
        timeout_s: no complete packet for this long raises :class:`DeviceTimeout`.
    """

    kind = "radar_points"
    is_live = True

    def __init__(self, data_port: str, *, cli_port: str | None = None, cfg=None, baudrate: int = 921600,
                 name: str = "radar_points", timeout_s: float = 5.0):
        super().__init__()
        import serial

        self.name, self.timeout_s = name, timeout_s
        self.parser = TlvStreamParser()
        self.cli = None
        self.cfg = cfg
        self.cli_port = cli_port
        try:
            self.serial = serial.Serial(data_port, baudrate, timeout=0.05)
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"cannot open radar data port {data_port}: {e}") from None
        self.data_port = data_port
        self.started = False
        self.metadata = {"data_port": data_port, "baudrate": baudrate}
        if cfg is not None:
            self.metadata["cfg_text"] = cfg.to_text()

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        if self.cli_port and self.cfg is not None:
            from rfpose.drivers.mmwave_cli import MmwaveCli

            self.cli = MmwaveCli(self.cli_port)
            self.cli.configure(self.cfg, start=False)
            self.cli.sensor_start()

    def _iter(self):
        self.start()
        index = 0
        last = time.monotonic()
        while not self._closed:
            try:
                data = self.serial.read(max(1, self.serial.in_waiting))
            except Exception as e:  # serial.SerialException on unplug
                if self._closed:
                    return
                raise DeviceError(f"radar data port {self.data_port}: {e}") from None
            if not data:
                if time.monotonic() - last > self.timeout_s:
                    raise DeviceTimeout(f"no point-cloud packet on {self.data_port} for {self.timeout_s:g} s "
                                        f"({self.parser.bad_packets} bad packets skipped)")
                continue
            for frame in self.parser.feed(data):
                last = time.monotonic()
                yield RadarPointFrame(index, time.time_ns(), frame.points, frame.header.frame_number)
                index += 1

    def stats(self) -> dict:
        return {"frames": self.parser.packets, "bad_packets": self.parser.bad_packets,
                "skipped_bytes": self.parser.skipped_bytes}

    def _close(self) -> None:
        if self.cli is not None:
            try:
                self.cli.sensor_stop()
            except Exception as e:  # noqa: BLE001 - best effort on shutdown
                log.warning("sensorStop on %s failed: %s", self.cli_port, e)
            self.cli.close()
        self.serial.close()
