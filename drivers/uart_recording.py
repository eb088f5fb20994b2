"""A recorded demo-firmware UART stream (what TI's mmWave Demo Visualizer saves with "Record", or any raw
dump of the data port) read back as point clouds.

The file is the data UART's bytes, packets back to back with whatever noise the port picked up; the same
:class:`~rfpose.drivers.tlv.TlvStreamParser` as the live source finds the packets, counting and skipping bad
ones. SDK 1.x/2.x files carry Doppler bin indices, so the configuration the board ran is needed for
velocities (and for the frame period). The file holds no host times: a frame's ``timestamp_ns`` is its
frame number's offset from the first frame times the configured frame period.
"""

from __future__ import annotations

from pathlib import Path

from rfpose.drivers.tlv import DopplerScale, TlvStreamParser
from rfpose.errors import ConfigError, FormatError
from rfpose.radar_config import RadarConfig
from rfpose.source import PointCloudFrame, SourceBase

_READ_BYTES = 1 << 20


class UartRecordingSource(SourceBase):
    """Point clouds of a recorded data-UART file (seekable; parsed once when opened).

    Args:
        path: the recording.
        cfg: the configuration the board ran (velocity scale of SDK 1.x/2.x packets, frame period).
        sdk: 2 or 3 to force the point format; None takes it from each packet's version field.
        board: the board's name, kept in :attr:`metadata`.
    """

    kind = "points"
    is_live = False
    is_seekable = True

    def __init__(self, path: str | Path, cfg: RadarConfig, *, sdk: int | None = None, board: str | None = None,
                 name: str = "radar_points"):
        super().__init__()
        self.name = name
        path = Path(path)
        params = cfg.derive()
        if params.frame_period_s <= 0:
            raise ConfigError(f"{cfg.path}: frameCfg gives no frame period; the recording's times come from it")
        self.parser = TlvStreamParser(sdk=sdk, doppler=DopplerScale.from_params(params))
        try:
            with open(path, "rb") as f:
                packets = []
                while chunk := f.read(_READ_BYTES):
                    packets += self.parser.feed(chunk)
        except OSError as e:
            raise FormatError(f"{path}: cannot read ({e.strerror})") from None
        if not packets:
            raise FormatError(f"{path}: no demo-firmware packet found in {path.stat().st_size} bytes "
                              f"({self.parser.bad_packets} bad packets)")
        period_ns = round(params.frame_period_s * 1e9)
        first = packets[0].header.frame_number
        self._frames = [PointCloudFrame(i, ((p.header.frame_number - first) % (1 << 32)) * period_ns,
                                        p.points, p.header.frame_number)
                        for i, p in enumerate(packets)]
        self.metadata = {"recording": str(path), "board": board, "cfg_text": cfg.to_text(),
                         "frame_period_s": params.frame_period_s, "sdk": sdk or "auto", **self._stats()}

    def _stats(self) -> dict:
        return {"frames": self.parser.packets, "bad_packets": self.parser.bad_packets,
                "skipped_bytes": self.parser.skipped_bytes}

    def _len(self) -> int:
        return len(self._frames)

    def _get(self, index: int) -> PointCloudFrame:
        return self._frames[index]
