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
    cli_port = "auto"          # or /dev/ttyACM0; omit if something else starts the radar
    packet_delay_us = 25
    extrinsics = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]   # T_rig_sensor

    [[sensors]]
    name = "cam"
    kind = "camera"
    uri = "camera://0"
    intrinsics = [[600, 0, 320], [0, 600, 240], [0, 0, 1]]
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

    adc: str = "counter"          # counter | random | PATH.bin | a source URI (sim://…, session://…#radar)
    seed: int = 0
    loss_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    corrupt_rate: float = 0.0


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
    cli_port: str = ""
    data_port: str = ""
    packet_delay_us: float = 25.0
    extrinsics: list | None = None
    intrinsics: list | None = None
    distortion: list | None = None
    emulation: EmulationConfig = field(default_factory=EmulationConfig)


@dataclass
class RigConfig:
    name: str
    sensors: list[SensorConfig]
    emulate: bool = False
    path: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _check_keys(table: dict, cls, where: str, path: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}", path)


def parse_rig(text: str, path: str = "<rig>", base_dir: Path | None = None) -> RigConfig:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}", path) from None
    rig = doc.get("rig", {})
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
        if sc.kind == "radar" and not sc.uri:
            sc.driver = sc.driver or "dca1000"
            if sc.driver != "dca1000":
                raise ConfigError(f"{where} ({sc.name}): radar driver {sc.driver!r} is unknown; valid: dca1000", path)
            if not sc.board:
                raise ConfigError(f"{where} ({sc.name}): a dca1000 radar needs 'board'", path)
        elif not sc.uri and not (sc.kind == "radar_points" and sc.data_port):
            raise ConfigError(f"{where} ({sc.name}): give 'uri' (e.g. camera://0, pcd:///dir)", path)
        if sc.kind == "camera" and sc.intrinsics is None:
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
