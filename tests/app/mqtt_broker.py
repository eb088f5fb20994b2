"""A real mosquitto for the monitor tests: Debian's broker on 127.0.0.1 at a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto -c CONF on 127.0.0.1:port; :meth:`stop` / :meth:`start` keep the port (a broker restart)."""

    def __init__(self, workdir: Path):
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(exe):
            if os.environ.get("CI"):
                pytest.fail("mosquitto is required in CI (make test installs it with .ci/ensure-mosquitto)")
            pytest.skip("mosquitto not installed (apt-get install mosquitto)")
        self.exe, self.port = exe, free_port()
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                             "log_dest none\n")
        self.proc = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
