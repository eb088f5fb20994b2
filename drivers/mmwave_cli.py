"""The TI mmWave SDK demo's command line over the CLI UART (115200 8N1).

Each command is sent as ``line\\n``; the firmware echoes it, prints messages, then ``Done``,
``Error <n>``, ``Skipped`` (``%`` lines) or ``'<cmd>' is not recognized as a CLI command`` and the
prompt ``mmwDemo:/>``. :func:`classify_reply` is the pure rule; :class:`MmwaveCli` is the serial layer.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from rfpose.errors import DeviceError, DeviceTimeout

log = logging.getLogger(__name__)

PROMPT = b"mmwDemo:/>"
CLI_BAUD = 115200
DATA_BAUD = 921600
_ERROR = re.compile(r"^Error\b\s*(-?\d+)?")


class CliCommandError(DeviceError):
    """The board rejected a command. ``line_number`` and ``line`` locate it in the .cfg (if any);
    ``applied`` lists the lines that were accepted before it."""

    def __init__(self, message: str, *, command: str, reply: str, line_number: int | None = None,
                 applied: list[str] | None = None):
        self.command, self.reply, self.line_number, self.applied = command, reply, line_number, applied or []
        super().__init__(message)


@dataclass(frozen=True)
class CliReply:
    """The firmware's answer to one command: ``status`` is ``done``, ``skipped``, ``ignored`` (a warning,
    still success), ``error``, ``unknown`` (not a command) or ``unexpected``; ``lines`` is the text
    without the echo and the prompt."""

    status: str
    lines: tuple[str, ...]
    code: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("done", "skipped", "ignored")

    @property
    def text(self) -> str:
        return " | ".join(self.lines)


def classify_reply(command: str, raw: str) -> CliReply:
    """Classify the text the firmware printed for ``command`` (everything before the prompt)."""
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", raw)]
    lines = [ln for ln in lines if ln]
    if lines and lines[0] == command.strip():
        lines = lines[1:]  # the echo
    lines_t = tuple(lines)
    if any("is not recognized as a CLI command" in ln for ln in lines):
        return CliReply("unknown", lines_t)
    errors = [_ERROR.match(ln) for ln in lines]
    errors = [m for m in errors if m]
    if errors:
        codes = [int(m.group(1)) for m in errors if m.group(1)]
        return CliReply("error", lines_t, codes[-1] if codes else None)
    if not lines:
        return CliReply("unexpected", lines_t)
    last = lines[-1]
    others = lines[:-1]
    if last == "Done":
        if any(ln.startswith("Ignored") for ln in others):
            return CliReply("ignored", lines_t)
        # Informational lines before Done (Debug: ..., sensor status) are fine.
        return CliReply("done", lines_t)
    if last == "Skipped":
        return CliReply("skipped", lines_t)
    if last.startswith("Ignored"):
        return CliReply("ignored", lines_t)
    return CliReply("unexpected", lines_t)


class MmwaveCli:
    """The CLI port of one board.

    Args:
        port: serial device path (see :func:`rfpose.drivers.serial_ports.find_radar_ports`).
        timeout_s: how long a command may take to reach the prompt.
    """

    def __init__(self, port: str, *, baudrate: int = CLI_BAUD, timeout_s: float = 2.0, exclusive: bool = True):
        import serial

        self.port, self.timeout_s = port, timeout_s
        try:
            self.serial = serial.Serial(port, baudrate, timeout=0.05, exclusive=exclusive)
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"cannot open radar CLI port {port}: {e}") from None
        self.serial.reset_input_buffer()

    def close(self) -> None:
        self.serial.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _io(self, fn, *args):
        """One serial call; the port vanishing (unplug, a closed pty) is a :class:`DeviceError`."""
        import serial

        try:
            return fn(*args)
        except (OSError, serial.SerialException, TypeError) as e:  # pyserial raises TypeError on a closed fd
            raise DeviceError(f"radar CLI port {self.port} failed ({e}); was the board unplugged?") from None

    def _read_to_prompt(self, command: str, timeout_s: float) -> str:
        buf = bytearray()
        deadline = time.monotonic() + timeout_s
        while True:
            chunk = self._io(lambda: self.serial.read(max(1, self.serial.in_waiting)))
            if chunk:
                buf += chunk
                idx = buf.find(PROMPT)
                if idx >= 0:
                    return buf[:idx].decode("ascii", "replace")
            elif time.monotonic() > deadline:
                got = buf.decode("ascii", "replace").strip()
                raise DeviceTimeout(f"radar CLI on {self.port} did not answer {command!r} within {timeout_s:g} s"
                                    + (f" (got {got[-80:]!r})" if got else " (no reply)"))

    def send(self, command: str, timeout_s: float | None = None) -> CliReply:
        """Send one command and return its classified reply (no exception for a rejected command)."""
        command = command.strip()
        self._io(self.serial.write, command.encode("ascii") + b"\n")
        self._io(self.serial.flush)
        raw = self._read_to_prompt(command, self.timeout_s if timeout_s is None else timeout_s)
        reply = classify_reply(command, raw)
        if reply.status == "ignored":
            log.warning("radar CLI %s: %r -> %s", self.port, command, reply.text)
        else:
            log.debug("radar CLI %s: %r -> %s", self.port, command, reply.text)
        return reply

    def run(self, command: str, *, line_number: int | None = None, applied: list[str] | None = None,
            timeout_s: float | None = None) -> CliReply:
        """Send one command; raise :class:`CliCommandError` unless it succeeded."""
        reply = self.send(command, timeout_s)
        if not reply.ok:
            where = f"line {line_number}: " if line_number else ""
            what = {"error": f"failed with Error {reply.code}" if reply.code is not None else "failed",
                    "unknown": "is not a command this firmware knows",
                    "unexpected": "got an unexpected reply"}[reply.status]
            done = f"; {len(applied)} earlier lines were applied" if applied is not None else ""
            raise CliCommandError(f"radar CLI {self.port}: {where}{command!r} {what}: {reply.text or '(empty)'}{done}",
                                  command=command, reply=reply.text, line_number=line_number, applied=applied)
        return reply

    def configure(self, cfg, *, start: bool = False) -> list[str]:
        """Send every command of a :class:`~rfpose.radar_config.RadarConfig` in order (``sensorStart``
        only when ``start``). Returns the lines applied. Any failure stops and raises, naming the line."""
        from rfpose.radar_config import Command, RawCommand, SensorStart

        applied: list[str] = []
        for e in cfg.entries:
            if not isinstance(e, (Command, RawCommand)):
                continue
            if isinstance(e, SensorStart) and not start:
                continue
            line = e.to_line()
            self.run(line, line_number=e.line or None, applied=applied)
            applied.append(line)
        return applied

    def sensor_stop(self) -> CliReply:
        return self.run("sensorStop")

    def sensor_start(self, reconfigure: bool | None = None) -> CliReply:
        # The first start after a configuration has no argument; "sensorStart 0" restarts without reconfig.
        return self.run("sensorStart" if reconfigure is None else f"sensorStart {int(reconfigure)}", timeout_s=max(self.timeout_s, 5.0))
