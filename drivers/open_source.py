"""``open_source(uri)``: one entry point from a URI (or a plain path) to a :class:`~rfpose.source.Source`.

=========================================================================  ===================================
``dca1000://HOST_IP?fpga=IP&board=NAME&cfg=FILE&cli=PORT``                 live raw ADC (:class:`DCA1000Source`)
``uart:///dev/ttyACM1?cli=/dev/ttyACM0&cfg=FILE``                          demo-firmware point clouds
``session://PATH.zarr#STREAM``                                             a recorded session stream (rfpose.session)
``sim://SCENARIO?board=NAME&seed=0&frames=10#STREAM``                      the simulator (rfpose.sim)
``adc://PATH.bin?board=NAME&cfg=FILE``                                     replay of an adc_data.bin
``pcd:///DIR?fps=10``                                                      a directory of NNNNNN.pcd / .ply
``camera://0`` / ``camera:///dev/video0`` / ``camera:///x.mp4``            OpenCV VideoCapture
``ouster://HOST`` (or a .pcap/.osf path)                                   Ouster LiDAR via ouster-sdk
``emu+dca1000://HOST_IP?fpga=IP&board=NAME&cfg=FILE&adc=counter&seed=0``   an emulated DCA1000 + board, in-process
``emu+uart://?board=NAME&cfg=FILE&points=walking&targets=3&seed=0``        an emulated demo-firmware board
``dca1000-pcap:///x.pcap?board=NAME&cfg=FILE`` (or ``frame_bytes=N``)      DCA1000 traffic in a Wireshark capture
``uart-file:///x.dat?cfg=FILE&sdk=2``                                      a recorded demo-firmware UART stream
=========================================================================  ===================================

``realtime=1`` in the query of a seekable source (``sim://``, ``session://``, ``adc://``, ``pcd://``) replays
it at its own pace with host timestamps, as a live sensor would
(:class:`~rfpose.drivers.realtime.RealtimeSource`); add ``loop=1`` to start over at the end and
``max_rate_hz=R`` to cap the frame rate — e.g. ``session://rec.zarr?realtime=1&loop=1#radar``; ``drop_late=0``
emits every frame even when producing it took longer than its period (late, stamped with its due time).

The ``emu+`` schemes start the device emulators in-process and return the real driver talking to them
(over loopback UDP and ptys); closing the source closes the emulators. Their other query keys are the rig
file's ``[sensors.emulation]`` keys (``loss_rate``, ``corrupt_rate``, ``garbage_rate`` …).

Plain paths dispatch on what they are: ``*.zarr`` (session, ``#stream``), ``*.bin``, a directory of
PCD files, a video file, ``*.pcap``/``*.osf``. An unknown scheme raises :class:`~rfpose.errors.UnknownNameError`
listing the valid ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from rfpose.errors import ConfigError, UnknownNameError

_VIDEO = (".mp4", ".avi", ".mkv", ".mov", ".webm")
_FALSE = ("0", "false", "no")
#: query keys every scheme accepts (the realtime wrapper's)
_REPLAY_KEYS = ("realtime", "loop", "max_rate_hz", "drop_late")


@dataclass(frozen=True)
class SourceURI:
    """A parsed source URI: ``scheme://target?query#fragment`` (``target`` is host and path together)."""

    text: str
    scheme: str
    host: str
    path: str
    query: dict[str, str]
    fragment: str

    @property
    def target(self) -> str:
        return self.host + self.path

    @classmethod
    def parse(cls, uri: str) -> SourceURI:
        parts = urlsplit(uri)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        return cls(uri, parts.scheme.lower(), parts.netloc, parts.path, query, parts.fragment)

    def number(self, key: str, default: float) -> float:
        try:
            return float(self.query[key]) if key in self.query else default
        except ValueError:
            raise ConfigError(f"{self.text}: source option {key}={self.query[key]!r} is not a number") from None

    def flag(self, key: str) -> bool:
        return key in self.query and self.query[key].lower() not in _FALSE


#: scheme -> opener(uri, **overrides); the keyword ``overrides`` go to the source's constructor.
OPENERS: dict[str, Callable] = {}


def scheme(name: str):
    """Register an opener for ``name://…`` URIs."""
    def register(fn):
        OPENERS[name] = fn
        return fn
    return register


def open_source(uri: str, **overrides):
    """Open the source a URI (or a plain path) names; keyword ``overrides`` go to the source's constructor."""
    if "://" not in uri:
        return _open_path(uri, **overrides)
    u = SourceURI.parse(uri)
    opener = OPENERS.get(u.scheme)
    if opener is None:
        raise UnknownNameError("source scheme", u.scheme, list(OPENERS))
    src = opener(u, **overrides)
    if not u.flag("realtime"):
        return src
    from rfpose.drivers.realtime import RealtimeSource

    if not src.is_seekable:
        src.close()
        raise ConfigError(f"{uri}: realtime replay needs a recorded or simulated source")
    return RealtimeSource(src, loop=u.flag("loop"), max_rate_hz=u.number("max_rate_hz", 0.0) or None,
                          drop_late=u.number("drop_late", 1.0) != 0)


# -- devices ---------------------------------------------------------------------------------------
@scheme("dca1000")
def _dca1000(u: SourceURI, **overrides):
    from rfpose.drivers.dca1000_source import DCA1000Source

    if "board" not in u.query and "board" not in overrides:
        raise ConfigError(f"{u.text}: a dca1000 source needs ?board=NAME")
    kw = dict(board=u.query.get("board"), cfg=u.query.get("cfg"), host_ip=u.host or "192.168.33.30",
              fpga_ip=u.query.get("fpga", "192.168.33.180"), cli_port=u.query.get("cli"),
              packet_delay_us=u.number("delay_us", 25.0), name=u.query.get("name", "radar"))
    return DCA1000Source(**{**kw, **overrides})


@scheme("uart")
def _uart(u: SourceURI, **overrides):
    from rfpose.drivers.demo_points import DemoPointSource

    cfg = None
    if "cfg" in u.query:
        from rfpose.boards import get_board
        from rfpose.radar_config import load_cfg

        cfg = load_cfg(u.query["cfg"], get_board(u.query["board"]) if "board" in u.query else None)
    kw = dict(cli_port=u.query.get("cli"), cfg=cfg, baudrate=int(u.number("baud", 921600)),
              name=u.query.get("name", "radar_points"), board=u.query.get("board"))
    return DemoPointSource(u.path, **{**kw, **overrides})


@scheme("camera")
def _camera(u: SourceURI, **overrides):
    from rfpose.drivers.camera import CameraSource

    device: int | str = int(u.target) if u.target.isdigit() else u.target
    kw = {k: int(u.number(k, 0)) for k in ("width", "height") if k in u.query}
    return CameraSource(device, name=u.query.get("name", "camera"), **kw, **overrides)


@scheme("ouster")
def _ouster(u: SourceURI, **overrides):
    from rfpose.drivers.ouster import OusterSource

    return OusterSource(u.target, name=u.query.get("name", "lidar"), **overrides)


# -- emulated devices ------------------------------------------------------------------------------
def _emulation(u: SourceURI, own: tuple[str, ...]):
    """The ``[sensors.emulation]`` settings given in the query (unknown keys are an error)."""
    from rfpose.drivers.rig import EmulationConfig

    fields = {f.name: f for f in dataclasses.fields(EmulationConfig)}
    unknown = sorted(set(u.query) - set(fields) - set(own) - set(_REPLAY_KEYS))
    if unknown:
        raise ConfigError(f"{u.text}: unknown option(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(sorted([*own, *fields]))}")
    kw = {}
    for key in set(u.query) & set(fields):
        kind = fields[key].type
        kw[key] = u.query[key] if kind == "str" else (int if kind == "int" else float)(u.number(key, 0))
    return EmulationConfig(**kw)


def _owning(devices: list, make: Callable):
    """The source ``make()`` returns, owning ``devices`` (closed with it, or at once if it fails to open)."""
    try:
        src = make()
    except BaseException:
        for d in reversed(devices):
            d.close()
        raise
    src.own(*devices)
    return src


@scheme("emu+dca1000")
def _emulated_dca1000(u: SourceURI, **overrides):
    from rfpose.drivers.dca1000_source import DCA1000Source
    from rfpose.drivers.emulated import start_dca1000

    if "board" not in u.query:
        raise ConfigError(f"{u.text}: an emulated dca1000 source needs ?board=NAME")
    e = _emulation(u, ("board", "cfg", "fpga", "name", "delay_us"))
    host, fpga = u.host or "127.0.0.1", u.query.get("fpga", "127.0.0.2")
    devices, cli = start_dca1000(u.query["board"], host, fpga, e)
    kw = dict(board=u.query["board"], cfg=u.query.get("cfg"), host_ip=host, fpga_ip=fpga, cli_port=cli,
              packet_delay_us=u.number("delay_us", 25.0), name=u.query.get("name", "radar"))
    return _owning(devices, lambda: DCA1000Source(**{**kw, **overrides}))


@scheme("emu+uart")
def _emulated_uart(u: SourceURI, **overrides):
    from rfpose.boards import get_board
    from rfpose.drivers.dca1000_source import resolve_cfg
    from rfpose.drivers.demo_points import DemoPointSource
    from rfpose.drivers.emulated import start_uart

    board = get_board(u.query.get("board", "iwr6843isk"))
    e = _emulation(u, ("board", "cfg", "name"))
    devices, cli, data = start_uart(board.name, u.query.get("cfg"), e)
    kw = dict(cli_port=cli, board=board.name, name=u.query.get("name", "radar_points"))
    return _owning(devices, lambda: DemoPointSource(data, **{**kw, "cfg": resolve_cfg(u.query.get("cfg"), board),
                                                              **overrides}))


# -- recordings and the simulator ------------------------------------------------------------------
@scheme("session")
def _session(u: SourceURI, **overrides):
    return _open_session(u.target, u.fragment)


@scheme("sim")
def _sim(u: SourceURI, **overrides):
    """``sim://SCENARIO?board=NAME&seed=0&frames=10&people=1&camera=0&lidar=0#STREAM`` (default: the first radar)."""
    try:
        from rfpose.sim.scenarios import build_rig
    except ModuleNotFoundError:
        raise ConfigError(f"{u.text}: the simulator (rfpose.sim) is not installed in this build") from None
    kw = {"seed": int(u.number("seed", 0)), "num_frames": int(u.number("frames", 10)), "board": u.query.get("board")}
    if "people" in u.query:
        kw["people"] = int(u.number("people", 1))
    for flag in ("camera", "lidar"):
        if flag in u.query:
            kw[flag] = u.flag(flag)
    rig = build_rig(u.target.strip("/"), **kw, **overrides)
    if not u.fragment:
        return rig.radar
    if u.fragment not in rig.sources:
        raise UnknownNameError("simulated stream", u.fragment, list(rig.sources))
    return rig.sources[u.fragment]


@scheme("adc")
def _adc(u: SourceURI, **overrides):
    return _open_adc(u.path, u.query, **overrides)


@scheme("dca1000-pcap")
def _dca1000_pcap(u: SourceURI, **overrides):
    from rfpose.drivers.dca1000_pcap import Dca1000PcapSource

    kw = dict(board=u.query.get("board"), cfg=u.query.get("cfg"), name=u.query.get("name", "radar"),
              fpga_ip=u.query.get("fpga", "192.168.33.180"), fpga_port=int(u.number("fpga_port", 1024)))
    if "frame_bytes" in u.query:
        kw["frame_bytes"] = int(u.number("frame_bytes", 0))
    return Dca1000PcapSource(u.path, **{**kw, **overrides})


@scheme("uart-file")
def _uart_file(u: SourceURI, **overrides):
    from rfpose.boards import get_board
    from rfpose.drivers.uart_recording import UartRecordingSource
    from rfpose.radar_config import load_cfg

    if "cfg" not in u.query:
        raise ConfigError(f"{u.text}: a uart-file source needs ?cfg=FILE (the .cfg the board ran)")
    board = u.query.get("board")
    cfg = load_cfg(u.query["cfg"], get_board(board) if board else None)
    sdk = u.query.get("sdk", "auto")
    if sdk not in ("auto", "2", "3"):
        raise ConfigError(f"{u.text}: sdk={sdk!r}; valid: auto, 2, 3")
    return UartRecordingSource(u.path, cfg, sdk=None if sdk == "auto" else int(sdk), board=board,
                               name=u.query.get("name", "radar_points"), **overrides)


@scheme("pcd")
def _pcd(u: SourceURI, **overrides):
    from rfpose.drivers.pcd import PcdDirectorySource

    return PcdDirectorySource(u.path, fps=u.number("fps", 10.0), name=u.query.get("name", "lidar"), **overrides)


def _open_adc(path: str, q: dict, **overrides):
    from rfpose.drivers.adc_file import AdcFileSource

    frame_bytes, period = None, 0.1
    if "board" in q:
        from rfpose.boards import get_board
        from rfpose.drivers.dca1000_source import resolve_cfg

        board = get_board(q["board"])
        params = resolve_cfg(q.get("cfg"), board).derive(board)
        frame_bytes, period = params.frame_bytes, params.frame_period_s
    return AdcFileSource(path, frame_bytes=frame_bytes, frame_period_s=period, name=q.get("name", "radar"), **overrides)


def _open_session(path: str, stream: str):
    try:
        from rfpose.session import SessionReader
    except ModuleNotFoundError:
        raise ConfigError(f"session://{path}: the session format (rfpose.session) is not installed in this build") from None
    if not stream:
        raise ConfigError(f"session://{path}: name the stream after '#', e.g. session://{path}#radar")
    return SessionReader(path).stream(stream)


def _open_path(path: str, **overrides):
    base, _, fragment = path.partition("#")
    p = Path(base)
    if p.suffix == ".zarr":
        return _open_session(base, fragment)
    if p.suffix == ".bin":
        return _open_adc(base, {}, **overrides)
    if p.is_dir():
        from rfpose.drivers.pcd import PcdDirectorySource

        return PcdDirectorySource(p, **overrides)
    if p.suffix.lower() in _VIDEO:
        from rfpose.drivers.camera import CameraSource

        return CameraSource(str(p), **overrides)
    if p.suffix.lower() in (".pcap", ".osf"):
        from rfpose.drivers.ouster import OusterSource

        return OusterSource(str(p), **overrides)
    raise UnknownNameError("source", path, [f"{s}://…" for s in OPENERS] + ["*.zarr", "*.bin", "PCD directory", "video file"])
