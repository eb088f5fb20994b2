"""A live DCA1000EVM radar source: configures the capture card (and the radar over its CLI when a port
is given), starts the record before ``sensorStart`` as TI requires, and yields
:class:`~rfpose.source.RadarFrame` with timestamps (the kernel's receive time of the datagram that
completed the frame), ``lost_bytes`` and ``complete``. ``stop()`` stops the radar and the record; every frame received is still read.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from rfpose.boards import Board, get_board
from rfpose.drivers.dca1000_control import DCA1000Control
from rfpose.drivers.dca1000_receiver import DCA1000Receiver
from rfpose.errors import ConfigError, DeviceError, DeviceTimeout, RfposeError
from rfpose.radar_config import RadarConfig, load_cfg, parse_cfg, validate_cfg
from rfpose.source import END, SourceBase

log = logging.getLogger(__name__)


def resolve_cfg(cfg: RadarConfig | str | Path | None, board: Board) -> RadarConfig:
    """A configuration from an object, a path, a shipped preset's file name, or the board default."""
    if cfg is None:
        return board.default_config()
    if isinstance(cfg, RadarConfig):
        validate_cfg(cfg, board)
        return cfg
    p = Path(cfg)
    if not p.exists():
        from importlib import resources

        shipped = resources.files("rfpose.configs").joinpath(str(cfg))
        if shipped.is_file():
            c = parse_cfg(shipped.read_text(), str(shipped))
            validate_cfg(c, board)
            return c
    return load_cfg(p, board)


class DCA1000Source(SourceBase):
    """Raw ADC frames from a DCA1000EVM.

    Args:
        board: board name; its LVDS lane count configures the FPGA.
        cfg: the radar configuration (``RadarConfig``, path, or None for the board default).
        host_ip / fpga_ip: the link addresses.
        fpga_port: the port the FPGA sends from (1024 on a real DCA1000); datagrams from any other
            address or port are counted as foreign and skipped.
        cli_port: the radar's CLI serial port ("auto" to detect; None if someone else starts the radar).
        packet_delay_us: CONFIG_RECORD delay (5-500 us).
        frame_timeout_s: no frame for this long while running raises :class:`DeviceTimeout`.
    """

    kind = "radar"
    is_live = True
    is_seekable = False

    def __init__(self, board: str | Board, cfg=None, *, host_ip: str = "192.168.33.30",
                 fpga_ip: str = "192.168.33.180", cli_port: str | None = None, packet_delay_us: float = 25.0,
                 name: str = "radar", config_port: int = 4096, data_port: int = 4098, fpga_port: int = 1024,
                 timeout_s: float = 0.5,
                 retries: int = 3, queue_frames: int = 64, reorder_bytes: int | None = None,
                 frame_timeout_s: float | None = None, cli_timeout_s: float = 2.0):
        super().__init__()
        self.name = name
        self.board = get_board(board) if isinstance(board, str) else board
        if self.board.capture != "dca1000":
            raise ConfigError(f"board {self.board.name} is not captured with a DCA1000 ({self.board.capture})")
        self.cfg = resolve_cfg(cfg, self.board)
        self.params = self.cfg.derive(self.board)
        self.host_ip, self.fpga_ip, self.cli_port = host_ip, fpga_ip, cli_port
        self.packet_delay_us = packet_delay_us
        self.frame_timeout_s = frame_timeout_s or max(2.0, 5 * self.params.frame_period_s)
        self.metadata = {
            "board": self.board.name, "cfg_text": self.cfg.to_text(), "frame_bytes": self.params.frame_bytes,
            "frame_shape": list(self.params.frame_shape), "frame_period_s": self.params.frame_period_s,
            "host_ip": host_ip, "fpga_ip": fpga_ip, "packet_delay_us": packet_delay_us,
        }
        self.cli = None
        self._recording = False
        self.control = DCA1000Control(host_ip, fpga_ip, config_port=config_port, fpga_port=fpga_port,
                                      timeout_s=timeout_s, retries=retries)
        try:
            self.receiver = DCA1000Receiver(host_ip, self.params.frame_bytes, fpga_ip=fpga_ip, fpga_port=fpga_port,
                                            data_port=data_port,
                                            queue_frames=queue_frames, reorder_bytes=reorder_bytes,
                                            on_idle=self.control.poll_status)
        except BaseException:
            self.control.close()
            raise
        self.metadata["rcvbuf_granted_bytes"] = self.receiver.rcvbuf_granted
        self._cli_timeout = cli_timeout_s
        self.data_timeout_s = self.frame_timeout_s
        self._include_partial = False  # set when the device went quiet: its last bytes are real data
        self._flushed = False
        self._last_poll = 0.0

    # -- lifecycle ----------------------------------------------------------------------------------
    def _start(self) -> None:
        """Configure the FPGA and the radar, start the record, then the radar."""
        try:
            version = self.control.setup(self.board.lvds_lanes, self.packet_delay_us)
            self.metadata["fpga_version"] = str(version)
            if self.cli_port:
                from rfpose.drivers.mmwave_cli import MmwaveCli

                port = self.cli_port
                if port == "auto":
                    from rfpose.drivers.serial_ports import find_radar_ports

                    port = find_radar_ports().cli
                self.cli = MmwaveCli(port, timeout_s=self._cli_timeout)
                self.cli.configure(self.cfg, start=False)
            self.receiver.start()
            self.control.start_record()
            self._recording = True
            if self.cli is not None:
                self.cli.sensor_start()
        except BaseException:
            self._shutdown_devices()
            raise

    def _shutdown_devices(self) -> None:
        errors = []
        if self.cli is not None:
            try:
                self.cli.sensor_stop()
            except RfposeError as e:
                errors.append(e)
        try:
            self.control.stop_record()
        except RfposeError as e:
            errors.append(e)
        for e in errors:
            log.warning("while stopping %s: %s", self.name, e)

    def _stop(self) -> None:
        """Stop the radar and the record; frames received so far are still read.

        The frame the radar was in the middle of is dropped, unless the device stopped on its own (a data
        timeout): then its bytes are real data, flagged incomplete.
        """
        try:
            if self._recording:
                self._shutdown_devices()
            self.receiver.stop(flush=True, include_partial=self._include_partial)
        finally:
            self._flushed = True

    def _on_data_timeout(self) -> None:
        self._include_partial = True
        self.stop()

    def _timeout_error(self) -> BaseException:
        return DeviceTimeout(f"no radar data from the DCA1000 at {self.fpga_ip} for {self.frame_timeout_s:g} s "
                             f"({self.receiver.stats.frames_emitted} frames received)")

    def _close(self) -> None:
        self.receiver.close()
        self.control.close()
        if self.cli is not None:
            self.cli.close()

    # -- frames -------------------------------------------------------------------------------------
    def _stats(self) -> dict:
        st = self.receiver.stats
        return {"frames": st.frames_emitted, "incomplete_frames": st.frames_incomplete, "lost_bytes": st.lost_bytes,
                "malformed_packets": st.malformed, "duplicate_packets": st.duplicates, "late_packets": st.too_late,
                "foreign_packets": st.foreign + self.control.foreign, "skipped_frames": st.frames_skipped,
                "dropped_frames": self.receiver.dropped_frames, "status": dict(self.control.status_counts)}

    def _read(self, timeout_s: float):
        frame = self.receiver.get(timeout=timeout_s)
        now = time.monotonic()
        if now - self._last_poll > 0.2 and not self._closed:
            # Status packets also arrive while data streams without pause (the receiver polls on idle).
            self.control.poll_status()
            self._last_poll = now
        if frame is not None:
            return frame
        if self._flushed:
            # Everything flushed by stop() is already in the queue.
            return self.receiver.get(timeout=0) or END
        if self.receiver.error is not None:
            raise DeviceError(f"DCA1000 receiver on {self.host_ip} failed: {self.receiver.error}")
        return None
