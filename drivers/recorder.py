"""Record every sensor of a rig into one session: a pass-through on sources.

Each source is iterated in its own thread and its frames go through one bounded queue to the single
session writer. Live rates and loss counts are shown as a status line (a ``\\r`` line on a TTY, log
lines otherwise). On Ctrl-C, SIGTERM, the duration's end or a device error, the radars are stopped
(sensorStop, DCA1000 stop record), every frame already received is written, and the session is closed
committed; a device error is re-raised afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


from rfpose.drivers.rig import RigConfig, SensorConfig
from rfpose.errors import ConfigError, PartialRecording, RfposeError

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


class EmulatedDevices:
    """The in-process emulators of an ``emulate = true`` rig: for each DCA1000 radar a DCA1000 emulator
    on its fpga_ip and a board emulator on a pty, linked so sensorStart starts the stream; for each
    demo-firmware point-cloud radar (``radar_points`` without ``uri``) a board emulator (CLI pty) and a UART
    emulator (data pty), linked the same way (the stream runs at the .cfg's frame period)."""

    def __init__(self, rig: RigConfig):
        from rfpose.boards import get_board
        from rfpose.drivers.emulators.board import BoardEmulator
        from rfpose.drivers.emulators.dca1000 import DCA1000Emulator, Impairments

        self.devices: list = []
        self.cli_ports: dict[str, str] = {}
        self.data_ports: dict[str, str] = {}
        try:
            for s in rig.sensors:
                if s.kind == "radar_points" and not s.uri:
                    self._add_points_radar(s)
                    continue
                if s.kind != "radar" or s.driver != "dca1000":
                    continue
                e = s.emulation
                dca = DCA1000Emulator(emulated_adc(e.adc, e.seed), fpga_ip=s.fpga_ip, host_ip=s.host_ip,
                                      source_port=s.fpga_port,
                                      lvds_lanes=get_board(s.board).lvds_lanes,
                                      impairments=Impairments(loss_rate=e.loss_rate, duplicate_rate=e.duplicate_rate,
                                                              reorder_rate=e.reorder_rate,
                                                              corrupt_rate=e.corrupt_rate, seed=e.seed))
                self.devices.append(dca)
                board = BoardEmulator(s.board, dca=dca)
                self.devices.append(board)
                self.cli_ports[s.name] = board.path
                log.info("emulating %s: board CLI on %s, DCA1000 on %s", s.name, board.path, s.fpga_ip)
        except BaseException:
            self.close()
            raise

    def _add_points_radar(self, s: SensorConfig) -> None:
        from rfpose.boards import get_board
        from rfpose.drivers.dca1000_source import resolve_cfg
        from rfpose.drivers.emulators.board import BoardEmulator
        from rfpose.drivers.emulators.uart import UartEmulator

        e = s.emulation
        board = get_board(s.board)
        period = resolve_cfg(s.cfg or None, board).derive(board).frame_period_s
        uart = UartEmulator(emulated_points(e.points, e.seed, e.targets, period), garbage_rate=e.garbage_rate,
                            corrupt_rate=e.corrupt_rate, seed=e.seed, autostart=False)
        self.devices.append(uart)
        cli = BoardEmulator(board, dca=uart)  # its sensorStart / sensorStop start and stop the UART stream
        self.devices.append(cli)
        self.cli_ports[s.name] = cli.path
        self.data_ports[s.name] = uart.path
        log.info("emulating %s: board CLI on %s, demo-firmware data UART on %s", s.name, cli.path, uart.path)

    def close(self) -> None:
        for d in reversed(self.devices):
            d.close()
        self.devices = []


def emulated_points(spec: str, seed: int = 0, targets: int = 3, frame_period_s: float = 0.1):
    """The point generator named by a radar_points sensor's ``emulation.points``: ``walking`` (``targets``
    targets circling in front of the radar) or ``sim://SCENARIO[?people=N]`` (joints of simulated people)."""
    from urllib.parse import parse_qs, urlsplit

    from rfpose.drivers.emulators.uart import simulated_points, walking_targets

    if spec == "walking":
        return walking_targets(targets, seed)
    if spec.startswith("sim://"):
        parts = urlsplit(spec)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(q) - {"people"})
        if unknown:
            raise ConfigError(f"emulation.points {spec!r}: unknown option(s) {', '.join(unknown)}; valid: people")
        try:
            people = int(q["people"]) if "people" in q else None
        except ValueError:
            raise ConfigError(f"emulation.points {spec!r}: people={q['people']!r} is not a whole number") from None
        return simulated_points((parts.netloc + parts.path).strip("/"), seed=seed, frame_period_s=frame_period_s,
                                people=people)
    raise ConfigError(f"emulation.points {spec!r} is unknown; valid: walking, sim://SCENARIO[?people=N]")


def emulated_adc(spec: str, seed: int = 0):
    """The ADC provider named by a rig's ``emulation.adc``."""
    from rfpose.drivers.emulators.adc_frames import AdcFile, SourceAdc, SyntheticAdc

    if spec in ("counter", "random"):
        return SyntheticAdc(spec, seed=seed)
    if "://" in spec:
        from rfpose.drivers.open_source import open_source

        return SourceAdc(open_source(spec), loop=True)
    return AdcFile(spec, loop=True)


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
                 status_interval_s: float = 1.0, status_stream=None, max_frames: int | None = None):
        self.rig, self.out = rig, Path(out)
        self.duration_s, self.overwrite = duration_s, overwrite
        self.status_interval_s = status_interval_s
        self.status_stream = status_stream if status_stream is not None else sys.stderr
        self.max_frames = max_frames
        self.stop_event = threading.Event()
        self.status: dict[str, SensorStatus] = {}

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
            for src in sources.values():  # configure the devices first: a bad device fails before any file
                start = getattr(src, "start", None)
                if start is not None:
                    start()
            attrs = {"rig": self.rig.to_dict(), "config": {"command": "record", "duration_s": self.duration_s}}
            with SessionWriter(self.out, attrs=attrs, overwrite=self.overwrite, commit_interval_s=1.0,
                               commit_every=1 << 30) as writer:
                for s in self.rig.sensors:
                    _add_stream(writer, s, sources[s.name])
                if threading.current_thread() is threading.main_thread():
                    for sig in (signal.SIGINT, signal.SIGTERM):
                        installed[sig] = signal.signal(sig, self.request_stop)
                self._record(writer, sources)
        finally:
            for sig, old in installed.items():
                signal.signal(sig, old)
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

    def _record(self, writer, sources: dict) -> None:
        q: queue.Queue = queue.Queue(maxsize=512)
        for name in sources:
            self.status[name] = SensorStatus(name)

        def pump(name: str, src) -> None:
            st = self.status[name]
            try:
                for frame in src:
                    q.put((name, frame))
                    if self.stop_event.is_set() and not hasattr(src, "stop"):
                        break  # a source without a device to stop just ends here
            except RfposeError as e:
                st.error = e
                log.info("%s: %s", name, e)  # raised from run() once everything is committed
                self.stop_event.set()
            except Exception as e:  # noqa: BLE001 - reported, the rest of the rig is still committed
                st.error = e
                log.exception("%s failed", name)
                self.stop_event.set()
            finally:
                st.done = True

        threads = [threading.Thread(target=pump, args=(n, s), name=f"rec-{n}", daemon=True) for n, s in sources.items()]
        for t in threads:
            t.start()
        t0 = last_status = time.monotonic()
        stopping = False
        tty = hasattr(self.status_stream, "isatty") and self.status_stream.isatty()
        while True:
            try:
                name, frame = q.get(timeout=0.05)
                writer.append(name, frame)
                st = self.status[name]
                st.frames += 1
                if frame.kind == "radar":
                    st.lost_bytes += frame.lost_bytes
                    st.incomplete += not frame.complete
                if self.max_frames and min(s.frames for s in self.status.values()) >= self.max_frames:
                    self.stop_event.set()
            except queue.Empty:
                pass
            now = time.monotonic()
            if self.duration_s is not None and now - t0 >= self.duration_s:
                self.stop_event.set()
            if not stopping and q.empty() and all(not t.is_alive() for t in threads):
                self.stop_event.set()  # every source ended on its own (finite replays)
            if self.stop_event.is_set() and not stopping:
                stopping = True
                for src in sources.values():
                    stop = getattr(src, "stop", None)
                    if stop is not None:
                        try:
                            stop()
                        except RfposeError as e:
                            log.warning("stopping %s: %s", getattr(src, "name", "?"), e)
            if now - last_status >= self.status_interval_s:
                self._show(now - last_status, sources, tty)
                last_status = now
            if stopping and all(not t.is_alive() for t in threads) and q.empty():
                break
        self._show(max(time.monotonic() - last_status, 1e-3), sources, tty, final=True)

    def _show(self, dt: float, sources: dict, tty: bool, final: bool = False) -> None:
        for name, st in self.status.items():
            st.rate_hz = (st.frames - st.last_frames) / dt
            st.last_frames = st.frames
            stats = getattr(sources[name], "stats", None)
            if callable(stats):
                st.extra = stats()
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
