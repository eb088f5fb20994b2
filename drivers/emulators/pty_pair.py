"""A raw pty pair: the emulator keeps the master, the driver opens the slave path like any serial port."""

from __future__ import annotations

import os
import select
import tty


class PtyPair:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        self.path = os.ttyname(self.slave)

    def read(self, timeout_s: float = 0.1, size: int = 4096) -> bytes:
        """Bytes written by the driver, or b"" after ``timeout_s``."""
        r, _, _ = select.select([self.master], [], [], timeout_s)
        if not r:
            return b""
        try:
            return os.read(self.master, size)
        except OSError:  # the slave side hung up
            return b""

    def write(self, data: bytes, timeout_s: float = 2.0) -> bool:
        """Write all of ``data``; False if nobody read it within ``timeout_s`` (the rest is dropped, as
        a UART with nobody listening would)."""
        import time

        view = memoryview(data)
        deadline = time.monotonic() + timeout_s
        while view:
            _, w, _ = select.select([], [self.master], [], 0.1)
            if not w:
                if time.monotonic() > deadline:
                    return False
                continue
            try:
                n = os.write(self.master, view)
            except OSError:
                return False
            view = view[n:]
        return True

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
