"""``monitor.toml``: the monitor's typed configuration, validated at start with ``file:line`` errors.

Every section is a dataclass; :func:`load_config` reads the TOML, rejects unknown keys and wrong types
naming the file and line of the offending key, and checks values (polygons, ports, ranges). Lengths are
metres, times seconds, angles degrees. The room frame has its origin on the floor, z up; the radar's pose
in it is ``[room.radar]`` (position, yaw about z, downward tilt).

A minimal file::

    [source]
    uri = "dca1000://192.168.33.30?board=awr1843boost&cli=auto"

    [model]
    run = "runs/hrradarpose-lite"

    [room.radar]
    height_m = 1.2

    [[zones]]
    name = "bed"
    polygon = [[2.0, -1.0], [4.0, -1.0], [4.0, 0.5], [2.0, 0.5]]

    [mqtt]
    host = "127.0.0.1"

    [web]
    token_file = "/etc/rfpose/token"
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from rfpose.errors import ConfigError

#: URI schemes of sensors a room monitor must never read: it is radar-only by construction.
REFUSED_SCHEMES = {"camera": "a camera", "ouster": "a LiDAR", "pcd": "LiDAR point clouds"}


@dataclass
class SourceConfig:
    """The radar stream (an ``open_source`` URI) and how to recover when it stops."""

    uri: str = ""
    stale_s: float = 1.0  # no frame for this long → availability offline
    reconnect_min_s: float = 0.5  # backoff between attempts to reopen: doubles up to reconnect_max_s
    reconnect_max_s: float = 2.0
    queue_frames: int = 1  # frames waiting for inference; older ones are dropped (and counted): the freshest wins
    record: str = ""  # also record the radar stream into this session (.zarr), every frame; "" = no recording
    record_overwrite: bool = False  # an existing recording is refused unless this is true (--force)


@dataclass
class ModelConfig:
    """A training run (``rfpose train``) that deploys on its own; ``runtime`` torch | onnx | auto."""

    run: str = ""
    runtime: str = "torch"
    threads: int = 1  # the model's torch / ONNX Runtime threads; the voxel stage uses every core before the model runs
    min_score: float = 0.3  # skeletons below this score are not detections …
    sustain_score: float | None = None  # … except that those scored at least this keep a person already
    # tracked (a person lying still scores lower than one standing) and never start one; None: off
    max_people: int = 5


@dataclass
class ClustersConfig:
    """People as clusters of radar points, what the monitor tracks without a trained run: a device's point
    clouds (the demo firmware over UART), or CFAR points computed from raw ADC frames."""

    eps_m: float = 0.5  # DBSCAN neighbourhood on x, y and z × z_weight (people are tall and narrow)
    z_weight: float = 0.5
    min_points: int = 4
    frames: int = 0  # points pooled over this many frames before clustering; 0: 1 for a device's clouds, 5 for
    # CFAR points from raw ADC (a few points a frame, none from a person standing still after clutter removal)
    top_percentile: float = 95.0  # a cluster's top: this percentile of its points' heights (outliers above)
    lying_link_m: float = 1.0  # clusters whose tops are below lying_top_m and whose points come this close on the
    # floor plan are one person lying (still hips and thighs give no points between the moving ends); 0: off
    lying_top_m: float = 0.8
    cfar_threshold_db: float = 8.0  # raw ADC: the CFAR detection threshold (chosen on sim-falls-v1's validation subjects)
    minor_motion_db: float = 15.0  # raw ADC: also points where the scene changed since an earlier frame (people
    # sitting or lying still, who give no Doppler), this many dB over its noise; 0: off. Clusters of such points
    # alone keep a person's track alive but never start one (chosen on sim-falls-v1's validation subjects)
    minor_motion_lag_s: float = 0.3  # raw ADC: the minor-motion change is against the frame this long before (at
    # least one frame): breathing's displacement between frames 0.1 s apart vanishes twice a breath, 0.3 s apart
    # far less often; 0.5 s also sees the shadows a moving person casts on the clutter (chosen on sim-falls-v1's
    # validation subjects with and without the simulator's breathing model)


@dataclass
class RadarMount:
    """The radar's pose in the room frame: position (height above the floor), yaw about z and a downward
    tilt (degrees, positive looking down)."""

    x_m: float = 0.0
    y_m: float = 0.0
    height_m: float = 1.2
    yaw_deg: float = 0.0
    tilt_deg: float = 0.0


@dataclass
class RoomConfig:
    radar: RadarMount = field(default_factory=RadarMount)
    boundary: list[list[float]] = field(default_factory=list)  # optional polygon [[x, y], …]; outside = ghost


@dataclass
class ZoneConfig:
    """A polygon in the room frame (x, y in metres). ``exclusion`` zones drop every detection inside them
    (a fan, a curtain, a mirror's reflection)."""

    name: str = ""
    polygon: list[list[float]] = field(default_factory=list)
    exclusion: bool = False


@dataclass
class TrackingConfig:
    gate_m: float = 0.9  # a detection farther than this from a track's prediction is not assigned to it
    birth_gate_m: float = 0.5  # … from a tentative track's (sporadic noise rarely lands 4 times in 0.5 m)
    weak_cost_m: float = 0.5  # a weak detection (a low-scored skeleton, a cluster without Doppler) counts this much
    # farther from a track when assigned, so the person's own detection wins over what their body shadows
    birth_hits: int = 4  # detections needed within birth_window_s to confirm a track
    birth_window_s: float = 0.6
    birth_motion_m: float = 0.25  # a new track must move this much (people walk in; curtains and fans sway) …
    birth_static_s: float = 3.0  # … within this time, or it is static clutter and dropped
    birth_score: float = 0.6  # … unless its last birth_hits detections are skeletons of a pose model scored at
    # least this (a model trained on empty rooms scores nobody low: a person who stands still); > 1 disables
    birth_doppler_s: float = 0.0  # … or, > 0, when every detection showed motion (Doppler) for this long (a
    # person waving in place; a fan too, so give fans an exclusion zone); 0: never
    clutter_memory_s: float = 60.0  # births near static clutter are suppressed until it was unseen this long
    clutter_radius_m: float = 0.4
    death_s: float = 2.0  # a confirmed track without detections for this long is deleted (it coasts until then)
    floor_death_s: float = 0.0  # 0: off; else how long a confirmed track whose top was last below floor_top_m
    floor_top_m: float = 0.6  # lives without detections (someone lying still on the floor gives no Doppler)
    merge_m: float = 0.35  # a new detection this close to a confirmed track is a duplicate, not a person
    lying_merge_m: float = 1.2  # a confirmed track coasting with its top below floor_top_m this close to one
    # detected now, also that low, is the same person lying (another part of their body): one track; 0: off
    origin_radius_m: float = 0.3  # detections this close to the sensor are phantoms (reset targets)
    min_z_m: float = 0.0  # a person's pelvis / centroid is between these heights above the floor: below is a
    max_z_m: float = 1.6  # floor-bounce ghost, above a ceiling fan or a lamp
    process_noise: float = 1.0  # acceleration noise, m/s²
    measurement_noise_m: float = 0.12


FALL_HEIGHTS = ("head", "torso")


@dataclass
class EventsConfig:
    presence_off_s: float = 3.0  # a zone is empty after no confirmed track was in it for this long
    posture_window_s: float = 0.6  # posture is the majority over this window
    fall_height: str = "head"  # the height the fall rule reads: "head", or "torso" (mean of pelvis, thorax,
    # shoulders and head: a pose model's single joint is noisier); a point cluster's is always its top
    head_median_s: float = 0.0  # the fall rule reads that height's median over this window (0: each frame's)
    fall_drop_m: float = 0.6  # a fall: the head drops at least this much …
    fall_window_s: float = 1.5  # … within this time …
    fall_speed_mps: float = 1.5  # … descending at least this fast at its fastest (falls: 2-3.5 m/s) …
    floor_height_m: float = 0.65  # … and then stays below this head height (a bed's is higher) …
    fall_confirm_s: float = 2.0  # … for this long; then the alarm fires
    slow_fall_window_s: float = 10.0  # the same drop to the floor, slowly (sliding off a chair) …
    slow_fall_confirm_s: float = 4.0  # … alarms after this long on the floor
    still_fall_s: float = 0.0  # 0: off; else a fall is also a descent (fall_drop_m at fall_speed_mps) to a height
    still_floor_m: float = 0.8  # below this, then no detection at all for still_fall_s (someone lying still after
    # a fall gives no Doppler, so point clusters stop; the last points, pooled from the descent, sit above the floor)
    fall_centre_m: float = 0.0  # 0: off; else a fall alarms only while the person's centre (the pelvis, a cluster's
    # centroid) is below this height
    seen_within_s: float = 0.0  # 0: off; else a fall alarms only while its person was detected within this long
    # (a fall candidate of a lost track waits): with minor-motion points someone lying still stays in view
    recover_s: float = 3.0  # the alarm clears after the person stands this long
    inactivity_s: float = 900.0  # a person who moves less than inactivity_radius_m for this long
    inactivity_radius_m: float = 0.3


@dataclass
class MqttConfig:
    host: str = ""  # empty: no MQTT
    port: int = 1883
    username: str = ""
    password_file: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    client_id: str = ""
    topic_prefix: str = ""  # default rfpose/<device id>
    discovery_prefix: str = "homeassistant"
    discovery: bool = True
    skeletons: bool = False  # publish tracked skeletons (JSON) on <prefix>/skeletons
    person_slots: int = 3  # posture entities person_1 … person_N
    keepalive_s: int = 30
    reconnect_max_s: float = 8.0


@dataclass
class WebConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8765
    token_file: str = ""  # required when enabled; created (mode 600) with a random token if missing
    rate_hz: float = 10.0  # pushes to browsers at most this often


@dataclass
class MonitorConfig:
    device_id: str = "room"
    name: str = "Room monitor"
    source: SourceConfig = field(default_factory=SourceConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    clusters: ClustersConfig = field(default_factory=ClustersConfig)
    room: RoomConfig = field(default_factory=RoomConfig)
    zones: list[ZoneConfig] = field(default_factory=list)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    web: WebConfig = field(default_factory=WebConfig)
    event_log: str = "monitor-events.sqlite"  # relative paths are relative to the config file

    @property
    def topic_prefix(self) -> str:
        return self.mqtt.topic_prefix or f"rfpose/{self.device_id}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------- loading
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")


def _split_key(k: str) -> tuple[str, ...]:
    return tuple(p.strip().strip("\"'") for p in re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", k))


def key_lines(text: str) -> dict[tuple, int]:
    """1-based line of every table header and key, by path; arrays of tables are indexed
    (``("zones", 0, "name")``). Good enough for the files people write; multi-line values are skipped."""
    lines: dict[tuple, int] = {}
    table: tuple = ()
    counts: dict[tuple, int] = {}
    depth = 0  # open brackets of a multi-line array value
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.split("#", 1)[0] if '"' not in line and "'" not in line else line
        if depth:
            depth += stripped.count("[") - stripped.count("]")
            continue
        m = _HEADER.match(line)
        if m and m.group(1) in ("[", "[["):
            path = _split_key(m.group(2))
            if m.group(1) == "[[":
                i = counts.get(path, 0)
                counts[path] = i + 1
                table = path + (i,)
            else:
                table = path
            lines.setdefault(table, n)
            continue
        m = _KEY.match(line)
        if m:
            lines.setdefault(table + _split_key(m.group(1)), n)
            rest = stripped[m.end():]
            depth = max(0, rest.count("[") - rest.count("]"))
    return lines


class _Reader:
    def __init__(self, path: str, lines: dict[tuple, int]):
        self.path, self.lines = path, lines

    def error(self, where: tuple, message: str) -> ConfigError:
        key = where
        while key and key not in self.lines:
            key = key[:-1]
        name = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in where).replace(".[", "[")
        return ConfigError(f"{name}: {message}" if name else message, self.path, self.lines.get(key))

    def build(self, cls, data, where: tuple):
        if not isinstance(data, dict):
            raise self.error(where, f"expected a table, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in data.items():
            if key not in names:
                raise self.error(where + (key,), f"unknown key; valid keys: {', '.join(sorted(names))}")
            kwargs[key] = self.value(hints[key], value, where + (key,))
        return cls(**kwargs)

    def value(self, tp, value, where: tuple):
        origin = typing.get_origin(tp)
        if dataclasses.is_dataclass(tp):
            return self.build(tp, value, where)
        if origin is list:
            if not isinstance(value, list):
                raise self.error(where, f"expected an array, got {_tname(value)}")
            (item,) = typing.get_args(tp)
            return [self.value(item, v, where + (i,)) for i, v in enumerate(value)]
        if origin in (typing.Union, types.UnionType):
            return value
        if tp is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.error(where, f"expected a number, got {_tname(value)}")
            return float(value)
        if tp is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.error(where, f"expected an integer, got {_tname(value)}")
            return value
        if tp is bool:
            if not isinstance(value, bool):
                raise self.error(where, f"expected true or false, got {_tname(value)}")
            return value
        if tp is str:
            if not isinstance(value, str):
                raise self.error(where, f"expected a string, got {_tname(value)}")
            return value
        raise TypeError(f"config field type {tp} not handled")  # a programming error, not a user's


def _tname(v) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(v), type(v).__name__)


def _read(text: str, path: str) -> tuple[MonitorConfig, _Reader]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column \d+\)", str(e))
        reason = re.sub(r" ?\(at line.*", "", str(e))
        raise ConfigError(f"not valid TOML: {reason}", path, int(m.group(1)) if m else None) from None
    reader = _Reader(path, key_lines(text))
    return reader.build(MonitorConfig, data, ()), reader


def parse_config(text: str, path: str = "<monitor.toml>", base_dir: Path | None = None) -> MonitorConfig:
    """Parse and validate ``monitor.toml`` text; relative file paths resolve against ``base_dir``."""
    cfg, reader = _read(text, path)
    validate(cfg, reader)
    if base_dir is not None:
        _resolve_paths(cfg, base_dir)
    return cfg


def load_config(path: str | Path) -> MonitorConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read the monitor config ({e.strerror})", str(p)) from None
    return parse_config(text, str(p), p.parent)


def load_zones(path: str | Path) -> list[ZoneConfig]:
    """A zones file: ``[[zones]]`` tables as in ``monitor.toml``; → the validated zones."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read the zones file ({e.strerror})", str(p)) from None
    cfg, reader = _read(text, str(p))
    if not cfg.zones:
        raise ConfigError("no [[zones]] in the zones file", str(p))
    _validate_zones(cfg.zones, reader)
    return cfg.zones


def _resolve_paths(cfg: MonitorConfig, base: Path) -> None:
    def res(s: str) -> str:
        return s if not s or Path(s).is_absolute() else str(base / s)

    cfg.model.run = res(cfg.model.run)
    cfg.event_log = res(cfg.event_log)
    cfg.source.record = res(cfg.source.record)
    cfg.web.token_file = res(cfg.web.token_file)
    for attr in ("password_file", "ca_file", "cert_file", "key_file"):
        setattr(cfg.mqtt, attr, res(getattr(cfg.mqtt, attr)))


def check_radar_only(uri: str) -> None:
    """Refuse camera and LiDAR sources before anything is opened."""
    scheme = urlsplit(uri).scheme.lower() if "://" in uri else ""
    suffix = Path(uri.partition("#")[0]).suffix.lower()
    what = REFUSED_SCHEMES.get(scheme) or ("a video file" if suffix in (".mp4", ".avi", ".mkv", ".mov", ".webm")
                                            else "a LiDAR capture" if suffix in (".pcap", ".osf") else None)
    if what:
        raise ConfigError(f"source {uri!r} is {what}; the room monitor reads radar only "
                          "(dca1000://, uart://, session://…#radar, sim://, adc://)")


def _polygon(reader: _Reader, poly: list, where: tuple) -> None:
    if len(poly) < 3:
        raise reader.error(where, f"a polygon needs at least 3 [x, y] points, got {len(poly)}")
    for i, pt in enumerate(poly):
        if len(pt) != 2:
            raise reader.error(where + (i,), f"a polygon point is [x, y] in metres, got {pt}")


def _validate_zones(zones: list[ZoneConfig], reader: _Reader) -> None:
    names = set()
    for i, z in enumerate(zones):
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", z.name):
            raise reader.error(("zones", i, "name"), "a zone needs a name of 1-32 letters, digits, '_' or '-'")
        if z.name in names:
            raise reader.error(("zones", i, "name"), f"zone {z.name!r} is defined twice")
        names.add(z.name)
        _polygon(reader, z.polygon, ("zones", i, "polygon"))


def validate(cfg: MonitorConfig, reader: _Reader | None = None) -> None:
    reader = reader or _Reader(None, {})
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", cfg.device_id):
        raise reader.error(("device_id",), "use 1-64 letters, digits, '_' or '-' (it names MQTT topics)")
    if not cfg.source.uri:
        raise reader.error(("source",), "source.uri is required (a radar source URI)")
    try:
        check_radar_only(cfg.source.uri)
    except ConfigError as e:
        raise reader.error(("source", "uri"), e.reason) from None
    positive = [("source", "stale_s"), ("source", "reconnect_min_s"), ("source", "reconnect_max_s"),
                ("tracking", "gate_m"), ("tracking", "birth_gate_m"), ("tracking", "birth_window_s"), ("tracking", "death_s"),
                ("tracking", "measurement_noise_m"), ("tracking", "process_noise"),
                ("events", "fall_window_s"), ("events", "slow_fall_window_s"), ("events", "fall_drop_m"), ("events", "posture_window_s"),
                ("events", "inactivity_s"), ("web", "rate_hz"), ("clusters", "eps_m"), ("clusters", "z_weight")]
    for sec, key in positive:
        if getattr(getattr(cfg, sec), key) <= 0:
            raise reader.error((sec, key), "must be positive")
    nonneg = [("tracking", "birth_motion_m"), ("tracking", "birth_doppler_s"), ("tracking", "origin_radius_m"),
              ("events", "fall_confirm_s"),
              ("events", "slow_fall_confirm_s"), ("events", "head_median_s"),
              ("events", "presence_off_s"), ("tracking", "merge_m"), ("tracking", "lying_merge_m"),
              ("tracking", "floor_death_s"), ("tracking", "weak_cost_m"),
              ("tracking", "floor_top_m"), ("events", "still_fall_s"), ("events", "still_floor_m"),
              ("events", "fall_centre_m"), ("events", "seen_within_s"), ("clusters", "minor_motion_db"),
              ("clusters", "minor_motion_lag_s"), ("clusters", "lying_link_m"), ("clusters", "lying_top_m")]
    for sec, key in nonneg:
        if getattr(getattr(cfg, sec), key) < 0:
            raise reader.error((sec, key), "must not be negative")
    if cfg.events.fall_height not in FALL_HEIGHTS:
        raise reader.error(("events", "fall_height"), f"expected one of {', '.join(FALL_HEIGHTS)}, "
                                                      f"got {cfg.events.fall_height!r}")
    if cfg.tracking.birth_score < 0:
        raise reader.error(("tracking", "birth_score"), "must not be negative")
    sustain = cfg.model.sustain_score
    if sustain is not None and (isinstance(sustain, bool) or not isinstance(sustain, (int, float)) or sustain < 0):
        raise reader.error(("model", "sustain_score"), f"must be a number ≥ 0, got {sustain!r}")
    if cfg.tracking.birth_doppler_s >= cfg.tracking.birth_static_s:
        raise reader.error(("tracking", "birth_doppler_s"), "must be below tracking.birth_static_s (a tentative track "
                                                            "that stays put that long is dropped as clutter)")
    if cfg.tracking.birth_hits < 1:
        raise reader.error(("tracking", "birth_hits"), "must be at least 1")
    if cfg.tracking.max_z_m <= cfg.tracking.min_z_m:
        raise reader.error(("tracking", "max_z_m"), "must be above tracking.min_z_m")
    if cfg.clusters.min_points < 1:
        raise reader.error(("clusters", "min_points"), "must be at least 1")
    if cfg.clusters.frames < 0:
        raise reader.error(("clusters", "frames"), "must not be negative (0: chosen by the source)")
    if not 0 < cfg.clusters.top_percentile <= 100:
        raise reader.error(("clusters", "top_percentile"), "must be in (0, 100]")
    if cfg.source.queue_frames < 1:
        raise reader.error(("source", "queue_frames"), "must be at least 1")
    if cfg.model.runtime not in ("torch", "onnx", "auto"):
        raise reader.error(("model", "runtime"), f"expected torch, onnx or auto, got {cfg.model.runtime!r}")
    if cfg.room.boundary:
        _polygon(reader, cfg.room.boundary, ("room", "boundary"))
    _validate_zones(cfg.zones, reader)
    for sec, key in (("mqtt", "port"), ("web", "port")):
        if not 0 <= getattr(getattr(cfg, sec), key) <= 65535:
            raise reader.error((sec, key), "not a TCP port")
    if cfg.mqtt.host and not 1 <= cfg.mqtt.person_slots <= 16:
        raise reader.error(("mqtt", "person_slots"), "must be 1-16")
    if cfg.mqtt.password_file and not cfg.mqtt.username:
        raise reader.error(("mqtt", "password_file"), "a password needs mqtt.username")
    if cfg.web.enabled and not cfg.web.token_file:
        raise reader.error(("web", "token_file"), "the web page needs a token file (every endpoint is authenticated)")
