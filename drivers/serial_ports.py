"""Finding a TI mmWave board's two serial ports (CLI and data) among the host's ports.

XDS110 (``0451:bef3``) boards show "Application/User UART" (CLI) and "Auxiliary Data Port" (data);
CP2105 (``10c4:ea70``) boards show "Enhanced Com Port" (CLI) and "Standard Com Port" (data). The two
ports of one board share a USB serial number. :func:`match_radar_ports` is pure logic over records with
the attributes of ``serial.tools.list_ports_common.ListPortInfo``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rfpose.errors import DeviceError

#: (vid, pid) -> (bridge name, CLI interface marker, data interface marker)
USB_BRIDGES = {
    (0x0451, 0xBEF3): ("XDS110", "application/user uart", "auxiliary data port"),
    (0x10C4, 0xEA70): ("CP2105", "enhanced", "standard"),
}


@dataclass(frozen=True)
class RadarPorts:
    cli: str
    data: str | None
    serial_number: str | None
    bridge: str


def _role(info, markers: tuple[str, str]) -> str | None:
    text = " ".join(str(getattr(info, a, "") or "") for a in ("interface", "description")).lower()
    if markers[0] in text:
        return "cli"
    if markers[1] in text:
        return "data"
    return None


def match_radar_ports(ports: Iterable) -> list[RadarPorts]:
    """Group the ports of TI radar boards by serial number; one :class:`RadarPorts` per board that has
    a CLI port, sorted by CLI device path."""
    boards: dict[tuple[str, str | None], dict] = {}
    for info in ports:
        key = (getattr(info, "vid", None), getattr(info, "pid", None))
        if key not in USB_BRIDGES:
            continue
        bridge, *markers = USB_BRIDGES[key]
        role = _role(info, tuple(markers))
        if role is None:
            continue
        entry = boards.setdefault((bridge, getattr(info, "serial_number", None)), {})
        entry.setdefault(role, info.device)
    found = [RadarPorts(e["cli"], e.get("data"), sn, bridge) for (bridge, sn), e in boards.items() if "cli" in e]
    return sorted(found, key=lambda p: p.cli)


def find_radar_ports(serial_number: str | None = None) -> RadarPorts:
    """The ports of the one attached board (or the one with ``serial_number``).

    Raises :class:`DeviceError` when none or several match.
    """
    from serial.tools import list_ports

    found = match_radar_ports(list_ports.comports())
    if serial_number is not None:
        found = [p for p in found if p.serial_number == serial_number]
    if not found:
        raise DeviceError("no TI mmWave board found (looked for XDS110 0451:bef3 and CP2105 10c4:ea70 ports"
                          + (f" with serial number {serial_number}" if serial_number else "")
                          + "); pass the ports explicitly")
    if len(found) > 1:
        listing = ", ".join(f"{p.cli} (serial {p.serial_number})" for p in found)
        raise DeviceError(f"several TI mmWave boards found: {listing}; choose one by serial number or port")
    return found[0]
