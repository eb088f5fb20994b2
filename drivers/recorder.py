"""Record every sensor of a rig into one session: a pass-through on sources.

The sources run under a :class:`~rfpose.fanout.FanOut` (one reader thread per source); the recorder is
its lossless consumer, feeding the single session writer, and other consumers (a live monitor) may
subscribe to the same running sources (``on_fanout``). Live rates and loss counts are shown as a status line (a ``\\r`` line on a TTY, log
lines otherwise). On Ctrl-C, SIGTERM, the duration's end or a device error, the radars are stopped
(sensorStop, DCA1000 stop record), every frame already received is written, and the session is closed
committed; a device error is re-raised afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rfpose.drivers.emulated import EmulatedDevices, emulated_adc, emulated_points  # noqa: F401 - re-exported
from rfpose.drivers.rig import RigConfig, SensorConfig
from rfpose.errors import ConfigError, PartialRecording, RfposeError
from rfpose.fanout import FanOut

log = logging.getLogger(__name__)


@dataclass
class SensorStatus:
    name: str
    frames: int = 0
    last_frames: int = 0
    rate_hz: float = 0.0
    lost_bytes: int = 0
    incomplete: int = 0
    error: BaseException | None = None
    done: bool = False
    extra: dict = field(default_factory=dict)

    def line(self) -> str:
        s = f"{self.name} {self.frames} fr {self.rate_hz:5.1f}/s"
        if self.incomplete or self.lost_bytes:
            s += f" ({self.incomplete} incomplete, {self.lost_bytes} B lost)"
        dropped = self.extra.get("dropped_frames")
        if dropped:
            s += f" {dropped} dropped"
        bad = self.extra.get("bad_packets")
        if bad:
            s += f" {bad} bad packets"
        return s


def open_sensor(s: SensorConfig, cli_port: str | None = None, data_port: str | None = None):
    """The source for one rig sensor (not started). ``cli_port`` / ``data_port`` (an emulator's ptys)
    replace the rig file's."""
    from rfpose.drivers.open_source import open_source

    if s.kind == "radar" and s.driver == "dca1000" and not s.uri:
        from rfpose.drivers.dca1000_source import DCA1000Source

        return DCA1000Source(s.board, s.cfg or None, host_ip=s.host_ip, fpga_ip=s.fpga_ip, fpga_port=s.fpga_port,
                             cli_port=cli_port or s.cli_port or None, packet_delay_us=s.packet_delay_us, name=s.name)
    if s.kind == "radar_points" and not s.uri:
        from rfpose.boards import get_board
        from rfpose.drivers.dca1000_source import resolve_cfg
        from rfpose.drivers.demo_points import DemoPointSource

        board = get_board(s.board)
        cli = cli_port or s.cli_port or None
        # with a CLI port the radar is configured: the rig's cfg, or the board's preset
        cfg = resolve_cfg(s.cfg or None, board) if (s.cfg or cli) else None
        return DemoPointSource(data_port or s.data_port or "auto", cli_port=cli, cfg=cfg, board=board.name,
                               name=s.name)
    src = open_source(s.uri)
    src.name = s.name
    return src


def _add_stream(writer, s: SensorConfig, src) -> None:
    """Declare the session stream of one sensor. Geometry comes from the rig file, else from the source
    (a replayed session or the simulator knows its own extrinsics and camera model)."""
    geometry = ("extrinsics", "intrinsics", "distortion")
    meta = {k: v for k, v in src.metadata.items() if k not in ("cfg_text", "board", "frame_shape", *geometry)}
    meta["driver_uri"] = s.uri or s.driver
    if s.trigger:  # the rig file's word wins over the source's
        meta["trigger"] = s.trigger
    extrinsics, intrinsics, distortion = (getattr(s, k) if getattr(s, k) is not None else src.metadata.get(k)
                                          for k in geometry)
    if s.kind == "radar":
        writer.add_radar_stream(s.name, board=src.metadata.get("board", s.board), cfg_text=src.metadata.get("cfg_text"),
                                extrinsics=extrinsics, attrs=meta)
    elif s.kind == "lidar":
        writer.add_lidar_stream(s.name, extrinsics=extrinsics, attrs=meta)
    elif s.kind == "radar_points":
        if getattr(src, "kind", None) != "points":
            raise ConfigError(f"sensor {s.name}: kind radar_points, but its source {meta['driver_uri']!r} yields "
                              f"{getattr(src, 'kind', '?')!r} frames, not point clouds")
        writer.add_points_stream(s.name, board=src.metadata.get("board") or s.board or None,
                                 cfg_text=src.metadata.get("cfg_text"), extrinsics=extrinsics, attrs=meta)
    elif s.kind == "camera":
        h, w = src.metadata.get("height"), src.metadata.get("width")
        if not h or not w:
            raise ConfigError(f"camera {s.name}: the source does not report its image size")
        if intrinsics is None:
            raise ConfigError(f"camera {s.name}: give 'intrinsics' in the rig file (the source does not report them)")
        writer.add_camera_stream(s.name, height=h, width=w, intrinsics=intrinsics, distortion=distortion,
                                 extrinsics=extrinsics, attrs=meta)
    else:
        raise ConfigError(f"sensor {s.name}: the session format has no stream type for {s.kind!r} yet")


class Recorder:
    """Record a rig into ``out`` (a session). ``duration_s`` None records until interrupted."""

    def __init__(self, rig: RigConfig, out: str | Path, *, duration_s: float | None = None, overwrite: bool = False,
                 status_interval_s: float = 1.0, status_stream=None, max_frames: int | None = None,
                 on_fanout: Callable[[FanOut], None] | None = None):
        self.rig, self.out = rig, Path(out)
        self.duration_s, self.overwrite = duration_s, overwrite
        self.status_interval_s = status_interval_s
        self.status_stream = status_stream if status_stream is not None else sys.stderr
        self.max_frames = max_frames
        self.stop_event = threading.Event()
        self.status: dict[str, SensorStatus] = {}
        self.on_fanout = on_fanout  # called with the fan-out before it starts: other consumers subscribe there
        self.fanout: FanOut | None = None

    def request_stop(self, *_args) -> None:
        self.stop_event.set()

    def run(self) -> dict[str, SensorStatus]:
        from rfpose.session import SessionWriter

        emulators = EmulatedDevices(self.rig) if self.rig.emulate else None
        sources: dict[str, object] = {}
        installed = {}
        try:
            for s in self.rig.sensors:
                cli = emulators.cli_ports.get(s.name) if emulators else None
                data = emulators.data_ports.get(s.name) if emulators else None
                sources[s.name] = open_sensor(s, cli, data)
            fan = self.fanout = FanOut(sources)
            recorded = fan.subscribe("recorder", maxsize=512, lossless=True)
            if self.on_fanout is not None:
                self.on_fanout(fan)
            fan.start()  # configure the devices first: a bad device fails before any file
            attrs = {"rig": self.rig.to_dict(), "config": {"command": "record", "duration_s": self.duration_s}}
            with SessionWriter(self.out, attrs=attrs, overwrite=self.overwrite, commit_interval_s=1.0,
                               commit_every=1 << 30) as writer:
                for s in self.rig.sensors:
                    _add_stream(writer, s, sources[s.name])
                if threading.current_thread() is threading.main_thread():
                    for sig in (signal.SIGINT, signal.SIGTERM):
                        installed[sig] = signal.signal(sig, self.request_stop)
                self._record(writer, fan, recorded)
        finally:
            for sig, old in installed.items():
                signal.signal(sig, old)
            if self.fanout is not None:
                recorded.close()  # after an error nobody drains it: release a reader waiting for room
                self.fanout.stop()
                self.fanout.join(timeout=10)
            for src in sources.values():
                with contextlib.suppress(Exception):
                    src.close()
            if emulators is not None:
                emulators.close()
        failed = [st for st in self.status.values() if st.error is not None]
        if failed:
            st = failed[0]
            if not isinstance(st.error, RfposeError):
                raise st.error
            got = ", ".join(f"{s.name} {s.frames} frames" for s in self.status.values())
            raise PartialRecording(f"{st.name}: {st.error}; the session {self.out} is intact but partial ({got} "
                                   "recorded before)") from st.error
        return self.status

    def _record(self, writer, fan: FanOut, recorded) -> None:
        for name in fan.sources:
            self.status[name] = SensorStatus(name)
        t0 = last_status = time.monotonic()
        stopping = False
        tty = hasattr(self.status_stream, "isatty") and self.status_stream.isatty()
        while True:
            item = recorded.get(timeout=0.05)
            if item is not None:
                name, frame = item
                writer.append(name, frame)
                st = self.status[name]
                st.frames += 1
                if frame.kind == "radar":
                    st.lost_bytes += frame.lost_bytes
                    st.incomplete += not frame.complete
                if self.max_frames and min(s.frames for s in self.status.values()) >= self.max_frames:
                    self.stop_event.set()
            for name, error in fan.errors.items():
                if self.status[name].error is None:
                    self.status[name].error = error
                    self.stop_event.set()  # a device error: stop the rig, commit what was received
            now = time.monotonic()
            if self.duration_s is not None and now - t0 >= self.duration_s:
                self.stop_event.set()
            if not stopping and recorded.done:
                self.stop_event.set()  # every source ended on its own (finite replays)
            if self.stop_event.is_set() and not stopping:
                stopping = True
                fan.stop()
            if now - last_status >= self.status_interval_s:
                self._show(now - last_status, fan.sources, tty)
                last_status = now
            if stopping and recorded.done:
                break
        for st in self.status.values():
            st.done = True
        self._show(max(time.monotonic() - last_status, 1e-3), fan.sources, tty, final=True)

    def _show(self, dt: float, sources: dict, tty: bool, final: bool = False) -> None:
        for name, st in self.status.items():
            st.rate_hz = (st.frames - st.last_frames) / dt
            st.last_frames = st.frames
            st.extra = {k: v for k, v in sources[name].stats.items() if k != "frames"}
        text = " | ".join(st.line() for st in self.status.values())
        if tty:
            self.status_stream.write("\r" + text + ("\n" if final else ""))
            self.status_stream.flush()
        else:
            log.info("record: %s", text)


def summary(status: dict[str, SensorStatus]) -> dict:
    return {n: {"frames": s.frames, "incomplete": s.incomplete, "lost_bytes": s.lost_bytes, **s.extra}
            for n, s in status.items()}


__all__ = ["Recorder", "EmulatedDevices", "open_sensor", "emulated_adc", "emulated_points", "summary"]
