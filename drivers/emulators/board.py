"""A TI mmWave board's CLI on a pty, following the SDK's ``cli.c`` rules.

Every line is echoed; ``%`` lines answer ``Skipped``; unknown commands ``'<cmd>' is not recognized as a
CLI command``; each command line is parsed with :mod:`rfpose.radar_config` (the same model the host
uses) and a bad one answers ``Error -1``; ``sensorStart`` validates the accumulated configuration
against the board and, when a DCA1000 emulator is attached, starts its stream (the DCA only gets data
while the radar chirps); ``sensorStop`` stops it (``Ignored: Sensor is already stopped`` when stopped).
"""

from __future__ import annotations

import logging
import threading

from rfpose.boards import Board, get_board
from rfpose.drivers.emulators.pty_pair import PtyPair
from rfpose.errors import ConfigError
from rfpose.radar_config import (TYPED_COMMANDS, VERBATIM_COMMANDS, FlushCfg, RadarConfig, SensorStart, SensorStop,
                                 parse_cfg, validate_cfg)

log = logging.getLogger(__name__)

PROMPT = "mmwDemo:/>"


class BoardEmulator:
    """The CLI of one board on a pty; :attr:`path` is the port to give the driver.

    Args:
        board: board name or :class:`~rfpose.boards.Board`.
        dca: optional :class:`~rfpose.drivers.emulators.dca1000.DCA1000Emulator` started by sensorStart.
        silent_after: stop answering after this many commands (for timeout tests).
    """

    def __init__(self, board: str | Board = "awr1843boost", *, dca=None, silent_after: int | None = None):
        self.board = get_board(board) if isinstance(board, str) else board
        self.dca = dca
        self.silent_after = silent_after
        self.pty = PtyPair()
        self.path = self.pty.path
        self.entries: list = []
        self.running = False
        self.received: list[str] = []
        self.params = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="board-emu", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        buf = b""
        while not self._stop.is_set():
            data = self.pty.read(0.1)
            if not data:
                continue
            buf += data
            while True:
                cut = min((i for i in (buf.find(b"\n"), buf.find(b"\r")) if i >= 0), default=-1)
                if cut < 0:
                    break
                line, buf = buf[:cut], buf[cut + 1:]
                text = line.decode("ascii", "replace").strip()
                if not text:
                    continue
                self.received.append(text)
                if self.silent_after is not None and len(self.received) > self.silent_after:
                    continue
                reply = self.handle(text)
                self.pty.write((text + "\n" + reply + PROMPT).encode("ascii"))

    def handle(self, line: str) -> str:
        """The firmware's reply text (after the echo, before the prompt) to one line."""
        if line.startswith("%"):
            return "Skipped\n\r"
        name = line.split()[0]
        if name not in TYPED_COMMANDS and name not in VERBATIM_COMMANDS:
            return f"'{name}' is not recognized as a CLI command\n\r"
        try:
            entry = parse_cfg(line, "<cli>").entries[0]
        except ConfigError as e:
            return f"Error: {e.reason}\n\rError -1\n\r"
        if isinstance(entry, SensorStop):
            if not self.running:
                return "Ignored: Sensor is already stopped\n\rDone\n\r"
            self.running = False
            if self.dca is not None:
                self.dca.radar_stop()
            return "Done\n\r"
        if isinstance(entry, FlushCfg):
            if self.running:
                return "Error: Sensor is running, stop it first\n\rError -1\n\r"
            self.entries = []
            return "Done\n\r"
        if isinstance(entry, SensorStart):
            if self.running:
                return "Ignored: Sensor is already started\n\rDone\n\r"
            try:
                self.params = validate_cfg(RadarConfig(tuple(self.entries), "<cli>"), self.board)
            except ConfigError as e:
                return f"Error: {e.reason}\n\rError -1\n\r"
            self.running = True
            if self.dca is not None:
                p = self.params
                self.dca.radar_start(p.frame_bytes, p.frame_period_s, p.num_frames or None)
            return "Done\n\r"
        if self.running:
            return "Error: Sensor is running, stop it first\n\rError -1\n\r"
        self.entries.append(entry)
        return "Done\n\r"

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        if self.running and self.dca is not None:
            self.dca.radar_stop()
        self.pty.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
