"""``open_source(uri)``: one entry point from a URI (or a plain path) to a :class:`~rfpose.source.Source`.

=================================================================  ===========================================
``dca1000://HOST_IP?fpga=IP&board=NAME&cfg=FILE&cli=PORT``         live raw ADC (:class:`DCA1000Source`)
``uart:///dev/ttyACM1?cli=/dev/ttyACM0&cfg=FILE``                  demo-firmware point clouds
``session://PATH.zarr#STREAM``                                     a recorded session stream (rfpose.session)
``sim://SCENARIO?board=NAME&seed=0&frames=10#STREAM``              the simulator (rfpose.sim)
``adc://PATH.bin?board=NAME&cfg=FILE``                             replay of an adc_data.bin
``pcd:///DIR?fps=10``                                              a directory of NNNNNN.pcd
``camera://0`` / ``camera:///dev/video0`` / ``camera:///x.mp4``    OpenCV VideoCapture
``ouster://HOST`` (or a .pcap/.osf path)                           Ouster LiDAR via ouster-sdk
=================================================================  ===========================================

``realtime=1`` in the query of a ``sim://`` or ``session://`` URI replays it at its own pace with host
timestamps, as a live sensor would (:class:`~rfpose.drivers.realtime.RealtimeSource`); add ``loop=1`` to
start over at the end and ``max_rate_hz=R`` to cap the frame rate.

Plain paths dispatch on what they are: ``*.zarr`` (session, ``#stream``), ``*.bin``, a directory of
PCD files, a video file. An unknown scheme raises :class:`~rfpose.errors.UnknownNameError`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from rfpose.errors import ConfigError, UnknownNameError

SCHEMES = ("dca1000", "uart", "session", "sim", "adc", "pcd", "camera", "ouster")
_VIDEO = (".mp4", ".avi", ".mkv", ".mov", ".webm")


def _query(q: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(q, keep_blank_values=True).items()}


def _float(q: dict, key: str, default: float) -> float:
    try:
        return float(q[key]) if key in q else default
    except ValueError:
        raise ConfigError(f"source option {key}={q[key]!r} is not a number") from None


def open_source(uri: str, **overrides):
    """Open the source a URI names; keyword ``overrides`` go to the source's constructor."""
    q = _query(urlsplit(uri).query) if "://" in uri else {}
    if q.get("realtime", "0").lower() not in ("0", "false", "no"):
        from rfpose.drivers.realtime import RealtimeSource

        inner = _open(uri, **overrides)
        if not inner.is_seekable:
            raise ConfigError(f"{uri}: realtime replay needs a recorded or simulated source")
        return RealtimeSource(inner, loop=q.get("loop", "0").lower() not in ("0", "false", "no"),
                              max_rate_hz=_float(q, "max_rate_hz", 0.0) or None)
    return _open(uri, **overrides)


def _open(uri: str, **overrides):
    if "://" not in uri:
        return _open_path(uri, **overrides)
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    q = _query(parts.query)
    path = parts.path
    if scheme == "dca1000":
        from rfpose.drivers.dca1000_source import DCA1000Source

        if "board" not in q and "board" not in overrides:
            raise ConfigError(f"{uri}: a dca1000 source needs ?board=NAME")
        kw = dict(board=q.get("board"), cfg=q.get("cfg"), host_ip=parts.hostname or "192.168.33.30",
                  fpga_ip=q.get("fpga", "192.168.33.180"), cli_port=q.get("cli"),
                  packet_delay_us=_float(q, "delay_us", 25.0), name=q.get("name", "radar"))
        return DCA1000Source(**{**kw, **overrides})
    if scheme == "uart":
        from rfpose.drivers.demo_points import DemoPointSource

        cfg = None
        if "cfg" in q:
            from rfpose.radar_config import load_cfg

            cfg = load_cfg(q["cfg"], q.get("board"))
        kw = dict(cli_port=q.get("cli"), cfg=cfg, baudrate=int(_float(q, "baud", 921600)), name=q.get("name", "radar_points"))
        return DemoPointSource(path, **{**kw, **overrides})
    if scheme == "session":
        return _open_session(path if not parts.netloc else parts.netloc + path, parts.fragment, **overrides)
    if scheme == "sim":
        try:
            sim = importlib.import_module("rfpose.sim")
        except ModuleNotFoundError:
            raise ConfigError(f"{uri}: the simulator (rfpose.sim) is not installed in this build") from None
        opener = getattr(sim, "open_source", None)
        if opener is not None:
            return opener(uri, **overrides)
        return _open_sim(parts.netloc + path, q, parts.fragment, **overrides)
    if scheme == "adc":
        return _open_adc(path, q, **overrides)
    if scheme == "pcd":
        from rfpose.drivers.pcd import PcdDirectorySource

        return PcdDirectorySource(path, fps=_float(q, "fps", 10.0), name=q.get("name", "lidar"), **overrides)
    if scheme == "camera":
        from rfpose.drivers.camera import CameraSource

        target = parts.netloc + path
        device: int | str = int(target) if target.isdigit() else target
        kw = {k: int(q[k]) for k in ("width", "height") if k in q}
        return CameraSource(device, name=q.get("name", "camera"), **kw, **overrides)
    if scheme == "ouster":
        from rfpose.drivers.ouster import OusterSource

        return OusterSource(parts.netloc + path, name=q.get("name", "lidar"), **overrides)
    raise UnknownNameError("source scheme", scheme, SCHEMES)


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


def _open_sim(scenario: str, q: dict, stream: str, **overrides):
    """``sim://SCENARIO?board=NAME&seed=0&frames=10&people=1#STREAM`` (default stream: the first radar)."""
    from rfpose.sim.scenarios import build_rig

    kw = {"seed": int(_float(q, "seed", 0)), "num_frames": int(_float(q, "frames", 10)), "board": q.get("board")}
    if "people" in q:
        kw["people"] = int(_float(q, "people", 1))
    for flag in ("camera", "lidar"):
        if flag in q:
            kw[flag] = q[flag].lower() not in ("0", "false", "no")
    rig = build_rig(scenario.strip("/"), **kw, **overrides)
    if not stream:
        return rig.radar
    if stream not in rig.sources:
        raise UnknownNameError("simulated stream", stream, list(rig.sources))
    return rig.sources[stream]


def _open_session(path: str, stream: str, **overrides):
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
        return _open_session(base, fragment, **overrides)
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
    raise UnknownNameError("source", path, [f"{s}://…" for s in SCHEMES] + ["*.zarr", "*.bin", "PCD directory", "video file"])
