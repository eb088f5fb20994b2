"""Rig files: the sensors of a recording rig in TOML (documented in docs/capture.md).

::

    [rig]
    name = "lab"
    emulate = false            # true: start the device emulators in-process (no hardware)

    [[sensors]]
    name = "radar"             # stream name in the session
    kind = "radar"             # radar | radar_points | lidar | camera
    driver = "dca1000"         # radar: dca1000 (default); otherwise give `uri`
    board = "awr1843boost"
    cfg = "awr1843boost.cfg"   # relative to the rig file, or a preset shipped in rfpose/configs
    host_ip = "192.168.33.30"
    fpga_ip = "192.168.33.180"
    fpga_port = 1024           # the port the FPGA sends from; datagrams from elsewhere are counted and skipped
    cli_port = "auto"          # or /dev/ttyACM0; omit if something else starts the radar
    packet_delay_us = 25
    extrinsics = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]   # T_rig_sensor

    [[sensors]]
    name = "points"
    kind = "radar_points"      # the SDK demo firmware's point clouds (TLV on the data UART)
    board = "iwr6843isk"
    cfg = "iwr6843isk.cfg"     # sent over the CLI when cli_port is set (default: the board's preset)
    cli_port = "auto"          # or /dev/ttyUSB0
    data_port = "auto"         # or /dev/ttyUSB1

    [[sensors]]
    name = "cam"
    kind = "camera"
    uri = "camera://0"
    intrinsics = [[600, 0, 320], [0, 600, 240], [0, 0, 1]]
    trigger = "stereo"         # sensors on one hardware trigger share a name: calibrated with one clock offset
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from rfpose.errors import ConfigError

KINDS = ("radar", "radar_points", "lidar", "camera")


@dataclass
class EmulationConfig:
    """What an emulated radar streams and how the link misbehaves (``emulate = true`` only)."""

    adc: str = "counter"          # radar: counter | random | PATH.bin | a source URI (sim://…, session://…#radar)
    seed: int = 0
    loss_rate: float = 0.0        # radar: DCA1000 data packets
    duplicate_rate: float = 0.0   # radar
    reorder_rate: float = 0.0     # radar
    corrupt_rate: float = 0.0     # radar: DCA1000 data packets; radar_points: TLV packets
    points: str = "walking"       # radar_points: walking (circling targets) | sim://SCENARIO[?people=N]
    targets: int = 3              # radar_points with points = "walking"
    garbage_rate: float = 0.0     # radar_points: probability of random bytes before a TLV packet
    preload: bool = False         # radar: produce every frame of a finite adc source before the board starts, so
                                  # a simulator slower than real time (a loaded machine) never delays a frame


#: Emulation keys that apply to one sensor kind only (a key of the other kind is a mistake worth reporting).
_EMULATION_ONLY = {"radar": ("adc", "loss_rate", "duplicate_rate", "reorder_rate", "preload"),
                   "radar_points": ("points", "targets", "garbage_rate")}


@dataclass
class SensorConfig:
    name: str
    kind: str
    driver: str = ""
    uri: str = ""
    board: str = ""
    cfg: str = ""
    host_ip: str = "192.168.33.30"
    fpga_ip: str = "192.168.33.180"
    fpga_port: int = 1024
    cli_port: str = ""
    data_port: str = ""
    packet_delay_us: float = 25.0
    extrinsics: list | None = None
    intrinsics: list | None = None
    distortion: list | None = None
    trigger: str = ""
    emulation: EmulationConfig = field(default_factory=EmulationConfig)


@dataclass
class RigConfig:
    name: str
    sensors: list[SensorConfig]
    emulate: bool = False
    path: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "list | None": (list, type(None))}
_TYPE_NAMES = {"str": "a string", "int": "a whole number", "float": "a number", "bool": "true or false",
               "list | None": "a list"}


def _check_keys(table, cls, where: str, path: str) -> None:
    """Unknown keys and values of the wrong type are errors naming the key (TOML gives typed values)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, got {type(table).__name__} {table!r:.40}", path)
    types = {f.name: f.type for f in fields(cls)}
    unknown = sorted(set(table) - set(types))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(types))}", path)
    for key, value in table.items():
        ok = _TYPES.get(types[key])
        if ok is None:
            continue
        if not isinstance(value, ok) or (isinstance(value, bool) and bool not in ok):
            raise ConfigError(f"{where}: {key} = {value!r:.40} must be {_TYPE_NAMES[types[key]]}", path)


def _check_link(sc: SensorConfig, where: str, path: str) -> None:
    import ipaddress

    from rfpose.drivers.dca1000_protocol import MAX_PACKET_DELAY_US, MIN_PACKET_DELAY_US

    for key in ("host_ip", "fpga_ip"):
        try:
            ipaddress.IPv4Address(getattr(sc, key))
        except ValueError:
            raise ConfigError(f"{where}: {key} {getattr(sc, key)!r} is not an IPv4 address", path) from None
    if not 1 <= sc.fpga_port <= 65535:
        raise ConfigError(f"{where}: fpga_port {sc.fpga_port} is not a UDP port (1-65535)", path)
    if not MIN_PACKET_DELAY_US <= sc.packet_delay_us <= MAX_PACKET_DELAY_US:
        raise ConfigError(f"{where}: packet_delay_us {sc.packet_delay_us:g} is outside the DCA1000's "
                          f"[{MIN_PACKET_DELAY_US:g}, {MAX_PACKET_DELAY_US:g}] us", path)


def parse_rig(text: str, path: str = "<rig>", base_dir: Path | None = None) -> RigConfig:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}", path) from None
    rig = doc.get("rig", {})
    if not isinstance(rig, dict):
        raise ConfigError("[rig] must be a table", path)
    if not isinstance(rig.get("name", ""), str) or not isinstance(rig.get("emulate", False), bool):
        raise ConfigError("[rig]: name must be a string and emulate true or false", path)
    unknown_top = sorted(set(doc) - {"rig", "sensors"})
    if unknown_top:
        raise ConfigError(f"unknown table(s) {', '.join(unknown_top)}; a rig file has [rig] and [[sensors]]", path)
    if set(rig) - {"name", "emulate"}:
        raise ConfigError(f"[rig]: unknown key(s) {', '.join(sorted(set(rig) - {'name', 'emulate'}))}; "
                          "valid: emulate, name", path)
    sensors_raw = doc.get("sensors", [])
    if not isinstance(sensors_raw, list) or not sensors_raw:
        raise ConfigError("no [[sensors]] in the rig file", path)
    sensors, names = [], set()
    for i, s in enumerate(sensors_raw):
        where = f"sensors[{i}]"
        if not isinstance(s, dict):
            raise ConfigError(f"{where}: expected a [[sensors]] table, got {s!r:.40}", path)
        s = dict(s)
        emu = s.pop("emulation", {})
        _check_keys(s, SensorConfig, where, path)
        _check_keys(emu, EmulationConfig, f"{where}.emulation", path)
        for req in ("name", "kind"):
            if req not in s:
                raise ConfigError(f"{where}: missing '{req}'", path)
        if s["kind"] not in KINDS:
            raise ConfigError(f"{where} ({s['name']}): kind {s['kind']!r} is not one of {', '.join(KINDS)}", path)
        if s["name"] in names:
            raise ConfigError(f"{where}: sensor name {s['name']!r} used twice", path)
        names.add(s["name"])
        try:
            sc = SensorConfig(**s, emulation=EmulationConfig(**emu))
        except TypeError as e:
            raise ConfigError(f"{where}: {e}", path) from None
        for other, keys in _EMULATION_ONLY.items():
            wrong = sorted(k for k in keys if k in emu and sc.kind != other)
            if wrong:
                raise ConfigError(f"{where}.emulation ({sc.name}): {', '.join(wrong)} only apply to {other} sensors",
                                  path)
        e = sc.emulation
        for key in ("loss_rate", "duplicate_rate", "reorder_rate", "corrupt_rate", "garbage_rate"):
            value = getattr(e, key)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"{where}.emulation ({sc.name}): {key} = {value!r} is not a probability in [0, 1]",
                                  path)
        if not isinstance(e.targets, int) or e.targets < 1:
            raise ConfigError(f"{where}.emulation ({sc.name}): targets = {e.targets!r} must be a whole number >= 1",
                              path)
        if sc.kind == "radar" and not sc.uri:
            sc.driver = sc.driver or "dca1000"
            if sc.driver != "dca1000":
                raise ConfigError(f"{where} ({sc.name}): radar driver {sc.driver!r} is unknown; valid: dca1000", path)
            if not sc.board:
                raise ConfigError(f"{where} ({sc.name}): a dca1000 radar needs 'board'", path)
            _check_link(sc, f"{where} ({sc.name})", path)
        elif sc.kind == "radar_points" and not sc.uri:
            sc.driver = sc.driver or "uart"
            if sc.driver != "uart":
                raise ConfigError(f"{where} ({sc.name}): radar_points driver {sc.driver!r} is unknown; valid: uart "
                                  "(or give 'uri')", path)
            if not sc.board:
                raise ConfigError(f"{where} ({sc.name}): a radar_points sensor needs 'board'", path)
            sc.data_port = sc.data_port or "auto"
        elif not sc.uri:
            raise ConfigError(f"{where} ({sc.name}): give 'uri' (e.g. camera://0, pcd:///dir)", path)
        if sc.kind == "camera" and sc.intrinsics is None and not sc.uri.startswith(("sim://", "session://")):
            # recorded and simulated cameras carry their own camera model; a live one needs it here
            raise ConfigError(f"{where} ({sc.name}): a camera needs 'intrinsics' (3x3)", path)
        if sc.cfg and base_dir is not None and not Path(sc.cfg).is_absolute() and (base_dir / sc.cfg).exists():
            sc.cfg = str(base_dir / sc.cfg)
        sensors.append(sc)
    return RigConfig(name=str(rig.get("name", Path(path).stem)), sensors=sensors, emulate=bool(rig.get("emulate", False)),
                     path=path)


def load_rig(path: str | Path) -> RigConfig:
    p = Path(path)
    if not p.is_file():
        from importlib import resources

        shipped = resources.files("rfpose.configs").joinpath(str(path))
        if shipped.is_file():
            return parse_rig(shipped.read_text(), str(shipped), Path(str(shipped)).parent)
        raise ConfigError("no such rig file", str(p))
    return parse_rig(p.read_text(), str(p), p.parent)
